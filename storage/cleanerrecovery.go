package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// recoverCleanerFiles finishes or undoes a cleaner swap a crash
// interrupted (see swapCleaned), before Open lists the segments:
// .cleaned files are deleted; a <base>.log.swap replaces every segment
// whose base offset lies in [base, offset after its last batch), old files
// deleted first, then its index .swap files (those not renamed yet)
// renamed over the old indexes at base and finally the .log.swap renamed
// into place; index .swap files without a .log.swap are deleted.
func (l *Log) recoverCleanerFiles() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: list log dir: %w", err)
	}
	var swaps, bases []int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedSuffix):
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: remove %s: %w", name, err)
			}
		case strings.HasSuffix(name, logSuffix+swapSuffix):
			if base, ok := parseOffsetFileName(strings.TrimSuffix(name, swapSuffix), logSuffix); ok {
				swaps = append(swaps, base)
			}
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseOffsetFileName(name, logSuffix); ok {
				bases = append(bases, base)
			}
		}
	}
	indexSuffixes := []string{indexSuffix, timeIndexSuffix, txnIndexSuffix}
	for _, base := range swaps {
		swapPath := segmentPath(l.dir, base, logSuffix) + swapSuffix
		next, err := nextOffsetOfFile(swapPath, base)
		if err != nil {
			return err
		}
		l.logger.Warn().Int64("base_offset", base).Int64("next_offset", next).Msg("completing an interrupted log cleaner swap")
		for _, b := range bases {
			if b < base || b >= max(next, base+1) {
				continue
			}
			suffixes := append([]string{logSuffix}, indexSuffixes...)
			if b == base {
				// An index without its .swap is the new one, already
				// renamed (a cleaned segment has all three); one with it
				// is replaced by the rename below.
				suffixes = suffixes[:1]
			}
			for _, suf := range suffixes {
				if err := os.Remove(segmentPath(l.dir, b, suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("storage: remove cleaned-over segment: %w", err)
				}
			}
		}
		for _, suf := range indexSuffixes {
			p := segmentPath(l.dir, base, suf)
			if err := os.Rename(p+swapSuffix, p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: rename swap file: %w", err)
			}
		}
		if err := os.Rename(swapPath, segmentPath(l.dir, base, logSuffix)); err != nil {
			return fmt.Errorf("storage: rename swap file: %w", err)
		}
	}
	// Index .swap files whose .log.swap never came (or is now renamed).
	entries, err = os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: list log dir: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), swapSuffix) {
			if err := os.Remove(filepath.Join(l.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: remove %s: %w", e.Name(), err)
			}
		}
	}
	if len(swaps) > 0 {
		return syncDir(l.dir)
	}
	return nil
}

// nextOffsetOfFile is the offset after the last whole batch of a segment
// file (base when it holds none).
func nextOffsetOfFile(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("storage: open swap file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("storage: stat swap file: %w", err)
	}
	next := base
	sc := newBatchScanner(f, 0, st.Size())
	for sc.next() {
		next = sc.hdr.lastOffset() + 1
	}
	sc.release()
	return next, nil
}
