package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// TruncateTo drops every batch at or after offset, as a follower does
// before replicating from a new leader: from the segment files and their
// indexes (aborted transactions whose marker is cut go), deleting later
// segments, and from the leader epoch cache (entries starting at or after
// the new log end) and producer state (rebuilt for the remaining log, so a
// producer retrying a dropped batch is not told it is a duplicate, and a
// transaction whose marker is cut is open again). Truncation works in whole batches: when
// offset falls inside a batch, that whole batch goes and the log end
// becomes its base offset, as in Kafka. If that batch also holds the log
// start offset (moved into it by DeleteRecordsBefore), the log is left
// empty at the log start offset, with an empty epoch cache as after
// Kafka's truncateFullyAndStartAt. offset at or past the log end is a no-op;
// below the log start offset it is ErrOffsetOutOfRange.
//
// Readers are kept out (exclusive segMu) only while files are cut and the
// log end offset, sizes and epoch cache change together. Later segments
// are deleted before the kept one is cut, and the epoch checkpoint is
// written after, so a crash part way leaves a log that is a longer prefix,
// never one with a gap or epochs missing for its batches.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	leo, lso := l.logEndOffset.Load(), l.logStartOffset.Load()
	if offset >= leo {
		return nil
	}
	if offset < lso {
		return fmt.Errorf("%w: truncate to %d below log start offset %d", ErrOffsetOutOfRange, offset, lso)
	}

	// The segment holding offset; segments start at or below the log
	// start offset, so there is one.
	i := max(sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset })-1, 0)
	seg := l.segments[i]
	size := seg.size.Load()
	pos, hdr, found, err := seg.translateOffset(offset, size)
	if err != nil {
		return err
	}
	newEnd, cutRel := offset, int64(-1)
	if found {
		cutRel = hdr.baseOffset - seg.baseOffset
		newEnd = min(newEnd, hdr.baseOffset)
	}
	// The batch holding the log start offset goes: the log is left empty
	// at the log start offset, where Open would restart it.
	emptied := newEnd < lso
	newEnd = max(newEnd, lso)
	now := time.Now()

	var errs []error
	l.segMu.Lock()
	victims := l.segments[i+1:]
	l.segments = slices.Clone(l.segments[:i+1])
	for j := len(victims) - 1; j >= 0; j-- {
		if err := victims[j].remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := seg.truncateTo(pos, cutRel, newEnd, now); err != nil {
		errs = append(errs, err)
	}
	entries := epochsTruncatedFromStart(epochsTruncatedFromEnd(l.epochs.entries, newEnd), lso)
	if emptied {
		entries = nil // as Kafka's truncateFullyAndStartAt, and as Open will have it
	}
	changed := !slices.Equal(entries, l.epochs.entries)
	// Until producer state is reloaded below, which transactions are open
	// at the new end is unknown (a cut marker reopens one): hold the first
	// unstable offset at the log start meanwhile.
	l.producers.firstUnstable.Store(lso)
	l.epochs.mu.Lock()
	// Under the cache lock, so EndOffsetForEpoch never pairs the old end
	// offset with the new entries or the other way round.
	l.epochs.entries = entries
	l.logEndOffset.Store(newEnd)
	l.epochs.mu.Unlock()
	l.segMu.Unlock()
	if changed {
		l.epochs.dirty = true
	}

	l.logger.Info().Int64("offset", offset).Int64("log_end_offset", newEnd).Int64("previous_log_end_offset", leo).
		Int("deleted_segments", len(victims)).Msg("truncated log")
	for _, v := range victims {
		l.logger.Info().Int64("base_offset", v.baseOffset).Str("reason", "truncation").Msg("deleted segment")
	}

	// The cut must be durable before the checkpoint forgets its epochs.
	if err := seg.flush(); err != nil {
		errs = append(errs, err)
	}
	if err := syncDir(l.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := l.epochs.flush(l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	l.unflushed, l.lastFlush = 0, now
	// Offsets past the new end are dirty again once rewritten (Kafka's
	// maybeTruncateCheckpoint).
	if err := l.setCleanerCheckpoint(newEnd, true); err != nil {
		errs = append(errs, err)
	}

	// Rebuild producer state from the newest snapshot at or below the new
	// end; loading also deletes snapshots taken past it, which describe
	// dropped batches.
	l.producers.reset()
	if err := l.loadProducerState(newEnd); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// truncateTo cuts the segment at pos, where the batch at relative offset
// cutRel starts (cutRel < 0: nothing of this segment is cut), drops index
// entries from that batch on and recomputes the in-memory state. The
// caller holds Log.mu and segMu exclusively.
func (s *LogSegment) truncateTo(pos, cutRel, nextOffset int64, now time.Time) error {
	if cutRel >= 0 {
		if err := s.index.file.truncateFrom(cutRel, 0); err != nil {
			return err
		}
		if err := s.timeIndex.file.truncateFrom(cutRel, 8); err != nil {
			return err
		}
		if err := s.log.Truncate(pos); err != nil {
			return fmt.Errorf("storage: truncate segment %d: %w", s.baseOffset, err)
		}
		s.size.Store(pos)
	}
	if err := s.txnIndex.truncateFrom(nextOffset); err != nil {
		return err
	}
	s.nextOffset = nextOffset
	s.lastModified = now
	s.bytesSinceLastIndexEntry = 0
	if pos == 0 {
		s.rollingBasedTimestamp = -1
		s.created = now
	}
	// Kafka's readLargestTimestamp: the last time index entry is the
	// largest timestamp up to its batch; batches after it are scanned.
	maxTs, maxOff, ok := s.timeIndex.lastEntry()
	from := int64(0)
	if ok {
		_, p, err := s.index.lookup(maxOff)
		if err != nil {
			return err
		}
		from = p
	}
	sc := newBatchScanner(s.log, from, s.size.Load())
	for sc.next() {
		if sc.hdr.maxTimestamp > maxTs {
			maxTs, maxOff = sc.hdr.maxTimestamp, sc.hdr.baseOffset
		}
	}
	sc.release()
	s.tsMu.Lock()
	s.maxTimestamp, s.offsetOfMaxTimestamp = maxTs, maxOff
	s.tsMu.Unlock()
	return sc.err
}

// truncateFrom drops the entries whose int32 relative offset at byte
// offAt is >= rel. Those offsets never decrease along the file, so the
// kept entries are a prefix, found by binary search.
func (x *indexFile) truncateFrom(rel int64, offAt int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n < 0 {
		return errIndexCorrupt
	}
	var buf [timeIndexEntrySize]byte
	e := buf[:x.entrySize]
	var readErr error
	keep := sort.Search(int(x.n), func(i int) bool {
		if readErr != nil {
			return true
		}
		if _, err := x.f.ReadAt(e, int64(i)*x.entrySize); err != nil {
			readErr = err
			return true
		}
		return int64(int32(binary.BigEndian.Uint32(e[offAt:]))) >= rel
	})
	if readErr != nil {
		return fmt.Errorf("storage: read index: %w", readErr)
	}
	if int64(keep) == x.n {
		return nil
	}
	if err := x.f.Truncate(int64(keep) * x.entrySize); err != nil {
		return fmt.Errorf("storage: truncate index: %w", err)
	}
	x.n = int64(keep)
	if keep > 0 {
		if _, err := x.f.ReadAt(x.last[:x.entrySize], (x.n-1)*x.entrySize); err != nil {
			return fmt.Errorf("storage: read index: %w", err)
		}
	}
	return nil
}
