package storage

import (
	"encoding/binary"
	"fmt"
)

// TimeIndex maps timestamps to offsets in one segment. Entry: int64
// timestamp | int32 offset relative to the segment base. An entry (t, o)
// says: t is the largest timestamp among all batches up to and including
// the batch starting at o, and that batch is the first to reach it. Entries
// are only appended when t grows, so timestamps are strictly increasing.
type TimeIndex struct {
	baseOffset int64
	file       *indexFile
}

func openTimeIndex(path string, baseOffset int64, maxIndexBytes int32) (*TimeIndex, error) {
	f, err := openIndexFile(path, timeIndexEntrySize, int64(maxIndexBytes)/timeIndexEntrySize)
	if err != nil {
		return nil, err
	}
	return &TimeIndex{baseOffset: baseOffset, file: f}, nil
}

// maybeAppend adds (ts, offset) when ts exceeds the last entry's timestamp.
// force skips the full check: the final entry written when a segment
// becomes inactive must fit even into a full index.
func (x *TimeIndex) maybeAppend(ts, offset int64, force bool) error {
	if ts < 0 {
		return nil
	}
	if last, _, ok := x.lastEntry(); ok && ts <= last {
		return nil
	}
	if !force && x.file.isFull() {
		return nil
	}
	var e [timeIndexEntrySize]byte
	binary.BigEndian.PutUint64(e[0:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], uint32(offset-x.baseOffset))
	return x.file.append(e[:])
}

// lookup returns the entry with the largest timestamp <= ts; when none,
// ok=false and scanning should start at the segment base.
func (x *TimeIndex) lookup(ts int64) (entryTs, offset int64, ok bool, err error) {
	var buf [timeIndexEntrySize]byte
	e, ok, err := x.file.search(ts, buf[:])
	if err != nil || !ok {
		return -1, x.baseOffset, false, err
	}
	return int64(binary.BigEndian.Uint64(e)), x.baseOffset + int64(int32(binary.BigEndian.Uint32(e[8:]))), true, nil
}

// lastEntry is the segment's largest timestamp once the segment is inactive.
func (x *TimeIndex) lastEntry() (ts, offset int64, ok bool) {
	e, ok := x.file.lastEntry()
	if !ok {
		return -1, x.baseOffset, false
	}
	return int64(binary.BigEndian.Uint64(e[:])), x.baseOffset + int64(int32(binary.BigEndian.Uint32(e[8:]))), true
}

// sanityCheck verifies whole entries and a last entry inside
// [base, nextOffset).
func (x *TimeIndex) sanityCheck(nextOffset int64) error {
	if x.file.entries() < 0 {
		return fmt.Errorf("%w: %s has a partial entry", errIndexCorrupt, x.file.path)
	}
	ts, off, ok := x.lastEntry()
	if ok && (ts < 0 || off < x.baseOffset || off >= nextOffset) {
		return fmt.Errorf("%w: %s last entry (%d, %d), next offset %d", errIndexCorrupt, x.file.path, ts, off, nextOffset)
	}
	return nil
}
