package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/kafkad/kafkad/storage/codec"
)

// Byte offsets of the v2 batch header fields (see doc.go).
const (
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// logOverhead is baseOffset + batchLength: the bytes not counted by batchLength.
	logOverhead = 12
	// batchHeaderSize is everything before the first record.
	batchHeaderSize = 61
	// minBatchLength is the batchLength of a batch with no record bytes.
	minBatchLength = batchHeaderSize - logOverhead
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is a parsed v2 batch header.
type batchHeader struct {
	baseOffset      int64
	length          int32
	leaderEpoch     int32
	magic           int8
	crc             uint32
	attributes      int16
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	recordCount     int32
}

// parseBatchHeader reads the fixed header; b must hold batchHeaderSize bytes.
func parseBatchHeader(b []byte) batchHeader {
	_ = b[batchHeaderSize-1]
	return batchHeader{
		baseOffset:      int64(binary.BigEndian.Uint64(b)),
		length:          int32(binary.BigEndian.Uint32(b[offLength:])),
		leaderEpoch:     int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		magic:           int8(b[offMagic]),
		crc:             binary.BigEndian.Uint32(b[offCRC:]),
		attributes:      int16(binary.BigEndian.Uint16(b[offAttributes:])),
		lastOffsetDelta: int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		baseTimestamp:   int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		maxTimestamp:    int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		producerID:      int64(binary.BigEndian.Uint64(b[offProducerID:])),
		producerEpoch:   int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		baseSequence:    int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		recordCount:     int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
}

func (h *batchHeader) size() int64        { return logOverhead + int64(h.length) }
func (h *batchHeader) lastOffset() int64  { return h.baseOffset + int64(h.lastOffsetDelta) }
func (h *batchHeader) codec() codec.Codec { return codec.Codec(h.attributes & attrCodecMask) }
func (h *batchHeader) isControl() bool    { return h.attributes&attrControl != 0 }
func (h *batchHeader) isTransactional() bool {
	return h.attributes&attrTransactional != 0
}
func (h *batchHeader) logAppendTime() bool { return h.attributes&attrLogAppendTime != 0 }
func (h *batchHeader) hasProducerID() bool { return h.producerID >= 0 }
func (h *batchHeader) lastSequence() int32 {
	return incrementSequence(h.baseSequence, h.lastOffsetDelta)
}

// TransactionalProducer reads the producer of a record set whose first
// batch is transactional data (not a control batch); ok is false for
// anything else, a record set too short for a header included.
func TransactionalProducer(records []byte) (pid int64, epoch int16, ok bool) {
	if len(records) < batchHeaderSize {
		return 0, 0, false
	}
	h := parseBatchHeader(records)
	if !h.isTransactional() || h.isControl() {
		return 0, 0, false
	}
	return h.producerID, h.producerEpoch, true
}

// NextOffset is the offset after the last batch of data, whole batches
// as Log.Read returns them; -1 when data holds none.
func NextOffset(data []byte) int64 {
	next := int64(-1)
	for pos := 0; pos+batchHeaderSize <= len(data); {
		h := parseBatchHeader(data[pos:])
		if h.size() < batchHeaderSize {
			break // not a batch: stop rather than loop
		}
		next = h.lastOffset() + 1
		pos += int(h.size())
	}
	return next
}

// incrementSequence adds to a producer sequence number, wrapping to 0 after
// MaxInt32 as the Java client does.
func incrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// batchCRC is the CRC-32C from the attributes to the end of the batch.
func batchCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// setMaxTimestamp rewrites maxTimestamp and the timestamp-type bit and
// recomputes the CRC they are covered by.
func setMaxTimestamp(batch []byte, ts int64, logAppend bool) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:])
	if logAppend {
		attrs |= attrLogAppendTime
	} else {
		attrs &^= attrLogAppendTime
	}
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], batchCRC(batch))
}

// batchInfo is what validation learned about one batch of an append.
type batchInfo struct {
	pos  int // start within the appended buffer
	hdr  batchHeader
	size int
	// maxTimestamp is the largest record timestamp, as Kafka recomputes it
	// rather than trusting the header.
	maxTimestamp int64
}

// validator checks batches; scratch holds decompressed records between
// calls so validation allocates nothing once warm. Not safe for
// concurrent use: Log owns one under its append lock.
type validator struct {
	scratch []byte
	// decompressLimit bounds decompressed records (0 = codec default).
	decompressLimit int
}

// recordRules are the checks of Kafka's LogValidator that depend on the
// log's config and the leader's clock.
type recordRules struct {
	maxMessageBytes int32
	compact         bool // cleanup.policy has compact: every record needs a key
	// checkTimestamps is CreateTime: a record timestamp (other than -1)
	// must lie in [now-beforeMax, now+afterMax].
	checkTimestamps     bool
	now                 int64
	beforeMax, afterMax int64
}

func newRecordRules(cfg *Config, now int64) recordRules {
	return recordRules{
		maxMessageBytes: cfg.MaxMessageBytes,
		compact:         cfg.Compact,
		checkTimestamps: cfg.TimestampType == CreateTime,
		now:             now,
		beforeMax:       cfg.TimestampBeforeMaxMs,
		afterMax:        cfg.TimestampAfterMaxMs,
	}
}

// validate checks the batch at the start of buf: lengths, magic, size
// limit, CRC, header consistency and every record's framing, key and
// timestamp. It does not modify buf. It also returns the batch's records
// section, decompressed (into v.scratch, valid until the next call).
func (v *validator) validate(buf []byte, rules *recordRules) (batchInfo, []byte, error) {
	maxMessageBytes := rules.maxMessageBytes
	if len(buf) < offMagic+1 {
		return batchInfo{}, nil, fmt.Errorf("%w: %d bytes cannot hold a batch header", ErrCorruptMessage, len(buf))
	}
	if magic := int8(buf[offMagic]); magic != 2 {
		if magic == 0 || magic == 1 {
			return batchInfo{}, nil, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, magic)
		}
		return batchInfo{}, nil, fmt.Errorf("%w: unknown magic %d", ErrCorruptMessage, magic)
	}
	length := int32(binary.BigEndian.Uint32(buf[offLength:]))
	if length < minBatchLength {
		return batchInfo{}, nil, fmt.Errorf("%w: batch length %d below header size", ErrCorruptMessage, length)
	}
	size := logOverhead + int64(length)
	if size > int64(len(buf)) {
		return batchInfo{}, nil, fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorruptMessage, size, len(buf))
	}
	if size > int64(maxMessageBytes) {
		return batchInfo{}, nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, size, maxMessageBytes)
	}
	batch := buf[:size]
	hdr := parseBatchHeader(batch)
	if got := batchCRC(batch); got != hdr.crc {
		return batchInfo{}, nil, fmt.Errorf("%w: crc %08x, batch says %08x", ErrCorruptMessage, got, hdr.crc)
	}
	// Kafka's LogValidator rules for client batches.
	if hdr.recordCount <= 0 || hdr.lastOffsetDelta < 0 || int64(hdr.lastOffsetDelta)+1 != int64(hdr.recordCount) {
		return batchInfo{}, nil, fmt.Errorf("%w: record count %d with last offset delta %d", ErrInvalidRecord, hdr.recordCount, hdr.lastOffsetDelta)
	}
	if hdr.hasProducerID() && hdr.baseSequence < 0 {
		return batchInfo{}, nil, fmt.Errorf("%w: producer %d sent sequence %d", ErrInvalidRecord, hdr.producerID, hdr.baseSequence)
	}
	records := batch[batchHeaderSize:]
	if c := hdr.codec(); c != codec.None {
		if c > codec.Zstd {
			return batchInfo{}, nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, c)
		}
		var err error
		v.scratch, err = codec.DecompressLimit(c, records, v.scratch[:0], v.decompressLimit)
		if err != nil {
			return batchInfo{}, nil, fmt.Errorf("%w: %w", ErrCorruptMessage, err)
		}
		records = v.scratch
	}
	maxTs, err := checkRecords(records, &hdr, rules)
	if err != nil {
		return batchInfo{}, nil, err
	}
	return batchInfo{hdr: hdr, size: int(size), maxTimestamp: maxTs}, records, nil
}

// checkRecords walks every record, verifying framing, count and offset
// deltas, and the rules' keys and timestamps, and returns the largest
// record timestamp. Records breaking a rule are all listed in a
// *RecordsRefusedError, as Kafka's produce response lists them.
func checkRecords(records []byte, hdr *batchHeader, rules *recordRules) (int64, error) {
	it := recordIter{data: records}
	maxTs := int64(-1)
	var refused *RecordsRefusedError
	for i := int32(0); i < hdr.recordCount; i++ {
		rec, err := it.next()
		if err != nil {
			return 0, fmt.Errorf("%w: record %d: %w", ErrCorruptMessage, i, err)
		}
		if rec.offsetDelta != i {
			return 0, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, rec.offsetDelta)
		}
		ts := hdr.baseTimestamp + rec.timestampDelta
		maxTs = max(maxTs, ts)
		switch {
		case rules.compact && rec.nullKey:
			refused = refused.add(ErrInvalidRecord, i, "Compacted topic cannot accept message without key")
		case rules.checkTimestamps && ts != -1 && !rules.timestampInRange(ts):
			refused = refused.add(ErrInvalidTimestamp, i, fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				ts, i, satAdd(rules.now, -rules.beforeMax), satAdd(rules.now, rules.afterMax)))
		}
	}
	if it.pos != len(records) {
		return 0, fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorruptMessage, len(records)-it.pos, hdr.recordCount)
	}
	if refused != nil {
		return 0, refused
	}
	return maxTs, nil
}

// timestampInRange applies message.timestamp.before.max.ms and
// message.timestamp.after.max.ms; the unsigned differences cannot
// overflow whatever the producer sent.
func (r *recordRules) timestampInRange(ts int64) bool {
	if ts < r.now {
		return uint64(r.now-ts) <= uint64(r.beforeMax)
	}
	return uint64(ts-r.now) <= uint64(r.afterMax)
}

// satAdd is a+b clamped to the int64 range.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}
