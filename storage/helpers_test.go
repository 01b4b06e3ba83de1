package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/storage/codec"
)

// testRec is one record for the test batch builder.
type testRec struct {
	key, value []byte
	ts         int64
	headers    [][2][]byte
}

// spec describes a batch to build; newSpec fills the non-idempotent
// defaults.
type spec struct {
	codec         codec.Codec
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	recs          []testRec
	control       bool
	transactional bool
	// badMaxTimestamp writes this instead of the real max (0 = real).
	badMaxTimestamp int64
}

func newSpec(recs ...testRec) spec {
	return spec{producerID: -1, producerEpoch: -1, baseSequence: -1, recs: recs}
}

// recs makes n records with timestamps ts, ts+1, ...
func recs(n int, ts int64) []testRec {
	out := make([]testRec, n)
	for i := range out {
		out[i] = testRec{key: fmt.Appendf(nil, "k%d", i), value: fmt.Appendf(nil, "value-%d-%d", ts, i), ts: ts + int64(i)}
	}
	return out
}

func appendVarBytes(b, v []byte, null bool) []byte {
	if null {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// buildBatch encodes a v2 record batch the way Kafka clients do.
func buildBatch(t testing.TB, s spec) []byte {
	t.Helper()
	require.NotEmpty(t, s.recs)
	baseTs, maxTs := s.recs[0].ts, int64(-1)
	var records []byte
	for i, r := range s.recs {
		var body []byte
		body = append(body, 0)
		body = binary.AppendVarint(body, r.ts-baseTs)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, r.key, r.key == nil)
		body = appendVarBytes(body, r.value, r.value == nil)
		body = binary.AppendVarint(body, int64(len(r.headers)))
		for _, h := range r.headers {
			body = appendVarBytes(body, h[0], false)
			body = appendVarBytes(body, h[1], h[1] == nil)
		}
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
		maxTs = max(maxTs, r.ts)
	}
	if s.codec != codec.None {
		var err error
		records, err = codec.Compress(s.codec, records, nil)
		require.NoError(t, err)
	}
	if s.badMaxTimestamp != 0 {
		maxTs = s.badMaxTimestamp
	}
	attrs := int16(s.codec)
	if s.control {
		attrs |= attrControl
	}
	if s.transactional {
		attrs |= attrTransactional
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(records))
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[offLength:], uint32(batchHeaderSize-logOverhead+len(records)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(len(s.recs)-1))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(baseTs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(s.producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(s.producerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(s.baseSequence))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(len(s.recs)))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// plainBatch is an uncompressed, non-idempotent batch of n records.
func plainBatch(t testing.TB, n int, ts int64) []byte {
	return buildBatch(t, newSpec(recs(n, ts)...))
}

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	s := newSpec(recs(n, ts)...)
	s.producerID, s.producerEpoch, s.baseSequence = pid, epoch, seq
	return buildBatch(t, s)
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.RetentionMs = -1
	return cfg
}

// oneBatchPerSegment sets cfg.SegmentBytes so that every batch shaped
// like samples fills a segment alone: Kafka refuses an append larger than
// segment.bytes and rolls before one that does not fit.
func oneBatchPerSegment(t *testing.T, cfg *Config, samples ...[]byte) {
	t.Helper()
	lo, hi := 0, math.MaxInt
	for _, b := range samples {
		lo, hi = max(lo, len(b)), min(hi, 2*len(b))
	}
	require.Less(t, lo, hi, "no segment size holds exactly one of these batches")
	cfg.SegmentBytes = int64(lo)
}

// openTestLog opens a log in dir (a fresh temp dir when empty) and closes
// it at cleanup.
func openTestLog(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := Open(dir, cfg, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func mustAppend(t *testing.T, l *Log, batch []byte, now time.Time) AppendResult {
	t.Helper()
	res, err := l.Append(batch, AppendOptions{Now: now})
	require.NoError(t, err)
	return res
}

// crash simulates a process dying: files are closed without the flush,
// snapshot and clean-shutdown marker Close writes.
func crash(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segMu.Lock()
	defer l.segMu.Unlock()
	for _, s := range l.segments {
		_ = s.close()
	}
	l.segments = nil
	l.closed.Store(true)
}

// batchBases lists the base offsets of the batches in data.
func batchBases(t testing.TB, data []byte) []int64 {
	t.Helper()
	var out []int64
	for len(data) > 0 {
		require.GreaterOrEqual(t, len(data), batchHeaderSize)
		h := parseBatchHeader(data)
		require.LessOrEqual(t, h.size(), int64(len(data)))
		require.Equal(t, h.crc, batchCRC(data[:h.size()]), "crc of batch at %d", h.baseOffset)
		out = append(out, h.baseOffset)
		data = data[h.size():]
	}
	return out
}

func segmentBases(l *Log) []int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	out := make([]int64, len(l.segments))
	for i, s := range l.segments {
		out[i] = s.baseOffset
	}
	return out
}
