package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrOffsetMismatch: a replica append does not start at the log end
// offset. The error is an *OffsetMismatchError.
var ErrOffsetMismatch = errors.New("storage: replica append offset mismatch")

// OffsetMismatchError carries what a follower needs to react to a replica
// append that does not continue its log, for example Kafka's case of a
// leader whose log start offset falls inside the first batch.
type OffsetMismatchError struct {
	FirstOffset  int64 // base offset of the first batch appended
	LastOffset   int64 // last offset of that batch
	LogEndOffset int64
}

func (e *OffsetMismatchError) Error() string {
	return fmt.Sprintf("%s: batch %d..%d appended at log end offset %d", ErrOffsetMismatch, e.FirstOffset, e.LastOffset, e.LogEndOffset)
}

// Is makes errors.Is(err, ErrOffsetMismatch) match.
func (e *OffsetMismatchError) Is(target error) bool { return target == ErrOffsetMismatch }

// AppendReplica appends batches exactly as the leader wrote them: offsets,
// leader epochs and timestamps are kept, and idempotent producers are not
// checked (the leader did), but their state is updated so that this
// replica deduplicates retries once it leads; transactions are tracked
// from the transactional batches and the markers in the control batches,
// aborted ones indexed, so the replica has the leader's last stable
// offset and aborted transaction index. The first batch must start
// at or after the log end offset (*OffsetMismatchError otherwise: a gap
// after it is one compaction left on the leader) and offsets must
// increase from batch to batch. Each batch's length, magic and CRC are
// checked; records are not decoded, since the CRC covers them and the
// leader validated them, and max.message.bytes is not applied (the leader
// accepted the batch under its config), as Kafka's followers do. The leader
// epoch cache learns each batch's partitionLeaderEpoch. Nothing is written
// unless every batch is valid. batches is not modified.
func (l *Log) AppendReplica(batches []byte) (AppendResult, error) {
	now := time.Now()
	cfg := l.cfg.Load().eff

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	infos, err := l.validateReplica(batches)
	if err != nil {
		return AppendResult{}, err
	}
	leo := l.logEndOffset.Load()
	// A batch past the log end is a gap the leader's cleaner left
	// (compaction drops whole batches); Kafka accepts it. One before the
	// log end does not continue this log.
	if first := &infos[0].hdr; first.baseOffset < leo {
		return AppendResult{}, &OffsetMismatchError{FirstOffset: first.baseOffset, LastOffset: first.lastOffset(), LogEndOffset: leo}
	}
	next := infos[len(infos)-1].hdr.lastOffset() + 1
	maxTs := int64(-1)
	for i := range infos {
		maxTs = max(maxTs, infos[i].hdr.maxTimestamp)
	}
	if err := l.writeBatches(batches, infos, next, maxTs, now, cfg); err != nil {
		return AppendResult{}, err
	}
	// Producer state and the aborted transaction index change before the
	// log end offset moves, as in Append and AppendMarker.
	seg := l.activeSegment()
	for i := range infos {
		in := &infos[i]
		if !in.hdr.isControl() {
			l.producers.replay(&in.hdr)
			continue
		}
		// The entry is in memory even when its write fails; the write
		// is retried at the next flush.
		if err := l.replayControl(&in.hdr, batches[in.pos:in.pos+in.size], seg, true); err != nil {
			l.logger.Error().Err(err).Int64("offset", in.hdr.baseOffset).Msg("aborted transaction index write failed, retrying at flush")
		}
	}
	l.logEndOffset.Store(next)
	if err := l.maybeFlushByCount(next-leo, now, cfg); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{
		BaseOffset:     leo,
		LastOffset:     next - 1,
		LogAppendTime:  -1,
		LogStartOffset: l.logStartOffset.Load(),
		NumRecords:     next - leo,
	}, nil
}

// validateReplica checks the framing of every batch of a replica append.
// The returned slice is reused by the next call.
func (l *Log) validateReplica(batches []byte) ([]batchInfo, error) {
	infos := l.infos[:0]
	defer func() { l.infos = infos[:0] }()
	prevLast := int64(-1)
	for pos := 0; pos < len(batches); {
		hdr, err := checkReplicaBatch(batches[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if hdr.baseOffset <= prevLast {
			return nil, fmt.Errorf("%w: batch at offset %d follows offset %d", ErrInvalidRecord, hdr.baseOffset, prevLast)
		}
		prevLast = hdr.lastOffset()
		infos = append(infos, batchInfo{pos: pos, hdr: hdr, size: int(hdr.size()), maxTimestamp: hdr.maxTimestamp})
		pos += int(hdr.size())
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	return infos, nil
}

// checkReplicaBatch checks the batch at the start of buf the way recovery
// checks batches read back from disk: magic, length, CRC, offsets.
func checkReplicaBatch(buf []byte) (batchHeader, error) {
	if len(buf) < batchHeaderSize {
		return batchHeader{}, fmt.Errorf("%w: %d bytes cannot hold a batch header", ErrCorruptMessage, len(buf))
	}
	if magic := int8(buf[offMagic]); magic != 2 {
		if magic == 0 || magic == 1 {
			return batchHeader{}, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, magic)
		}
		return batchHeader{}, fmt.Errorf("%w: unknown magic %d", ErrCorruptMessage, magic)
	}
	length := int32(binary.BigEndian.Uint32(buf[offLength:]))
	if length < minBatchLength {
		return batchHeader{}, fmt.Errorf("%w: batch length %d below header size", ErrCorruptMessage, length)
	}
	if size := logOverhead + int64(length); size > int64(len(buf)) {
		return batchHeader{}, fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorruptMessage, size, len(buf))
	}
	hdr := parseBatchHeader(buf)
	if got := batchCRC(buf[:hdr.size()]); got != hdr.crc {
		return batchHeader{}, fmt.Errorf("%w: crc %08x, batch says %08x", ErrCorruptMessage, got, hdr.crc)
	}
	if hdr.baseOffset < 0 || hdr.lastOffsetDelta < 0 {
		return batchHeader{}, fmt.Errorf("%w: base offset %d with last offset delta %d", ErrCorruptMessage, hdr.baseOffset, hdr.lastOffsetDelta)
	}
	return hdr, nil
}
