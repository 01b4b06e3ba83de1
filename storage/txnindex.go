package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

const (
	txnIndexSuffix = ".txnindex"
	// txnIndexEntrySize: version int16 | producerId int64 | firstOffset
	// int64 | lastOffset int64 | lastStableOffset int64.
	txnIndexEntrySize = 2 + 8 + 8 + 8 + 8
	txnIndexVersion   = 0
)

// AbortedTxn is one entry of the aborted transaction index: producer
// ProducerID's transaction from FirstOffset was aborted by the marker at
// LastOffset, and the last stable offset right after it was
// LastStableOffset.
type AbortedTxn struct {
	ProducerID, FirstOffset, LastOffset, LastStableOffset int64
}

// txnIndex is Kafka's TransactionIndex of one segment. The entries are
// few (one per aborted transaction whose marker is in the segment) and
// read on every read_committed fetch, so all of them live in memory,
// loaded on open; the file only makes them durable. Like Kafka's, the
// file is created when the first entry comes.
//
// Writers hold the log's append lock; mu keeps readers from seeing the
// slice while it is truncated and then appended to again.
type txnIndex struct {
	path string

	mu      sync.RWMutex
	entries []AbortedTxn

	// Writer-only, guarded by Log.mu.
	f *os.File // nil until the file exists
	// persisted counts entries written to the file; a failed write is
	// retried at the next flush.
	persisted int
	dirty     bool // written since the last fsync
}

// openTxnIndex loads the index at path, if it exists. It reports torn
// when the file had bytes that are not whole valid entries; they are cut
// off the file and the caller decides whether to rebuild the index.
func openTxnIndex(path string, baseOffset int64) (x *txnIndex, torn bool, err error) {
	x = &txnIndex{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return x, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: read txn index: %w", err)
	}
	entries, valid := parseTxnIndex(data, baseOffset)
	x.entries, x.persisted = entries, len(entries)
	if valid == len(data) {
		return x, false, nil
	}
	if err := os.Truncate(path, int64(valid)); err != nil {
		return nil, true, fmt.Errorf("storage: truncate txn index: %w", err)
	}
	return x, true, nil
}

// parseTxnIndex decodes entries up to the first that is partial or
// invalid (wrong version, negative or decreasing offsets, a last offset
// below the segment base or not after the previous one), and returns them
// with the byte length of that valid prefix.
func parseTxnIndex(b []byte, baseOffset int64) ([]AbortedTxn, int) {
	var out []AbortedTxn
	prevLast := baseOffset - 1
	pos := 0
	for ; pos+txnIndexEntrySize <= len(b); pos += txnIndexEntrySize {
		e := b[pos : pos+txnIndexEntrySize]
		if binary.BigEndian.Uint16(e) != txnIndexVersion {
			break
		}
		t := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(e[26:])),
		}
		if t.ProducerID < 0 || t.FirstOffset < 0 || t.FirstOffset > t.LastOffset ||
			t.LastOffset <= prevLast || t.LastStableOffset < 0 {
			break
		}
		out = append(out, t)
		prevLast = t.LastOffset
	}
	return out, pos
}

func appendTxnIndexEntry(b []byte, t AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, txnIndexVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(t.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(t.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(t.LastStableOffset))
}

// append adds an entry in memory, where readers see it at once, and
// writes it to the file. On a write error the entry stays in memory and
// the write is retried by the next flush.
func (x *txnIndex) append(t AbortedTxn) error {
	x.mu.Lock()
	x.entries = append(x.entries, t)
	x.mu.Unlock()
	return x.persist()
}

// persist writes the entries the file lacks.
func (x *txnIndex) persist() error {
	if x.persisted == len(x.entries) {
		return nil
	}
	if x.f == nil {
		f, err := os.OpenFile(x.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("storage: open txn index: %w", err)
		}
		x.f = f
	}
	// Only writers change entries, and the caller is one.
	var buf []byte
	for _, t := range x.entries[x.persisted:] {
		buf = appendTxnIndexEntry(buf, t)
	}
	if _, err := x.f.WriteAt(buf, int64(x.persisted)*txnIndexEntrySize); err != nil {
		return fmt.Errorf("storage: append txn index: %w", err)
	}
	x.persisted = len(x.entries)
	x.dirty = true
	return nil
}

// collect appends to out the entries overlapping [from, upTo) and reports
// whether no later segment can hold more: an entry whose last stable
// offset reached upTo proves every transaction still open then started at
// or after upTo (Kafka's TransactionIndex.collectAbortedTxns).
func (x *txnIndex) collect(from, upTo int64, out []AbortedTxn) ([]AbortedTxn, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, t := range x.entries {
		if t.LastOffset >= from && t.FirstOffset < upTo {
			out = append(out, t)
		}
		if t.LastStableOffset >= upTo {
			return out, true
		}
	}
	return out, false
}

// truncateFrom drops the entries whose marker is at or after offset.
func (x *txnIndex) truncateFrom(offset int64) error {
	keep := len(x.entries)
	for keep > 0 && x.entries[keep-1].LastOffset >= offset {
		keep--
	}
	if keep == len(x.entries) {
		return nil
	}
	x.mu.Lock()
	x.entries = x.entries[:keep]
	x.mu.Unlock()
	if x.persisted <= keep {
		return nil
	}
	x.persisted = keep
	if x.f == nil {
		f, err := os.OpenFile(x.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("storage: open txn index: %w", err)
		}
		x.f = f
	}
	if err := x.f.Truncate(int64(keep) * txnIndexEntrySize); err != nil {
		return fmt.Errorf("storage: truncate txn index: %w", err)
	}
	x.dirty = true
	return nil
}

// reset empties the index, for a rebuild.
func (x *txnIndex) reset() error {
	x.mu.Lock()
	x.entries = nil
	x.mu.Unlock()
	x.persisted = 0
	if x.f != nil {
		if err := x.f.Truncate(0); err != nil {
			return fmt.Errorf("storage: truncate txn index: %w", err)
		}
		x.dirty = true
		return nil
	}
	if err := os.Remove(x.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: remove txn index: %w", err)
	}
	return nil
}

// sync writes what an earlier failure left unwritten and makes the file
// durable.
func (x *txnIndex) sync() error {
	if err := x.persist(); err != nil {
		return err
	}
	if x.f == nil || !x.dirty {
		return nil
	}
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("storage: sync txn index: %w", err)
	}
	x.dirty = false
	return nil
}

func (x *txnIndex) close() error {
	if x.f == nil {
		return nil
	}
	err := x.f.Close()
	x.f = nil
	return err
}
