package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// logStartOffsetFile persists the log start offset moved by DeleteRecords.
const logStartOffsetFile = "log-start-offset"

// maybeRollForAppend rolls the active segment when an append of size bytes
// ending at lastOffset would not fit it, following Kafka's
// LogSegment.shouldRoll. The time rule compares the incoming batches'
// timestamp with the segment's first batch, as Kafka does, so replaying
// old data does not roll on every append.
func (l *Log) maybeRollForAppend(size, lastOffset, incomingTs int64, now time.Time, cfg Config) error {
	s := l.activeSegment()
	cur := s.size.Load()
	if cur == 0 {
		return nil
	}
	var waited int64
	if s.rollingBasedTimestamp >= 0 && incomingTs >= 0 {
		waited = incomingTs - s.rollingBasedTimestamp
	} else {
		waited = now.Sub(s.created).Milliseconds()
	}
	switch {
	case cur+size > cfg.SegmentBytes,
		cur+size > math.MaxInt32, // positions in the index are int32
		waited > cfg.SegmentMs-s.rollJitterMs,
		s.index.file.isFull(),
		s.timeIndex.file.isFull(),
		!checkRelative(s.baseOffset, lastOffset):
		return l.roll(now)
	}
	return nil
}

// MaybeRoll rolls an idle, non-empty active segment once it is older than
// segment.ms, so time-based retention can delete it. Age counts from the
// later of the first batch's timestamp and the segment's creation (this
// process's open of it), so old CreateTime data does not roll at once.
func (l *Log) MaybeRoll(now time.Time) error {
	cfg := l.cfg.Load().eff
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	s := l.activeSegment()
	if s.size.Load() == 0 {
		return nil
	}
	born := max(s.rollingBasedTimestamp, s.created.UnixMilli())
	if now.UnixMilli()-born > cfg.SegmentMs-s.rollJitterMs {
		return l.roll(now)
	}
	return nil
}

// roll makes the active segment inactive (final time index entry, fsync)
// and starts a new one at the log end offset, snapshotting producer state
// there so recovery after a crash only rescans the new segment.
func (l *Log) roll(now time.Time) error {
	old := l.activeSegment()
	base := l.logEndOffset.Load()
	if old.size.Load() == 0 && old.baseOffset == base {
		return nil
	}
	if err := old.onBecomeInactive(); err != nil {
		return err
	}
	cfg := l.cfg.Load().eff
	s, err := l.newActiveSegment(base, cfg, now)
	if err != nil {
		return err
	}
	l.segMu.Lock()
	l.segments = append(l.segments, s)
	l.segMu.Unlock()
	l.unflushed = 0
	l.lastFlush = now
	if err := writeSnapshot(l.dir, base, l.producers, base); err != nil {
		// Not fatal: without the snapshot, recovery scans further back.
		l.logger.Warn().Err(err).Int64("offset", base).Msg("producer snapshot failed")
	}
	l.logger.Debug().Int64("offset", base).Msg("rolled segment")
	return nil
}

// newActiveSegment creates the segment at base that takes appends next,
// preallocated when the config says so.
func (l *Log) newActiveSegment(base int64, cfg Config, now time.Time) (*LogSegment, error) {
	s, err := openSegment(l.dir, base, cfg, true, now)
	if err != nil || !cfg.Preallocate {
		return s, err
	}
	if err := s.preallocate(cfg.SegmentBytes); err != nil {
		_ = s.remove()
		return nil, err
	}
	return s, nil
}

// DeleteRecordsBefore moves the log start offset to offset (never back)
// and deletes segments wholly below it. The new start is persisted before
// any file goes, so a crash in between only leaves extra files that the
// next Open deletes.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	leo := l.logEndOffset.Load()
	if offset < 0 || offset > leo {
		return 0, fmt.Errorf("%w: delete records before %d, log end offset %d", ErrOffsetOutOfRange, offset, leo)
	}
	if offset <= l.logStartOffset.Load() {
		return l.logStartOffset.Load(), nil
	}
	if err := writeLogStartOffset(l.dir, offset); err != nil {
		return 0, err
	}
	l.logStartOffset.Store(offset)
	n := 0
	for n+1 < len(l.segments) && l.segments[n+1].baseOffset <= offset {
		n++
	}
	err := l.deleteSegments(n, "log start offset")
	l.producers.truncateHead(offset)
	if eerr := l.truncateEpochsFromStart(offset); eerr != nil {
		err = errors.Join(err, eerr)
	}
	return offset, err
}

// EnforceRetention deletes the oldest segments breaching retention.ms or
// retention.bytes, unless the log's cleanup.policy is compact alone. If that includes the active segment, a new empty one is
// rolled first so the log always has an active segment at its end.
func (l *Log) EnforceRetention(now time.Time) (int, error) {
	cfg := l.cfg.Load().eff
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if cfg.CompactOnly {
		return 0, nil
	}
	segs := l.segments
	deletable := func(i int) bool {
		// An empty active segment has nothing to delete.
		return !(i == len(segs)-1 && segs[i].size.Load() == 0)
	}
	n := 0
	if cfg.RetentionMs >= 0 {
		for n < len(segs) && deletable(n) && now.UnixMilli()-segs[n].largestTimestamp() > cfg.RetentionMs {
			n++
		}
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range segs[n:] {
			total += s.size.Load()
		}
		diff := total - cfg.RetentionBytes
		for n < len(segs) && deletable(n) && diff-segs[n].size.Load() >= 0 {
			diff -= segs[n].size.Load()
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		if err := l.roll(now); err != nil {
			return 0, err
		}
	}
	if err := l.deleteSegments(n, "retention"); err != nil {
		return n, err
	}
	return n, l.truncateEpochsFromStart(l.logStartOffset.Load())
}

// deleteSegments removes the first n (inactive) segments and advances the
// log start offset to the first remaining one.
func (l *Log) deleteSegments(n int, reason string) error {
	if n <= 0 {
		return nil
	}
	if n >= len(l.segments) {
		return fmt.Errorf("storage: refusing to delete the active segment")
	}
	newStart := l.segments[n].baseOffset
	if newStart > l.logStartOffset.Load() {
		if err := writeLogStartOffset(l.dir, newStart); err != nil {
			return err
		}
		l.logStartOffset.Store(newStart)
		l.producers.truncateHead(newStart)
	}
	l.segMu.Lock()
	victims := l.segments[:n]
	l.segments = slices.Clone(l.segments[n:])
	l.segMu.Unlock()
	var errs []error
	now, delay := time.Now(), l.cfg.Load().eff.FileDeleteDelayMs
	for _, s := range victims {
		if err := l.retireSegment(s, now, delay); err != nil {
			errs = append(errs, err)
			continue
		}
		l.logger.Info().Int64("base_offset", s.baseOffset).Int64("size", s.size.Load()).
			Str("reason", reason).Msg("deleted segment")
	}
	return errors.Join(errs...)
}

// writeLogStartOffset persists the log start offset as text:
// "0\n<offset>\n" (format version, then the offset).
func writeLogStartOffset(dir string, offset int64) error {
	return writeFileAtomic(filepath.Join(dir, logStartOffsetFile), fmt.Appendf(nil, "0\n%d\n", offset))
}

// readLogStartOffset returns ok=false when the file does not exist.
func readLogStartOffset(dir string) (int64, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, logStartOffsetFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: read log start offset: %w", err)
	}
	off, err := parseLogStartOffset(data)
	if err != nil {
		return 0, false, err
	}
	return off, true, nil
}

func parseLogStartOffset(data []byte) (int64, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "0" {
		return 0, fmt.Errorf("storage: malformed %s", logStartOffsetFile)
	}
	off, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("storage: malformed %s offset %q", logStartOffsetFile, lines[1])
	}
	return off, nil
}
