package storage

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// cleanShutdownFile marks a log closed cleanly: every segment and index was
// flushed, so Open can trust the files and skip the full scan.
const cleanShutdownFile = ".kafka_cleanshutdown"

func cleanShutdownPath(dir string) string { return filepath.Join(dir, cleanShutdownFile) }

// load opens the segments in l.dir, recovering what needs it, and derives
// the log start/end offsets and producer state.
func (l *Log) load(now time.Time) error {
	cfg := l.cfg.Load().eff
	if err := l.recoverCleanerFiles(); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: list log dir: %w", err)
	}
	_, statErr := os.Stat(cleanShutdownPath(l.dir))
	clean := statErr == nil

	var bases []int64
	indexFiles := map[int64][]string{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, deletedSuffix):
			// Retired before a restart: the delay does not outlive the process.
			_ = os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, ".tmp"):
			// An interrupted write-temp-then-rename.
			_ = os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseOffsetFileName(name, logSuffix); ok {
				bases = append(bases, base)
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix):
			// indexSuffix also matches ".txnindex".
			for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if base, ok := parseOffsetFileName(name, suf); ok {
					indexFiles[base] = append(indexFiles[base], name)
				}
			}
		}
	}
	slices.Sort(bases)
	for base, names := range indexFiles {
		if _, ok := slices.BinarySearch(bases, base); !ok {
			for _, n := range names {
				_ = os.Remove(filepath.Join(l.dir, n))
			}
		}
	}

	startOffset, haveStart, err := readLogStartOffset(l.dir)
	if err != nil {
		l.logger.Warn().Err(err).Msg("ignoring unreadable log start offset")
		haveStart = false
	}
	fileEpochs, haveEpochs, err := readEpochCheckpoint(l.dir)
	if err != nil {
		l.logger.Warn().Err(err).Msg("unreadable leader epoch checkpoint, rebuilding it from segments")
	}
	// Recovery below folds rescanned batches into a copy, so fileEpochs
	// still says what the file holds.
	l.epochs.entries = slices.Clone(fileEpochs)

	for _, base := range bases {
		_, ierr := os.Stat(segmentPath(l.dir, base, indexSuffix))
		_, terr := os.Stat(segmentPath(l.dir, base, timeIndexSuffix))
		s, err := openSegment(l.dir, base, cfg, false, now)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		missing := ierr != nil || terr != nil
		last := len(l.segments) == len(bases)
		nextBase := int64(math.MaxInt64)
		if !last {
			nextBase = bases[len(l.segments)]
		}
		recover := missing || (last && !clean)
		if !recover {
			if err := l.checkSegment(s, last, nextBase); err != nil {
				l.logger.Warn().Err(err).Int64("base_offset", base).Msg("segment inconsistent, rebuilding indexes")
				recover = true
			}
		}
		if !recover {
			if s.txnIndexTorn {
				l.logger.Warn().Int64("base_offset", base).Msg("torn aborted transaction index, rebuilding it")
				if err := s.txnIndex.reset(); err != nil {
					return err
				}
				s.rebuildTxnIndex = true
			} else if err := s.txnIndex.truncateFrom(s.nextOffset); err != nil {
				return err
			}
			continue
		}
		truncated, err := l.recoverSegment(s, cfg, !last)
		if err != nil {
			return err
		}
		if truncated && !last {
			// Kafka semantics: nothing after a corrupt batch is trusted.
			for _, b := range bases[len(l.segments):] {
				l.logger.Warn().Int64("base_offset", b).Msg("deleting segment after corruption")
				if s, err := openSegment(l.dir, b, cfg, false, now); err == nil {
					_ = s.remove()
				}
			}
			break
		}
	}

	if len(l.segments) == 0 {
		s, err := l.newActiveSegment(max(startOffset, 0), cfg, now)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
	}
	leo := l.segments[len(l.segments)-1].nextOffset
	start := l.segments[0].baseOffset
	if haveStart && startOffset > start {
		start = startOffset
	}
	if start > leo {
		// The persisted start is past the data that survived a crash:
		// start over, empty, at the persisted start (Kafka's
		// truncateFullyAndStartAt).
		l.logger.Warn().Int64("offset", start).Int64("log_end_offset", leo).Msg("log start offset beyond log end, truncating fully")
		for _, s := range l.segments {
			_ = s.remove()
		}
		l.segments = nil
		s, err := openSegment(l.dir, start, cfg, true, now)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		leo = start
		l.epochs.entries = nil // as Kafka's truncateFullyAndStartAt
	}
	l.logStartOffset.Store(start)
	l.logEndOffset.Store(leo)
	n := 0
	for n+1 < len(l.segments) && l.segments[n+1].baseOffset <= start {
		n++
	}
	if err := l.deleteSegments(n, "below log start offset"); err != nil {
		return err
	}
	if err := l.loadEpochs(fileEpochs, haveEpochs, start, leo); err != nil {
		return err
	}
	if err := l.loadProducerState(leo); err != nil {
		return err
	}
	if clean {
		// From here on a crash must trigger recovery again; make the
		// removal durable before anything is appended.
		if err := os.Remove(cleanShutdownPath(l.dir)); err != nil {
			return fmt.Errorf("storage: remove clean shutdown marker: %w", err)
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	return nil
}

// checkSegment trusts a cleanly closed segment after cheap checks and
// fills its in-memory state from the indexes; for the last segment it also
// scans headers after the last index entry to find the log end.
func (l *Log) checkSegment(s *LogSegment, last bool, nextBase int64) error {
	size := s.size.Load()
	if err := s.index.sanityCheck(size); err != nil {
		return err
	}
	from := int64(0)
	if off, pos, ok := s.index.lastEntry(); ok {
		sc := newBatchScanner(s.log, pos, size)
		okHdr := sc.next() && sc.hdr.baseOffset == off
		sc.release()
		if !okHdr {
			return fmt.Errorf("%w: offset index entry (%d, %d) does not start a batch", errIndexCorrupt, off, pos)
		}
		from = pos
	}
	sc := newBatchScanner(s.log, 0, size)
	if sc.next() {
		s.rollingBasedTimestamp = sc.hdr.maxTimestamp
	}
	sc.release()
	if sc.err != nil {
		return sc.err
	}
	ts, tsOff, _ := s.timeIndex.lastEntry()
	s.maxTimestamp, s.offsetOfMaxTimestamp = ts, tsOff
	if last {
		next := s.baseOffset
		sc := newBatchScanner(s.log, from, size)
		for sc.next() {
			next = sc.hdr.lastOffset() + 1
			if sc.hdr.maxTimestamp > s.maxTimestamp {
				s.maxTimestamp, s.offsetOfMaxTimestamp = sc.hdr.maxTimestamp, sc.hdr.baseOffset
			}
		}
		sc.release()
		if sc.err != nil {
			return sc.err
		}
		if size > 0 && next == s.baseOffset {
			return fmt.Errorf("%w: no batch found in a non-empty segment", errIndexCorrupt)
		}
		s.nextOffset = next
		nextBase = next
	} else {
		s.nextOffset = nextBase
	}
	return s.timeIndex.sanityCheck(nextBase)
}

// recoverSegment rebuilds a segment's indexes and state by reading every
// batch and checking its length, magic, CRC and offsets, and truncates the
// file at the first batch that fails. inactive segments get their final
// time index entry and are flushed. It reports whether bytes were cut.
func (l *Log) recoverSegment(s *LogSegment, cfg Config, inactive bool) (bool, error) {
	if err := s.index.file.reset(); err != nil {
		return false, err
	}
	if err := s.timeIndex.file.reset(); err != nil {
		return false, err
	}
	// Rebuilt by the producer state replay, which knows where the aborted
	// transactions began.
	if err := s.txnIndex.reset(); err != nil {
		return false, err
	}
	s.rebuildTxnIndex = true
	s.maxTimestamp, s.offsetOfMaxTimestamp = -1, s.baseOffset
	s.rollingBasedTimestamp = -1
	s.bytesSinceLastIndexEntry = 0

	st, err := s.log.Stat()
	if err != nil {
		return false, fmt.Errorf("storage: stat segment: %w", err)
	}
	fileSize := st.Size()
	br := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, fileSize), 64*1024)
	var hdrBuf [batchHeaderSize]byte
	pos, next := int64(0), s.baseOffset
	var reason string
	for pos < fileSize {
		if fileSize-pos < batchHeaderSize {
			reason = "torn batch header"
			break
		}
		if _, err := io.ReadFull(br, hdrBuf[:]); err != nil {
			return false, fmt.Errorf("storage: recover segment %d: %w", s.baseOffset, err)
		}
		hdr := parseBatchHeader(hdrBuf[:])
		if reason = checkRecoveredHeader(&hdr, pos, fileSize, next, s.baseOffset); reason != "" {
			break
		}
		crc := crc32.Update(0, castagnoli, hdrBuf[offAttributes:])
		for rem := hdr.size() - batchHeaderSize; rem > 0; {
			chunk, err := br.Peek(int(min(rem, int64(br.Size()))))
			if err != nil {
				return false, fmt.Errorf("storage: recover segment %d: %w", s.baseOffset, err)
			}
			crc = crc32.Update(crc, castagnoli, chunk)
			_, _ = br.Discard(len(chunk))
			rem -= int64(len(chunk))
		}
		if crc != hdr.crc {
			reason = "crc mismatch"
			break
		}
		if err := s.track(&hdr, pos, cfg.IndexIntervalBytes); err != nil {
			return false, err
		}
		l.epochs.recoveredBatch(&hdr)
		pos += hdr.size()
		next = hdr.lastOffset() + 1
	}
	truncated := pos < fileSize
	if truncated {
		l.logger.Warn().Int64("base_offset", s.baseOffset).Int64("offset", next).Int64("position", pos).
			Int64("bytes", fileSize-pos).Str("reason", reason).Msg("truncating segment at invalid batch")
		if err := s.log.Truncate(pos); err != nil {
			return false, fmt.Errorf("storage: truncate segment: %w", err)
		}
	}
	s.size.Store(pos)
	s.nextOffset = next
	if inactive {
		if err := s.onBecomeInactive(); err != nil {
			return truncated, err
		}
	} else if err := s.flush(); err != nil {
		return truncated, err
	}
	return truncated, nil
}

// checkRecoveredHeader returns why a batch read back from disk cannot be
// kept, or "" when its header is sound.
func checkRecoveredHeader(h *batchHeader, pos, fileSize, next, base int64) string {
	switch {
	case h.baseOffset == 0 && h.length == 0 && h.magic == 0:
		return "zero-filled tail (preallocated segment)"
	case h.magic != 2:
		return fmt.Sprintf("magic %d", h.magic)
	case h.length < minBatchLength || pos+h.size() > fileSize:
		return fmt.Sprintf("batch length %d", h.length)
	case h.baseOffset < next || h.lastOffsetDelta < 0:
		return fmt.Sprintf("offsets %d+%d after %d", h.baseOffset, h.lastOffsetDelta, next)
	case !checkRelative(base, h.lastOffset()):
		return fmt.Sprintf("offset %d too far from segment base", h.lastOffset())
	}
	return ""
}

// loadProducerState loads the newest usable snapshot at or below the log
// end and replays batch headers after it; without one it replays the whole
// log. Producer fields live in the batch header, so only control batches
// (the markers) are read whole. Segments flagged rebuildTxnIndex get their
// aborted transaction index rebuilt by the replay, which then starts at a
// snapshot no later than the first of them: an abort entry needs the
// first offset of the transaction, known only from the state before it.
// Readers see the first unstable offset of the end result only.
func (l *Log) loadProducerState(leo int64) error {
	l.producers.startLoad()
	defer l.producers.endLoad()
	offs, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	from := l.segments[0].baseOffset
	limit := leo
	for _, s := range l.segments {
		if s.rebuildTxnIndex {
			limit = min(limit, s.baseOffset)
			break
		}
	}
	for i := len(offs) - 1; i >= 0; i-- {
		path := segmentPath(l.dir, offs[i], snapshotSuffix)
		if offs[i] > leo {
			// Written for data a crash took away.
			_ = os.Remove(path)
			continue
		}
		if offs[i] > limit {
			continue
		}
		data, err := os.ReadFile(path)
		var producers map[int64]*producerEntry
		if err == nil {
			producers, err = decodeSnapshot(data)
		}
		if err != nil {
			l.logger.Warn().Err(err).Int64("offset", offs[i]).Msg("discarding unreadable producer snapshot")
			_ = os.Remove(path)
			continue
		}
		l.producers.setProducers(producers)
		from = max(from, offs[i])
		break
	}
	var buf []byte
	for _, s := range l.segments {
		size := s.size.Load()
		if s.nextOffset <= from || size == 0 {
			continue
		}
		pos := int64(0)
		if s.baseOffset < from {
			p, _, found, err := s.translateOffset(from, size)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			pos = p
		}
		sc := newBatchScanner(s.log, pos, size)
		for sc.next() {
			if sc.hdr.baseOffset < from {
				continue
			}
			if !sc.hdr.isControl() {
				l.producers.replay(&sc.hdr)
				continue
			}
			if buf, err = s.readBatch(sc.hdrPos, &sc.hdr, buf); err != nil {
				break
			}
			if err = l.replayControl(&sc.hdr, buf, s, s.rebuildTxnIndex); err != nil {
				break
			}
		}
		sc.release()
		if err != nil {
			return err
		}
		if sc.err != nil {
			return sc.err
		}
	}
	for _, s := range l.segments {
		if s.rebuildTxnIndex {
			s.rebuildTxnIndex = false
			if err := s.txnIndex.sync(); err != nil {
				return err
			}
		}
	}
	l.producers.truncateHead(l.logStartOffset.Load())
	return nil
}
