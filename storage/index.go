package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
)

const (
	offsetIndexEntrySize = 8  // int32 relative offset | int32 position
	timeIndexEntrySize   = 12 // int64 timestamp | int32 relative offset
)

var errIndexCorrupt = errors.New("storage: index corrupt")

// indexFile is a sparse index of fixed-size entries appended to a plain
// file. Lookups binary-search the file with pread, letting the page cache
// hold hot entries instead of keeping every segment's index on the heap;
// the last entry is cached because most lookups (consumers at the tail) hit
// it. Appends happen under the log's append lock; the RWMutex only keeps
// readers from seeing the count before the entry's bytes are written.
type indexFile struct {
	mu         sync.RWMutex
	path       string
	f          *os.File
	entrySize  int64
	n          int64 // entries in the file
	maxEntries int64
	last       [timeIndexEntrySize]byte
}

func openIndexFile(path string, entrySize int64, maxEntries int64) (*indexFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open index: %w", err)
	}
	x := &indexFile{path: path, f: f, entrySize: entrySize, maxEntries: maxEntries}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("storage: stat index: %w", err)
	}
	x.n = st.Size() / entrySize
	if st.Size()%entrySize != 0 {
		// A torn trailing entry; callers notice via sanity checks, and
		// recovery rewrites the file.
		x.n = -1
	}
	if x.n > 0 {
		if _, err := f.ReadAt(x.last[:entrySize], (x.n-1)*entrySize); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("storage: read index: %w", err)
		}
	}
	return x, nil
}

func (x *indexFile) entries() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

func (x *indexFile) isFull() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n >= x.maxEntries
}

func (x *indexFile) lastEntry() ([timeIndexEntrySize]byte, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.last, x.n > 0
}

func (x *indexFile) append(e []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n < 0 {
		return errIndexCorrupt
	}
	if _, err := x.f.WriteAt(e, x.n*x.entrySize); err != nil {
		return fmt.Errorf("storage: append index: %w", err)
	}
	copy(x.last[:], e)
	x.n++
	return nil
}

// reset empties the index, for a rebuild.
func (x *indexFile) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.f.Truncate(0); err != nil {
		return fmt.Errorf("storage: truncate index: %w", err)
	}
	x.n = 0
	return nil
}

// search returns the entry with the largest key <= target (keys are
// non-decreasing), or ok=false when every key is larger.
func (x *indexFile) search(target int64, dst []byte) (entry []byte, ok bool, err error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.n <= 0 {
		return nil, false, nil
	}
	entry = dst[:x.entrySize]
	if x.key(x.last[:]) <= target {
		copy(entry, x.last[:x.entrySize])
		return entry, true, nil
	}
	// Invariant: key(lo) <= target < key(hi); lo == -1 means none.
	lo, hi := int64(-1), x.n-1
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if _, err := x.f.ReadAt(entry, mid*x.entrySize); err != nil {
			return nil, false, fmt.Errorf("storage: read index: %w", err)
		}
		if x.key(entry) <= target {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo < 0 {
		return nil, false, nil
	}
	if _, err := x.f.ReadAt(entry, lo*x.entrySize); err != nil {
		return nil, false, fmt.Errorf("storage: read index: %w", err)
	}
	return entry, true, nil
}

func (x *indexFile) key(e []byte) int64 {
	if x.entrySize == offsetIndexEntrySize {
		return int64(int32(binary.BigEndian.Uint32(e)))
	}
	return int64(binary.BigEndian.Uint64(e))
}

func (x *indexFile) sync() error {
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("storage: sync index: %w", err)
	}
	return nil
}

func (x *indexFile) close() error { return x.f.Close() }

// OffsetIndex maps offsets to file positions in one segment. Entry:
// int32 offset relative to the segment's base | int32 position of the batch
// starting at that offset.
type OffsetIndex struct {
	baseOffset int64
	file       *indexFile
}

func openOffsetIndex(path string, baseOffset int64, maxIndexBytes int32) (*OffsetIndex, error) {
	f, err := openIndexFile(path, offsetIndexEntrySize, int64(maxIndexBytes)/offsetIndexEntrySize)
	if err != nil {
		return nil, err
	}
	return &OffsetIndex{baseOffset: baseOffset, file: f}, nil
}

// append records that the batch starting at offset begins at pos.
func (x *OffsetIndex) append(offset, pos int64) error {
	var e [offsetIndexEntrySize]byte
	binary.BigEndian.PutUint32(e[0:], uint32(offset-x.baseOffset))
	binary.BigEndian.PutUint32(e[4:], uint32(pos))
	return x.file.append(e[:])
}

// lookup returns the last indexed batch start at or before offset, or the
// segment start when none is.
func (x *OffsetIndex) lookup(offset int64) (batchOffset, pos int64, err error) {
	rel := offset - x.baseOffset
	if rel < 0 {
		return x.baseOffset, 0, nil
	}
	if rel > math.MaxInt32 {
		rel = math.MaxInt32
	}
	var buf [offsetIndexEntrySize]byte
	e, ok, err := x.file.search(rel, buf[:])
	if err != nil || !ok {
		return x.baseOffset, 0, err
	}
	return x.baseOffset + int64(int32(binary.BigEndian.Uint32(e))), int64(int32(binary.BigEndian.Uint32(e[4:]))), nil
}

func (x *OffsetIndex) lastEntry() (offset, pos int64, ok bool) {
	e, ok := x.file.lastEntry()
	if !ok {
		return x.baseOffset, 0, false
	}
	return x.baseOffset + int64(int32(binary.BigEndian.Uint32(e[:]))), int64(int32(binary.BigEndian.Uint32(e[4:]))), true
}

// sanityCheck is Kafka's cheap check of what a clean shutdown should have
// left: whole entries and a last entry pointing inside the log file. The
// caller also checks that a batch with that offset starts there.
func (x *OffsetIndex) sanityCheck(logSize int64) error {
	if x.file.entries() < 0 {
		return fmt.Errorf("%w: %s has a partial entry", errIndexCorrupt, x.file.path)
	}
	off, pos, ok := x.lastEntry()
	if ok && (off < x.baseOffset || pos <= 0 || pos >= logSize) {
		return fmt.Errorf("%w: %s last entry (%d, %d) with log size %d", errIndexCorrupt, x.file.path, off, pos, logSize)
	}
	return nil
}
