package storage

import (
	"fmt"

	"github.com/kafkad/kafkad/storage/codec"
)

// OffsetForTimestamp returns the first offset (at or after the log start)
// whose record timestamp is >= ts, with that timestamp. The time index
// narrows the search to one stretch of a segment; the batch found is
// decoded for record precision.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return 0, 0, false, ErrClosed
	}
	lso := l.logStartOffset.Load()
	for _, s := range l.segments {
		if maxTs, _ := s.maxTimestampAndOffset(); maxTs < ts {
			continue
		}
		offset, timestamp, found, err = s.findOffsetByTimestamp(ts, lso)
		if err != nil || found {
			return offset, timestamp, found, err
		}
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the earliest such record on ties), or (-1, -1).
func (l *Log) MaxTimestamp() (offset, timestamp int64, err error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return 0, 0, ErrClosed
	}
	var best *LogSegment
	bestTs, bestOff := int64(-1), int64(-1)
	for _, s := range l.segments {
		if ts, off := s.maxTimestampAndOffset(); ts > bestTs {
			best, bestTs, bestOff = s, ts, off
		}
	}
	if best == nil {
		return -1, -1, nil
	}
	size := best.size.Load()
	pos, hdr, found, err := best.translateOffset(bestOff, size)
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return -1, -1, nil
	}
	off, _, ok, err := best.firstRecordAtOrAfter(pos, &hdr, bestTs, hdr.baseOffset)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		// The header's maxTimestamp is what we trust on disk; fall back to
		// the batch when its records disagree.
		off = hdr.baseOffset
	}
	return off, bestTs, nil
}

// findOffsetByTimestamp scans from the time index entry below ts for the
// first batch whose maxTimestamp reaches ts, then decodes it.
func (s *LogSegment) findOffsetByTimestamp(ts, startingOffset int64) (int64, int64, bool, error) {
	size := s.size.Load()
	_, from, _, err := s.timeIndex.lookup(ts)
	if err != nil {
		return 0, 0, false, err
	}
	from = max(from, startingOffset)
	pos, _, found, err := s.translateOffset(from, size)
	if err != nil || !found {
		return 0, 0, false, err
	}
	sc := newBatchScanner(s.log, pos, size)
	defer sc.release()
	for sc.next() {
		if sc.hdr.maxTimestamp < ts || sc.hdr.lastOffset() < startingOffset {
			continue
		}
		hdr := sc.hdr
		off, rts, ok, err := s.firstRecordAtOrAfter(sc.hdrPos, &hdr, ts, startingOffset)
		if err != nil || ok {
			return off, rts, ok, err
		}
	}
	return 0, 0, false, sc.err
}

// firstRecordAtOrAfter decodes the batch at pos and returns the first
// record with timestamp >= ts and offset >= minOffset. In a LogAppendTime
// batch every record carries the batch's maxTimestamp.
func (s *LogSegment) firstRecordAtOrAfter(pos int64, hdr *batchHeader, ts, minOffset int64) (int64, int64, bool, error) {
	if hdr.logAppendTime() {
		if hdr.maxTimestamp >= ts && hdr.lastOffset() >= minOffset {
			return max(hdr.baseOffset, minOffset), hdr.maxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	batch, err := s.readBatch(pos, hdr, nil)
	if err != nil {
		return 0, 0, false, err
	}
	records := batch[batchHeaderSize:]
	if c := hdr.codec(); c != codec.None {
		if records, err = codec.Decompress(c, records, nil); err != nil {
			return 0, 0, false, fmt.Errorf("storage: decode batch at offset %d: %w", hdr.baseOffset, err)
		}
	}
	it := recordIter{data: records}
	for range hdr.recordCount {
		rec, err := it.next()
		if err != nil {
			return 0, 0, false, fmt.Errorf("storage: decode batch at offset %d: %w", hdr.baseOffset, err)
		}
		off := hdr.baseOffset + int64(rec.offsetDelta)
		if rts := hdr.baseTimestamp + rec.timestampDelta; rts >= ts && off >= minOffset {
			return off, rts, true, nil
		}
	}
	return 0, 0, false, nil
}
