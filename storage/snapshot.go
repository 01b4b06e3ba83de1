package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const (
	snapshotSuffix = ".snapshot"
	// snapshotVersion 2 added the transaction fields; version 1 files
	// are still read.
	snapshotVersion = 2
	// snapshotsKept: the newest is what a restart loads; the one before it
	// covers a newest one that turns out unreadable.
	snapshotsKept = 2

	snapshotHeaderSize   = 2 + 4 + 4     // version | crc | producer count
	snapshotEntryFixedV1 = 8 + 2 + 8 + 1 // pid | epoch | last timestamp | batch count
	// pid | epoch | last timestamp | coordinator epoch | txn first offset
	// | last marker offset | batch count
	snapshotEntryFixed   = 8 + 2 + 8 + 4 + 8 + 8 + 1
	snapshotBatchMetaLen = 4 + 4 + 8 + 8 + 8
)

var errBadSnapshot = errors.New("storage: bad producer snapshot")

// encodeSnapshot serializes the producer state; the layout is in doc.go.
func encodeSnapshot(m *ProducerStateManager) []byte {
	pids := make([]int64, 0, len(m.producers))
	for pid := range m.producers {
		pids = append(pids, pid)
	}
	slices.Sort(pids) // deterministic files make debugging and tests easier
	size := snapshotHeaderSize
	for _, pid := range pids {
		size += snapshotEntryFixed + m.producers[pid].n*snapshotBatchMetaLen
	}
	b := make([]byte, snapshotHeaderSize, size)
	binary.BigEndian.PutUint16(b[0:], snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(pids)))
	for _, pid := range pids {
		e := m.producers[pid]
		b = binary.BigEndian.AppendUint64(b, uint64(e.producerID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.currentTxnFirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastMarkerOffset))
		b = append(b, byte(e.n))
		for _, md := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(md.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(md.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(md.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(md.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(md.maxTimestamp))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// decodeSnapshot parses a snapshot file's bytes.
func decodeSnapshot(b []byte) (map[int64]*producerEntry, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(b))
	}
	version := binary.BigEndian.Uint16(b)
	fixed := snapshotEntryFixed
	switch version {
	case 1:
		fixed = snapshotEntryFixedV1
	case snapshotVersion:
	default:
		return nil, fmt.Errorf("%w: version %d", errBadSnapshot, version)
	}
	if crc := crc32.Checksum(b[6:], castagnoli); crc != binary.BigEndian.Uint32(b[2:]) {
		return nil, fmt.Errorf("%w: crc mismatch", errBadSnapshot)
	}
	count := binary.BigEndian.Uint32(b[6:])
	rest := b[snapshotHeaderSize:]
	if uint64(count)*uint64(fixed) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, count, len(rest))
	}
	out := make(map[int64]*producerEntry, count)
	for range count {
		if len(rest) < fixed {
			return nil, fmt.Errorf("%w: truncated entry", errBadSnapshot)
		}
		ne := newProducerEntry(int64(binary.BigEndian.Uint64(rest)))
		e := &ne
		e.epoch = int16(binary.BigEndian.Uint16(rest[8:]))
		e.lastTimestamp = int64(binary.BigEndian.Uint64(rest[10:]))
		if version >= 2 {
			e.coordinatorEpoch = int32(binary.BigEndian.Uint32(rest[18:]))
			e.currentTxnFirstOffset = int64(binary.BigEndian.Uint64(rest[22:]))
			e.lastMarkerOffset = int64(binary.BigEndian.Uint64(rest[30:]))
			if e.currentTxnFirstOffset < -1 || e.lastMarkerOffset < -1 {
				return nil, fmt.Errorf("%w: producer %d has transaction offsets %d, %d", errBadSnapshot, e.producerID, e.currentTxnFirstOffset, e.lastMarkerOffset)
			}
		}
		e.n = int(rest[fixed-1])
		rest = rest[fixed:]
		if e.n > maxBatchesPerProducer || len(rest) < e.n*snapshotBatchMetaLen {
			return nil, fmt.Errorf("%w: producer %d has %d batches", errBadSnapshot, e.producerID, e.n)
		}
		for i := range e.n {
			e.batches[i] = batchMetadata{
				firstSeq:     int32(binary.BigEndian.Uint32(rest)),
				lastSeq:      int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset:  int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:   int64(binary.BigEndian.Uint64(rest[16:])),
				maxTimestamp: int64(binary.BigEndian.Uint64(rest[24:])),
			}
			rest = rest[snapshotBatchMetaLen:]
		}
		out[e.producerID] = e
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	return out, nil
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list snapshots: %w", err)
	}
	var offs []int64
	for _, e := range entries {
		if off, ok := parseOffsetFileName(e.Name(), snapshotSuffix); ok {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}

// parseOffsetFileName parses "<20 digits><suffix>".
func parseOffsetFileName(name, suffix string) (int64, bool) {
	base, ok := strings.CutSuffix(name, suffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	off, err := strconv.ParseInt(base, 10, 64)
	if err != nil || off < 0 {
		return 0, false
	}
	return off, true
}

// writeSnapshot writes the state as <offset>.snapshot and prunes all but
// the newest snapshotsKept files and the one at keep, the active
// segment's base offset: crash recovery of that segment replays from it
// to rebuild the segment's aborted transaction index.
func writeSnapshot(dir string, offset int64, m *ProducerStateManager, keep int64) error {
	path := segmentPath(dir, offset, snapshotSuffix)
	if err := writeFileAtomic(path, encodeSnapshot(m)); err != nil {
		return err
	}
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	for len(offs) > snapshotsKept {
		if offs[0] != keep {
			if err := os.Remove(segmentPath(dir, offs[0], snapshotSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: remove old snapshot: %w", err)
			}
		}
		offs = offs[1:]
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temp file and a
// rename, then syncs the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: write %s: %w", filepath.Base(path), err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storage: rename %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync dir: %w", err)
	}
	return nil
}
