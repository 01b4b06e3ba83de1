package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/storage/codec"
)

// decodedBatch is a stored batch with its records section decompressed.
type decodedBatch struct {
	hdr     batchHeader
	records []byte
}

func decodeAll(t *testing.T, data []byte) []decodedBatch {
	t.Helper()
	var out []decodedBatch
	for len(data) > 0 {
		h := parseBatchHeader(data)
		b := data[:h.size()]
		require.Equal(t, h.crc, batchCRC(b), "crc of batch at %d", h.baseOffset)
		recs, err := codec.Decompress(h.codec(), b[batchHeaderSize:], nil)
		require.NoError(t, err)
		out = append(out, decodedBatch{h, recs})
		data = data[h.size():]
	}
	return out
}

// compression.type recompresses a leader's batches whose codec differs,
// keeping every header field but the length, codec bits and CRC, and the
// record bytes themselves.
func TestAppendRecompresses(t *testing.T) {
	for _, from := range allCodecs {
		for _, to := range []Compression{CompressionProducer, CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
			t.Run(from.String()+"->"+to.String(), func(t *testing.T) {
				cfg := testConfig()
				cfg.Compression = to
				l := openTestLog(t, "", cfg)
				s := newSpec(recs(20, 1000)...)
				s.codec = from
				s.producerID, s.producerEpoch, s.baseSequence = 9, 2, 0
				s.recs[3].headers = [][2][]byte{{[]byte("h"), []byte("v")}}
				s.recs[4].value = nil
				in := buildBatch(t, s)
				want := decodeAll(t, in)[0]
				// A second, already-matching batch after it is kept as is.
				s2 := newSpec(recs(2, 2000)...)
				s2.codec = from
				s2.producerID, s2.producerEpoch, s2.baseSequence = 9, 2, 20
				in = append(in, buildBatch(t, s2)...)

				res, err := l.Append(in, AppendOptions{LeaderEpoch: 4})
				require.NoError(t, err)
				assert.Equal(t, int64(21), res.LastOffset)

				got := decodeAll(t, readAll(t, l))
				require.Len(t, got, 2)
				wantCodec := from
				if c, ok := to.target(); ok {
					wantCodec = c
				}
				h := got[0].hdr
				assert.Equal(t, wantCodec, h.codec())
				assert.Equal(t, want.records, got[0].records, "record bytes")
				assert.Equal(t, int64(0), h.baseOffset)
				assert.Equal(t, int32(4), h.leaderEpoch)
				assert.Equal(t, want.hdr.baseTimestamp, h.baseTimestamp)
				assert.Equal(t, want.hdr.maxTimestamp, h.maxTimestamp)
				assert.Equal(t, int64(9), h.producerID)
				assert.Equal(t, int16(2), h.producerEpoch)
				assert.Equal(t, int32(0), h.baseSequence)
				assert.Equal(t, int32(20), h.recordCount)
				assert.Equal(t, wantCodec, got[1].hdr.codec())
				assert.Equal(t, int64(20), got[1].hdr.baseOffset)

				// The producer state saw the batches: a retry is a duplicate.
				res, err = l.Append(buildBatch(t, s2), AppendOptions{})
				require.NoError(t, err)
				assert.True(t, res.Duplicate)
			})
		}
	}
}

// A batch that outgrows max.message.bytes once recompressed is refused.
func TestRecompressedBatchTooLarge(t *testing.T) {
	cfg := testConfig()
	cfg.Compression = CompressionNone
	in := buildBatch(t, spec{codec: codec.Zstd, producerID: -1, producerEpoch: -1, baseSequence: -1, recs: recs(200, 1)})
	cfg.MaxMessageBytes = int32(len(in)) + 10
	l := openTestLog(t, "", cfg)
	_, err := l.Append(in, AppendOptions{})
	require.ErrorIs(t, err, ErrMessageTooLarge)
	assert.Equal(t, int64(0), l.LogEndOffset())
}

// Followers store the leader's bytes, whatever their compression.type.
func TestReplicaAppendDoesNotRecompress(t *testing.T) {
	cfg := testConfig()
	cfg.Compression = CompressionZstd
	l := openTestLog(t, "", cfg)
	b := plainBatch(t, 5, 10)
	_, err := l.AppendReplica(b)
	require.NoError(t, err)
	assert.Equal(t, b, readAll(t, l))
}

func TestCompactedTopicRefusesNullKeys(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.Compact = true
			l := openTestLog(t, "", cfg)
			s := newSpec(recs(5, 10)...)
			s.codec = c
			s.recs[1].key, s.recs[3].key = nil, nil
			_, err := l.Append(buildBatch(t, s), AppendOptions{})
			require.ErrorIs(t, err, ErrInvalidRecord)
			var refused *RecordsRefusedError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, []int32{1, 3}, recordIndexes(refused))
			assert.Equal(t, int64(0), l.LogEndOffset())

			// Keys everywhere (a tombstone included) are accepted.
			s = newSpec(recs(5, 10)...)
			s.codec = c
			s.recs[2].value = nil
			mustAppend(t, l, buildBatch(t, s), time.Now())
		})
	}
}

func recordIndexes(e *RecordsRefusedError) []int32 {
	var out []int32
	for _, r := range e.Records {
		out = append(out, r.Index)
	}
	return out
}

func TestTimestampBounds(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ms := now.UnixMilli()
	cases := []struct {
		name          string
		before, after int64
		tsType        TimestampType
		ts            []int64
		refused       []int32 // nil: accepted
	}{
		{"defaults: any age, up to an hour ahead", DefaultConfig().TimestampBeforeMaxMs, DefaultConfig().TimestampAfterMaxMs, CreateTime, []int64{0, ms + 3600000}, nil},
		{"defaults: not more than an hour ahead", DefaultConfig().TimestampBeforeMaxMs, DefaultConfig().TimestampAfterMaxMs, CreateTime, []int64{0, ms + 3600000 + 60000}, []int32{1}},
		{"within both bounds", 1000, 1000, CreateTime, []int64{ms - 1000, ms, ms + 1000}, nil},
		{"too old", 1000, 1000, CreateTime, []int64{ms, ms - 1001}, []int32{1}},
		{"too new", 1000, 1000, CreateTime, []int64{ms + 1001, ms}, []int32{0}},
		{"no timestamp is not checked", 0, 0, CreateTime, []int64{-1, -1}, nil},
		{"not checked with LogAppendTime", 0, 0, LogAppendTime, []int64{0, ms + 1e9}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TimestampBeforeMaxMs, cfg.TimestampAfterMaxMs, cfg.TimestampType = tc.before, tc.after, tc.tsType
			l := openTestLog(t, "", cfg)
			rs := make([]testRec, len(tc.ts))
			for i, ts := range tc.ts {
				rs[i] = testRec{key: []byte("k"), value: []byte("v"), ts: ts}
			}
			_, err := l.Append(buildBatch(t, newSpec(rs...)), AppendOptions{Now: now})
			if tc.refused == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidTimestamp)
			var refused *RecordsRefusedError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, tc.refused, recordIndexes(refused))
			assert.Equal(t, int64(0), l.LogEndOffset())
		})
	}
}

// segment.jitter.ms: each segment rolls a random jitter, fixed when it
// is created, before segment.ms.
func TestSegmentJitter(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 100_000
	cfg.SegmentJitterMs = 500_000 // bounded by segment.ms
	l := openTestLog(t, "", cfg)
	t0 := time.UnixMilli(1_700_000_000_000)
	mustAppend(t, l, plainBatch(t, 1, t0.UnixMilli()), t0)
	seen := map[int64]bool{}
	for range 20 {
		seg := l.activeSegment()
		j := seg.rollJitterMs
		require.GreaterOrEqual(t, j, int64(0))
		require.Less(t, j, cfg.SegmentMs)
		seen[j] = true
		// Exactly segment.ms - jitter after the segment's first batch: no
		// roll yet; a millisecond later the batch starts a new segment.
		at := time.UnixMilli(seg.rollingBasedTimestamp + cfg.SegmentMs - j)
		mustAppend(t, l, plainBatch(t, 1, at.UnixMilli()), at)
		require.Same(t, seg, l.activeSegment(), "rolled before segment.ms - jitter")
		at = at.Add(time.Millisecond)
		mustAppend(t, l, plainBatch(t, 1, at.UnixMilli()), at)
		require.NotSame(t, seg, l.activeSegment(), "no roll after segment.ms - jitter")
	}
	assert.Greater(t, len(seen), 1, "every segment drew the same jitter")

	cfg.SegmentJitterMs = 0
	assert.Equal(t, int64(0), cfg.randomSegmentJitter())
}

// preallocate grows a new active segment to segment.bytes; rolling and
// closing cut it back, and recovery after a crash cuts the zero tail.
func TestPreallocate(t *testing.T) {
	cfg := testConfig()
	cfg.Preallocate = true
	cfg.SegmentBytes = 64 << 10
	dir := t.TempDir()
	l, err := Open(dir, cfg, testLogger(t))
	require.NoError(t, err)
	fileSize := func(base int64) int64 {
		st, err := os.Stat(segmentPath(dir, base, logSuffix))
		require.NoError(t, err)
		return st.Size()
	}
	assert.Equal(t, cfg.SegmentBytes, fileSize(0))
	b := plainBatch(t, 10, 1)
	mustAppend(t, l, b, time.Now())
	assert.Equal(t, cfg.SegmentBytes, fileSize(0))
	assert.Equal(t, int64(len(b)), l.Size())
	require.NoError(t, l.roll(time.Now()))
	assert.Equal(t, int64(len(b)), fileSize(0), "roll trims")
	assert.Equal(t, cfg.SegmentBytes, fileSize(10))
	mustAppend(t, l, plainBatch(t, 5, 2), time.Now())
	require.NoError(t, l.Close())
	assert.Less(t, fileSize(10), cfg.SegmentBytes, "close trims")

	l, err = Open(dir, cfg, testLogger(t))
	require.NoError(t, err)
	assert.Equal(t, int64(15), l.LogEndOffset())
	require.NoError(t, l.roll(time.Now()))
	mustAppend(t, l, plainBatch(t, 3, 3), time.Now())
	crash(l)
	assert.Equal(t, cfg.SegmentBytes, fileSize(15))

	l = openTestLog(t, dir, cfg)
	assert.Equal(t, int64(18), l.LogEndOffset())
	assert.Less(t, fileSize(15), cfg.SegmentBytes, "recovery cuts the zero tail")
	data := readAll(t, l)
	assert.Equal(t, []int64{0, 10, 15}, batchBases(t, data))
	mustAppend(t, l, plainBatch(t, 1, 4), time.Now())
	assert.Equal(t, int64(19), l.LogEndOffset())
}

// Recompression allocates nothing per record once its buffers are warm.
func TestRecompressAllocationsIndependentOfRecordCount(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, to := range []Compression{CompressionGzip, CompressionLZ4, CompressionZstd, CompressionNone} {
		t.Run(to.String(), func(t *testing.T) {
			allocs := func(n int) float64 {
				cfg := testConfig()
				cfg.Compression = to
				l := openTestLog(t, "", cfg)
				s := newSpec(recs(n, 1)...)
				s.codec = codec.Snappy
				b := buildBatch(t, s)
				in := make([]byte, len(b))
				return testing.AllocsPerRun(20, func() {
					copy(in, b)
					if _, err := l.Append(in, AppendOptions{}); err != nil {
						t.Fatal(err)
					}
				})
			}
			small, large := allocs(10), allocs(1000)
			assert.LessOrEqual(t, large, small+2, "allocs for 10 records %v, for 1000 %v", small, large)
		})
	}
}

// file.delete.delay.ms: a removed segment's files are renamed *.deleted
// and deleted once the delay is over (or on the next Open); with 0 they
// go at once.
func TestFileDeleteDelay(t *testing.T) {
	cfg := testConfig()
	cfg.FileDeleteDelayMs = 60_000
	dir := t.TempDir()
	l, err := Open(dir, cfg, testLogger(t))
	require.NoError(t, err)
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	mustAppend(t, l, plainBatch(t, 5, 1), time.Now())
	require.NoError(t, l.roll(time.Now()))
	mustAppend(t, l, plainBatch(t, 5, 2), time.Now())
	start := time.Now()
	_, err = l.DeleteRecordsBefore(5)
	require.NoError(t, err)
	seg := "00000000000000000000"
	assert.False(t, exists(seg+".log"))
	assert.True(t, exists(seg+".log.deleted"))
	assert.True(t, exists(seg+".index.deleted"))
	assert.Equal(t, []int64{5}, segmentBases(l))

	require.NoError(t, l.deleteRetired(start.Add(59*time.Second)))
	assert.True(t, exists(seg+".log.deleted"), "deleted before the delay")
	require.NoError(t, l.deleteRetired(start.Add(61*time.Second)))
	assert.False(t, exists(seg+".log.deleted"))
	assert.False(t, exists(seg+".timeindex.deleted"))

	// Left over by a stop: gone on the next Open.
	require.NoError(t, l.roll(time.Now()))
	mustAppend(t, l, plainBatch(t, 1, 3), time.Now())
	_, err = l.DeleteRecordsBefore(10)
	require.NoError(t, err)
	assert.True(t, exists("00000000000000000005.log.deleted"))
	require.NoError(t, l.Close())
	l = openTestLog(t, dir, cfg)
	assert.False(t, exists("00000000000000000005.log.deleted"))
	assert.Equal(t, int64(10), l.LogStartOffset())

	// 0: at once.
	cfg.FileDeleteDelayMs = 0
	l.SetConfig(cfg)
	require.NoError(t, l.roll(time.Now()))
	mustAppend(t, l, plainBatch(t, 1, 4), time.Now())
	_, err = l.DeleteRecordsBefore(11)
	require.NoError(t, err)
	assert.False(t, exists("00000000000000000010.log"))
	assert.False(t, exists("00000000000000000010.log.deleted"))
}
