package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"
	"time"

	"github.com/kafkad/kafkad/storage/codec"
)

// Control record types of a transaction marker's key (Kafka's
// ControlRecordType).
const (
	controlTypeAbort  = 0
	controlTypeCommit = 1
)

// markerBatchSize is the size of the control batch AppendMarker writes:
// the header and one 17-byte record (varint length 16, attributes,
// timestampDelta, offsetDelta, key length 4, key, value length 6, value,
// header count).
const markerBatchSize = batchHeaderSize + 17

var errNotMarker = errors.New("not a transaction marker")

// Marker is a transaction marker a transaction coordinator asks this
// partition's leader to write.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// ProducerInfo describes one producer of the partition, for
// DescribeProducers.
type ProducerInfo struct {
	ProducerID       int64
	ProducerEpoch    int16
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64 // -1 when no transaction is open
}

// AppendMarker writes one control batch (Kafka's EndTransactionMarker)
// ending pid's ongoing transaction. The marker is refused with
// ErrInvalidProducerEpoch when its epoch is older than the producer's and
// with ErrTransactionCoordinatorFenced when its coordinator epoch is older
// than one seen before. A newer epoch (transactions v2, KIP-890: the
// coordinator bumps the epoch at every EndTxn) becomes the producer's and
// its remembered batches are forgotten, so its next batch starts at
// sequence 0. A marker for a producer without an open transaction is
// written all the same; it changes neither the last stable offset nor the
// aborted transaction index.
func (l *Log) AppendMarker(mk Marker, opts AppendOptions) (AppendResult, error) {
	if mk.ProducerID < 0 || mk.ProducerEpoch < 0 {
		return AppendResult{}, fmt.Errorf("%w: marker for producer %d epoch %d", ErrInvalidRecord, mk.ProducerID, mk.ProducerEpoch)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	cfg := l.cfg.Load().eff

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	leo := l.logEndOffset.Load()
	ts := now.UnixMilli()
	pending := l.producers.begin(mk.ProducerID)
	first, err := pending.endTxn(mk, leo, ts)
	if err != nil {
		return AppendResult{}, err
	}
	logAppend := cfg.TimestampType == LogAppendTime
	batch := encodeMarkerBatch(mk, leo, opts.LeaderEpoch, ts, logAppend)
	infos := [1]batchInfo{{hdr: parseBatchHeader(batch), size: len(batch), maxTimestamp: ts}}
	if err := l.writeBatches(batch, infos[:], leo+1, ts, now, cfg); err != nil {
		return AppendResult{}, err
	}
	// The index entry is in place before the transaction stops holding
	// the first unstable offset (commit), so a read_committed fetch that
	// may read the aborted batches also learns they were aborted.
	// The entry is in memory even when its write fails; the write is
	// retried at the next flush.
	if first >= 0 && !mk.Commit {
		err := l.activeSegment().txnIndex.append(AbortedTxn{
			ProducerID:       mk.ProducerID,
			FirstOffset:      first,
			LastOffset:       leo,
			LastStableOffset: l.producers.lastStableAfter(mk.ProducerID, leo),
		})
		if err != nil {
			l.logger.Error().Err(err).Int64("offset", leo).Msg("aborted transaction index write failed, retrying at flush")
		}
	}
	l.producers.commit(&pending)
	l.logEndOffset.Store(leo + 1)
	if err := l.maybeFlushByCount(1, now, cfg); err != nil {
		return AppendResult{}, err
	}
	appendTime := int64(-1)
	if logAppend {
		appendTime = ts
	}
	return AppendResult{
		BaseOffset:     leo,
		LastOffset:     leo,
		LogAppendTime:  appendTime,
		LogStartOffset: l.logStartOffset.Load(),
		NumRecords:     1,
	}, nil
}

// encodeMarkerBatch builds the control batch of a marker at offset; the
// layout is in doc.go.
func encodeMarkerBatch(mk Marker, offset int64, leaderEpoch int32, ts int64, logAppendTime bool) []byte {
	b := make([]byte, batchHeaderSize, markerBatchSize)
	attrs := uint16(attrTransactional | attrControl)
	if logAppendTime {
		attrs |= attrLogAppendTime
	}
	binary.BigEndian.PutUint64(b, uint64(offset))
	binary.BigEndian.PutUint32(b[offLength:], markerBatchSize-logOverhead)
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0)
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(mk.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(mk.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0xffffffff) // noSequence
	binary.BigEndian.PutUint32(b[offRecordCount:], 1)

	typ := uint16(controlTypeAbort)
	if mk.Commit {
		typ = controlTypeCommit
	}
	b = binary.AppendVarint(b, 16) // record length
	b = append(b, 0)               // attributes
	b = binary.AppendVarint(b, 0)  // timestampDelta
	b = binary.AppendVarint(b, 0)  // offsetDelta
	b = binary.AppendVarint(b, 4)  // key: version 0, type
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.AppendVarint(b, 6) // value: version 0, coordinator epoch
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(mk.CoordinatorEpoch))
	b = binary.AppendVarint(b, 0) // headers
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// decodeMarker reads the EndTransactionMarker in the first record of the
// control batch (whose header is hdr), decompressing into scratch if
// needed. It returns errNotMarker for an empty control batch or another
// control type, which are not transaction markers.
func decodeMarker(batch []byte, hdr *batchHeader, scratch *[]byte) (Marker, error) {
	if hdr.recordCount <= 0 {
		return Marker{}, errNotMarker
	}
	records := batch[batchHeaderSize:hdr.size()]
	if c := hdr.codec(); c != codec.None {
		if c > codec.Zstd {
			return Marker{}, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, c)
		}
		var err error
		*scratch, err = codec.DecompressLimit(c, records, (*scratch)[:0], 0)
		if err != nil {
			return Marker{}, fmt.Errorf("%w: %w", ErrCorruptMessage, err)
		}
		records = *scratch
	}
	key, value, err := firstRecordKeyValue(records)
	if err != nil {
		return Marker{}, fmt.Errorf("%w: control record: %w", ErrCorruptMessage, err)
	}
	if len(key) < 4 || int16(binary.BigEndian.Uint16(key)) < 0 {
		return Marker{}, fmt.Errorf("%w: control record key of %d bytes", ErrCorruptMessage, len(key))
	}
	mk := Marker{ProducerID: hdr.producerID, ProducerEpoch: hdr.producerEpoch}
	switch binary.BigEndian.Uint16(key[2:]) {
	case controlTypeAbort:
	case controlTypeCommit:
		mk.Commit = true
	default:
		return Marker{}, errNotMarker
	}
	if len(value) < 6 || int16(binary.BigEndian.Uint16(value)) < 0 {
		return Marker{}, fmt.Errorf("%w: transaction marker value of %d bytes", ErrCorruptMessage, len(value))
	}
	mk.CoordinatorEpoch = int32(binary.BigEndian.Uint32(value[2:]))
	return mk, nil
}

// firstRecordKeyValue returns the key and value of the first record in a
// records section (nil for null ones).
func firstRecordKeyValue(records []byte) (key, value []byte, err error) {
	length, n := binary.Varint(records)
	if n <= 0 || length < 1 || length > int64(len(records)-n) {
		return nil, nil, errRecordLength
	}
	rec := records[n : n+int(length)]
	p := 1 // attributes
	var ok bool
	if _, p, ok = varlong(rec, p); !ok { // timestampDelta
		return nil, nil, errBadVarint
	}
	if _, p, ok = varint32(rec, p); !ok { // offsetDelta
		return nil, nil, errBadVarint
	}
	var fields [2][]byte
	for i := range fields {
		var l int64
		if l, p, ok = varint32(rec, p); !ok || l < -1 || l > int64(len(rec)-p) {
			return nil, nil, errFieldLength
		}
		if l >= 0 {
			fields[i] = rec[p : p+int(l)]
			p += int(l)
		}
	}
	return fields[0], fields[1], nil
}

// replayControl folds the control batch hdr (bytes batch) into producer
// state and, when it aborts a transaction and index is set, adds the
// entry to seg's aborted transaction index. A control batch that is not a
// transaction marker changes nothing.
func (l *Log) replayControl(hdr *batchHeader, batch []byte, seg *LogSegment, index bool) error {
	if !hdr.hasProducerID() {
		return nil
	}
	mk, err := decodeMarker(batch, hdr, &l.validator.scratch)
	if err != nil {
		if !errors.Is(err, errNotMarker) {
			l.logger.Warn().Err(err).Int64("offset", hdr.baseOffset).Msg("ignoring undecodable control batch")
		}
		return nil
	}
	aborted, ok := l.producers.replayMarker(hdr, mk)
	if !ok || !index {
		return nil
	}
	return seg.txnIndex.append(aborted)
}

// FirstUnstableOffset is the smallest first offset of an ongoing
// transaction, or LogEndOffset when none is open (never below
// LogStartOffset). LastStableOffset builds the last stable offset on it.
//
// Writers store the producer state's first unstable offset before they
// publish a log end offset past the batch that changed it, and this loads
// the log end offset first: a log end offset that covers a batch opening
// a transaction always comes with that transaction's first offset.
func (l *Log) FirstUnstableOffset() int64 {
	leo := l.logEndOffset.Load()
	fu := l.producers.firstUnstable.Load()
	if fu < 0 || fu > leo {
		fu = leo
	}
	return max(fu, l.logStartOffset.Load())
}

// LastStableOffset is what read_committed consumers may read up to, given
// the partition's high watermark hw: the smaller of hw and the first
// unstable offset, held further back by any transaction whose marker is
// not below hw yet (Kafka's rule: a transaction is stable only once its
// marker is replicated). Callers with a moving high watermark (leaders and
// followers) should call it as it moves, so ended transactions are
// forgotten.
func (l *Log) LastStableOffset(hw int64) int64 {
	lso := min(hw, l.FirstUnstableOffset())
	return max(l.producers.holdLastStable(lso, hw), l.logStartOffset.Load())
}

// HasOngoingTxn reports whether pid at epoch has an open transaction on
// this partition (a leader uses it to skip asking the coordinator again,
// KIP-890).
func (l *Log) HasOngoingTxn(pid int64, epoch int16) bool {
	return l.producers.hasOngoingTxn(pid, epoch)
}

// Producers lists the producers this partition remembers, by producer id.
func (l *Log) Producers() []ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProducerInfo, 0, len(l.producers.producers))
	for _, e := range l.producers.producers {
		out = append(out, ProducerInfo{
			ProducerID:       e.producerID,
			ProducerEpoch:    e.epoch,
			LastSequence:     e.lastSeq(),
			LastTimestamp:    e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch,
			TxnStartOffset:   e.currentTxnFirstOffset,
		})
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out
}

// AbortedTransactions returns the aborted transactions overlapping
// [from, upTo): LastOffset >= from and FirstOffset < upTo, in offset
// order, searching from the segment holding from onward (Kafka's
// collectAbortedTxns). Transactions whose marker is below the log start
// offset are never returned. Only in-memory entries are read.
func (l *Log) AbortedTransactions(from, upTo int64) ([]AbortedTxn, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	from = max(from, l.logStartOffset.Load())
	if from >= upTo {
		return nil, nil
	}
	i := max(sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > from })-1, 0)
	var out []AbortedTxn
	for ; i < len(l.segments); i++ {
		var done bool
		if out, done = l.segments[i].txnIndex.collect(from, upTo, out); done {
			break
		}
	}
	return out, nil
}
