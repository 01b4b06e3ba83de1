package storage

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/storage/codec"
)

// The test builder must produce what real clients produce; kmsg (franz-go)
// parsing it is the check.
func TestBuilderMatchesKmsg(t *testing.T) {
	s := newSpec(testRec{key: []byte("k"), value: []byte("v"), ts: 1000, headers: [][2][]byte{{[]byte("h"), []byte("hv")}}},
		testRec{key: nil, value: nil, ts: 1005})
	b := buildBatch(t, s)

	var rb kmsg.RecordBatch
	require.NoError(t, rb.ReadFrom(b))
	assert.Equal(t, int8(2), rb.Magic)
	assert.Equal(t, int32(2), rb.NumRecords)
	assert.Equal(t, int64(1005), rb.MaxTimestamp)
	assert.Equal(t, uint32(rb.CRC), batchCRC(b))

	var r kmsg.Record
	require.NoError(t, r.ReadFrom(rb.Records))
	assert.Equal(t, "k", string(r.Key))
	assert.Equal(t, "hv", string(r.Headers[0].Value))
}

func TestValidateAcceptsAllCodecs(t *testing.T) {
	for _, c := range []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			s := newSpec(recs(20, 5000)...)
			s.codec = c
			var v validator
			info, _, err := v.validate(buildBatch(t, s), &recordRules{maxMessageBytes: 1 << 20})
			require.NoError(t, err)
			assert.Equal(t, int32(20), info.hdr.recordCount)
			assert.Equal(t, int64(5019), info.maxTimestamp)
		})
	}
}

func TestIncrementSequence(t *testing.T) {
	assert.Equal(t, int32(5), incrementSequence(2, 3))
	assert.Equal(t, int32(0), incrementSequence(2147483647, 1))
	assert.Equal(t, int32(2), incrementSequence(2147483646, 4))
}

func FuzzValidateBatch(f *testing.F) {
	f.Add(plainBatch(f, 3, 100))
	for _, c := range []codec.Codec{codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		s := newSpec(recs(4, 100)...)
		s.codec = c
		f.Add(buildBatch(f, s))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Fuzzed CRCs rarely match; fix them up half the time so the
		// record parser sees mutated input too.
		if len(b) >= batchHeaderSize && b[len(b)-1]&1 == 0 {
			n := logOverhead + int64(int32(binary.BigEndian.Uint32(b[offLength:])))
			if n >= batchHeaderSize && n <= int64(len(b)) {
				binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b[:n]))
			}
		}
		v := validator{decompressLimit: 1 << 20}
		info, _, err := v.validate(b, &recordRules{maxMessageBytes: 1 << 20})
		if err == nil {
			assert.LessOrEqual(t, info.size, len(b))
			assert.GreaterOrEqual(t, info.size, batchHeaderSize)
		}
	})
}

func TestTransactionalProducerAndNextOffset(t *testing.T) {
	txn := txnBatch(t, 42, 3, 0, 2, 10)
	pid, epoch, ok := TransactionalProducer(txn)
	require.True(t, ok)
	assert.Equal(t, int64(42), pid)
	assert.Equal(t, int16(3), epoch)
	_, _, ok = TransactionalProducer(plainBatch(t, 1, 1))
	assert.False(t, ok, "not transactional")
	_, _, ok = TransactionalProducer(txn[:30])
	assert.False(t, ok, "too short for a header")

	l := openTestLog(t, "", testConfig())
	mustAppend(t, l, plainBatch(t, 3, 1), time.Time{})
	mustAppend(t, l, txnBatch(t, 42, 3, 0, 2, 10), time.Time{})
	data, err := l.Read(0, 1<<20, true, l.LogEndOffset())
	require.NoError(t, err)
	assert.Equal(t, int64(5), NextOffset(data))
	assert.Equal(t, int64(-1), NextOffset(nil))
	broken := append([]byte(nil), data...)
	binary.BigEndian.PutUint32(broken[offLength:], 0xFFFFFFF0) // negative length
	assert.Equal(t, int64(-1), NextOffset(broken), "stops at a header that is no batch")
}
