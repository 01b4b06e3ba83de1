package storage

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/storage/codec"
)

var allCodecs = []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd}

func TestAppendAssignsOffsets(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	now := time.UnixMilli(10_000)

	res, err := l.Append(plainBatch(t, 3, 1000), AppendOptions{LeaderEpoch: 7, Now: now})
	require.NoError(t, err)
	assert.Equal(t, AppendResult{BaseOffset: 0, LastOffset: 2, LogAppendTime: -1, LogStartOffset: 0, NumRecords: 3}, res)

	// Several batches back to back in one append.
	multi := append(plainBatch(t, 2, 2000), plainBatch(t, 4, 3000)...)
	res = mustAppend(t, l, multi, now)
	assert.Equal(t, int64(3), res.BaseOffset)
	assert.Equal(t, int64(8), res.LastOffset)
	assert.Equal(t, int64(6), res.NumRecords)
	assert.Equal(t, int64(9), l.LogEndOffset())

	data, err := l.Read(0, 1<<20, false, l.LogEndOffset())
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 3, 5}, batchBases(t, data))
	assert.Equal(t, int32(7), int32(binary.BigEndian.Uint32(data[offLeaderEpoch:])))
	assert.Equal(t, multi, data[len(data)-len(multi):], "stored bytes are the appended bytes with offsets assigned")
	assert.Equal(t, int64(len(data)), l.Size())
}

func TestAppendReadBackEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, testConfig())
			var want []byte
			for i := range 5 {
				s := newSpec(recs(10, int64(1000*i))...)
				s.codec = c
				b := buildBatch(t, s)
				mustAppend(t, l, b, time.Time{})
				want = append(want, b...) // Append rewrote b in place
			}
			got, err := l.Read(0, 1<<20, false, l.LogEndOffset())
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "read back differs")

			require.NoError(t, l.Close())
			l2 := openTestLog(t, dir, testConfig())
			got, err = l2.Read(0, 1<<20, false, l2.LogEndOffset())
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "read back after reopen differs")
		})
	}
}

func TestLogAppendTime(t *testing.T) {
	cfg := testConfig()
	cfg.TimestampType = LogAppendTime
	l := openTestLog(t, "", cfg)
	now := time.UnixMilli(1_700_000_000_000)
	res := mustAppend(t, l, plainBatch(t, 2, 5), now)
	assert.Equal(t, now.UnixMilli(), res.LogAppendTime)

	data, err := l.Read(0, 1<<20, false, l.LogEndOffset())
	require.NoError(t, err)
	h := parseBatchHeader(data)
	assert.True(t, h.logAppendTime())
	assert.Equal(t, now.UnixMilli(), h.maxTimestamp)
	var v validator
	_, _, err = v.validate(data, &recordRules{maxMessageBytes: 1 << 20})
	require.NoError(t, err, "crc was recomputed")
}

func TestCreateTimeMaxTimestampIsRecomputed(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	s := newSpec(recs(3, 500)...)
	s.badMaxTimestamp = 99999
	mustAppend(t, l, buildBatch(t, s), time.Time{})
	data, err := l.Read(0, 1<<20, false, l.LogEndOffset())
	require.NoError(t, err)
	assert.Equal(t, int64(502), parseBatchHeader(data).maxTimestamp)
	var v validator
	_, _, err = v.validate(data, &recordRules{maxMessageBytes: 1 << 20})
	require.NoError(t, err)
}

func TestAppendValidation(t *testing.T) {
	good := func() []byte { return plainBatch(t, 3, 100) }
	cases := []struct {
		name   string
		batch  func() []byte
		maxMsg int32
		want   error
	}{
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 0xff; return b }, 0, ErrCorruptMessage},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, 0, ErrUnsupportedMagic},
		{"magic 0", func() []byte { b := good(); b[offMagic] = 0; return b }, 0, ErrUnsupportedMagic},
		{"magic 3", func() []byte { b := good(); b[offMagic] = 3; return b }, 0, ErrCorruptMessage},
		{"truncated", func() []byte { b := good(); return b[:len(b)-4] }, 0, ErrCorruptMessage},
		{"tiny", func() []byte { return good()[:10] }, 0, ErrCorruptMessage},
		{"length below header", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offLength:], 10)
			return b
		}, 0, ErrCorruptMessage},
		{"oversize", good, 50, ErrMessageTooLarge},
		{"empty", func() []byte { return nil }, 0, ErrInvalidRecord},
		{"count mismatch", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offRecordCount:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
			binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
			return b
		}, 0, ErrCorruptMessage},
		{"last offset delta mismatch", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 5)
			binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
			return b
		}, 0, ErrInvalidRecord},
		{"record length overruns", func() []byte {
			b := good()
			b[batchHeaderSize] = 0x7e // zigzag 63: longer than the records
			binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
			return b
		}, 0, ErrCorruptMessage},
		{"second batch truncated", func() []byte {
			second := good()
			return append(good(), second[:len(second)-1]...)
		}, 0, ErrCorruptMessage},
		{"mixed producer ids", func() []byte {
			return append(idemBatch(t, 1, 0, 0, 1, 100), idemBatch(t, 2, 0, 0, 1, 100)...)
		}, 0, ErrInvalidRecord},
		{"idempotent without sequence", func() []byte { return idemBatch(t, 1, 0, -1, 1, 100) }, 0, ErrInvalidRecord},
		{"corrupt compressed data", func() []byte {
			s := newSpec(recs(3, 100)...)
			s.codec = codec.Zstd
			b := buildBatch(t, s)
			b[batchHeaderSize+5] ^= 0xff
			binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
			return b
		}, 0, ErrCorruptMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			l := openTestLog(t, "", cfg)
			mustAppend(t, l, good(), time.Time{})
			if tc.maxMsg != 0 {
				cfg.MaxMessageBytes = tc.maxMsg
				l.SetConfig(cfg)
			}
			size := l.Size()
			_, err := l.Append(tc.batch(), AppendOptions{})
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, int64(3), l.LogEndOffset(), "nothing appended")
			assert.Equal(t, size, l.Size(), "nothing written")
		})
	}
}

// As in Kafka, an append larger than segment.bytes is refused: no
// segment could hold it. Exactly segment.bytes is taken.
func TestAppendLargerThanSegmentRefused(t *testing.T) {
	cfg := testConfig()
	l := openTestLog(t, "", cfg)
	two := append(plainBatch(t, 3, 100), plainBatch(t, 3, 200)...)
	cfg.SegmentBytes = int64(len(two)) - 1
	l.SetConfig(cfg)
	_, err := l.Append(two, AppendOptions{})
	require.ErrorIs(t, err, ErrRecordListTooLarge)
	assert.Zero(t, l.LogEndOffset())
	assert.Zero(t, l.Size())

	cfg.SegmentBytes = int64(len(two))
	l.SetConfig(cfg)
	mustAppend(t, l, append(plainBatch(t, 3, 100), plainBatch(t, 3, 200)...), time.Time{})
	assert.Equal(t, int64(6), l.LogEndOffset())
}

func TestReadRules(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	var sizes []int
	for i := range 4 { // batches at offsets 0, 3, 6, 9; LEO 12
		b := plainBatch(t, 3, int64(i*10))
		sizes = append(sizes, len(b))
		mustAppend(t, l, b, time.Time{})
	}
	one := int32(sizes[0])
	cases := []struct {
		name     string
		offset   int64
		maxBytes int32
		minOne   bool
		upTo     int64
		want     []int64
		wantErr  error
	}{
		{"all", 0, 1 << 20, false, 12, []int64{0, 3, 6, 9}, nil},
		{"middle of batch starts at containing batch", 4, 1 << 20, false, 12, []int64{3, 6, 9}, nil},
		{"last offset of batch", 5, 1 << 20, false, 12, []int64{3, 6, 9}, nil},
		{"maxBytes fits two", 0, 2*one + 5, false, 12, []int64{0, 3}, nil},
		{"maxBytes fits none", 0, one - 1, false, 12, nil, nil},
		{"minOne returns one oversize batch", 0, 1, true, 12, []int64{0}, nil},
		{"minOne with room for two", 0, one + int32(sizes[1]), true, 12, []int64{0, 3}, nil},
		{"zero maxBytes", 0, 0, false, 12, nil, nil},
		{"upTo stops at high watermark", 0, 1 << 20, false, 6, []int64{0, 3}, nil},
		{"upTo inside range start", 6, 1 << 20, true, 6, nil, nil},
		{"upTo beyond LEO is clamped", 0, 1 << 20, false, 100, []int64{0, 3, 6, 9}, nil},
		{"at LEO is empty", 12, 1 << 20, true, 12, nil, nil},
		{"past LEO", 13, 1 << 20, true, 12, nil, ErrOffsetOutOfRange},
		{"negative", -1, 1 << 20, true, 12, nil, ErrOffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := l.Read(tc.offset, tc.maxBytes, tc.minOne, tc.upTo)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, batchBases(t, data))
			if !tc.minOne {
				assert.LessOrEqual(t, len(data), int(tc.maxBytes))
			}
		})
	}
}

func TestRollBySize(t *testing.T) {
	cfg := testConfig()
	b := plainBatch(t, 5, 0)
	cfg.SegmentBytes = int64(len(b)*3 + 1) // three batches fit
	l := openTestLog(t, "", cfg)
	for i := range 7 {
		mustAppend(t, l, plainBatch(t, 5, int64(i)), time.Time{})
	}
	assert.Equal(t, []int64{0, 15, 30}, segmentBases(l))
	data, err := l.Read(0, 1<<20, false, l.LogEndOffset())
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 5, 10, 15, 20, 25, 30}, batchBases(t, data), "reads span segments")
	data, err = l.Read(17, 1<<20, false, l.LogEndOffset())
	require.NoError(t, err)
	assert.Equal(t, []int64{15, 20, 25, 30}, batchBases(t, data))
}

func TestRollByTime(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	l := openTestLog(t, "", cfg)
	base := time.UnixMilli(1_000_000)
	mustAppend(t, l, plainBatch(t, 1, base.UnixMilli()), base)
	mustAppend(t, l, plainBatch(t, 1, base.UnixMilli()+500), base.Add(500*time.Millisecond))
	assert.Equal(t, []int64{0}, segmentBases(l))
	// An append whose timestamp is segment.ms past the first batch rolls.
	later := base.Add(1001 * time.Millisecond)
	mustAppend(t, l, plainBatch(t, 1, later.UnixMilli()), later)
	assert.Equal(t, []int64{0, 2}, segmentBases(l))

	// MaybeRoll rolls an idle segment once it is old enough.
	require.NoError(t, l.MaybeRoll(later.Add(500*time.Millisecond)))
	assert.Equal(t, []int64{0, 2}, segmentBases(l))
	require.NoError(t, l.MaybeRoll(time.Now().Add(time.Hour)))
	assert.Equal(t, []int64{0, 2, 3}, segmentBases(l))
	// An empty active segment never rolls.
	require.NoError(t, l.MaybeRoll(time.Now().Add(2*time.Hour)))
	assert.Equal(t, []int64{0, 2, 3}, segmentBases(l))
}

func TestRollByIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 0 // an entry for every batch after the first
	cfg.SegmentIndexBytes = 32 // 4 offset entries, 2 time entries
	l := openTestLog(t, "", cfg)
	for i := range 10 {
		mustAppend(t, l, plainBatch(t, 1, int64(1000+i)), time.Time{})
	}
	// Time index (2 entries) fills first: entries at batches 1 and 2,
	// so the fourth batch starts a new segment.
	assert.Equal(t, []int64{0, 3, 6, 9}, segmentBases(l))
	for off := range int64(10) {
		data, err := l.Read(off, 1<<20, false, l.LogEndOffset())
		require.NoError(t, err)
		assert.Equal(t, off, batchBases(t, data)[0])
	}
}

// Reads from every offset of many small batches over several segments
// must start with the batch holding that offset, whatever the index says.
func TestIndexLookup(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 200
	cfg.SegmentBytes = 1500
	l := openTestLog(t, "", cfg)
	var starts []int64
	for i := range 60 {
		n := 1 + i%4
		res := mustAppend(t, l, plainBatch(t, n, int64(i)), time.Time{})
		starts = append(starts, res.BaseOffset)
	}
	require.Greater(t, len(segmentBases(l)), 2)
	leo := l.LogEndOffset()
	for off := range leo {
		want := starts[0]
		for _, s := range starts {
			if s <= off {
				want = s
			}
		}
		data, err := l.Read(off, 1, true, leo)
		require.NoError(t, err)
		require.Equal(t, []int64{want}, batchBases(t, data), "offset %d", off)
	}
}

func TestRetentionByTime(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 10_000
	oneBatchPerSegment(t, &cfg, plainBatch(t, 2, 0), plainBatch(t, 2, 3000))
	l := openTestLog(t, "", cfg)
	for i := range 4 {
		mustAppend(t, l, plainBatch(t, 2, int64(i*1000)), time.Time{})
	}
	require.Equal(t, []int64{0, 2, 4, 6}, segmentBases(l))

	n, err := l.EnforceRetention(time.UnixMilli(11_500)) // segments with max ts 1 and 1001 expire
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int64{4, 6}, segmentBases(l))
	assert.Equal(t, int64(4), l.LogStartOffset())
	_, err = l.Read(2, 1<<20, false, 8)
	require.ErrorIs(t, err, ErrOffsetOutOfRange)

	// Everything expired: the active segment goes too, after a roll.
	n, err = l.EnforceRetention(time.UnixMilli(100_000))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int64{8}, segmentBases(l))
	assert.Equal(t, int64(8), l.LogStartOffset())
	assert.Equal(t, int64(8), l.LogEndOffset())
	res := mustAppend(t, l, plainBatch(t, 1, 200_000), time.Time{})
	assert.Equal(t, int64(8), res.BaseOffset)
}

// TestCompactOnlyKeepsEverything: cleanup.policy=compact alone turns
// time and size retention off, as in Kafka (a compacted topic is never
// deleted by age or size).
func TestCompactOnlyKeepsEverything(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs, cfg.RetentionBytes = 1, 1
	oneBatchPerSegment(t, &cfg, plainBatch(t, 2, 0), plainBatch(t, 2, 2000))
	cfg.CompactOnly = true
	l := openTestLog(t, "", cfg)
	for i := range 3 {
		mustAppend(t, l, plainBatch(t, 2, int64(i*1000)), time.Time{})
	}
	n, err := l.EnforceRetention(time.UnixMilli(1_000_000))
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	assert.Equal(t, []int64{0, 2, 4}, segmentBases(l))
	assert.Equal(t, int64(0), l.LogStartOffset())

	cfg.CompactOnly = false // cleanup.policy=compact,delete: retention applies
	l.SetConfig(cfg)
	n, err = l.EnforceRetention(time.UnixMilli(1_000_000))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestRetentionByBytes(t *testing.T) {
	cfg := testConfig()
	b := plainBatch(t, 2, 0)
	oneBatchPerSegment(t, &cfg, b)
	// Kafka deletes whole segments only while what stays is still at
	// least retention.bytes.
	cfg.RetentionBytes = int64(2 * len(b))
	l := openTestLog(t, "", cfg)
	for i := range 5 {
		mustAppend(t, l, plainBatch(t, 2, int64(i)), time.Time{})
	}
	n, err := l.EnforceRetention(time.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, []int64{6, 8}, segmentBases(l))
	assert.Equal(t, int64(6), l.LogStartOffset())
	assert.Equal(t, cfg.RetentionBytes, l.Size())
}

func TestDeleteRecordsBeforeSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	oneBatchPerSegment(t, &cfg, plainBatch(t, 3, 0))
	l := openTestLog(t, dir, cfg)
	for i := range 4 {
		mustAppend(t, l, plainBatch(t, 3, int64(i)), time.Time{}) // segments 0,3,6,9
	}
	_, err := l.DeleteRecordsBefore(13)
	require.ErrorIs(t, err, ErrOffsetOutOfRange)

	start, err := l.DeleteRecordsBefore(7)
	require.NoError(t, err)
	assert.Equal(t, int64(7), start)
	assert.Equal(t, []int64{6, 9}, segmentBases(l))
	_, err = l.Read(6, 1<<20, false, 12)
	require.ErrorIs(t, err, ErrOffsetOutOfRange)
	data, err := l.Read(7, 1<<20, false, 12)
	require.NoError(t, err)
	assert.Equal(t, []int64{6, 9}, batchBases(t, data), "the batch holding the start offset is returned whole")

	start, err = l.DeleteRecordsBefore(2)
	require.NoError(t, err)
	assert.Equal(t, int64(7), start, "never moves backwards")

	require.NoError(t, l.Close())
	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, int64(7), l2.LogStartOffset())
	assert.Equal(t, int64(12), l2.LogEndOffset())

	// Moving to the log end keeps the (now empty-of-readable-data) active segment.
	start, err = l2.DeleteRecordsBefore(12)
	require.NoError(t, err)
	assert.Equal(t, int64(12), start)
	data, err = l2.Read(12, 1<<20, false, 12)
	require.NoError(t, err)
	assert.Empty(t, data)
}

func TestOffsetForTimestamp(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.IndexIntervalBytes = 1
			cfg.SegmentBytes = 400
			l := openTestLog(t, "", cfg)
			// Batch i holds 5 records with timestamps 1000*i + {0,2,4,6,8}
			// (out of order inside, to test record precision).
			for i := range 12 {
				base := int64(1000 * (i + 1))
				s := newSpec(
					testRec{value: []byte("a"), ts: base + 4},
					testRec{value: []byte("b"), ts: base},
					testRec{value: []byte("c"), ts: base + 8},
					testRec{value: []byte("d"), ts: base + 2},
					testRec{value: []byte("e"), ts: base + 6},
				)
				s.codec = c
				mustAppend(t, l, buildBatch(t, s), time.Time{})
			}
			require.Greater(t, len(segmentBases(l)), 1)
			cases := []struct {
				ts, wantOff, wantTs int64
				found               bool
			}{
				{0, 0, 1004, true},       // before everything: first record
				{1004, 0, 1004, true},    // exact
				{1005, 2, 1008, true},    // first record >= ts is the third one
				{1009, 5, 2004, true},    // next batch
				{7003, 30, 7004, true},   // offset 30 = batch 6, first record ts 7004
				{7007, 32, 7008, true},   // record 2 of batch 6
				{12008, 57, 12008, true}, // last batch's max
				{12009, -1, -1, false},
			}
			for _, tc := range cases {
				off, ts, found, err := l.OffsetForTimestamp(tc.ts)
				require.NoError(t, err)
				assert.Equal(t, tc.found, found, "ts %d", tc.ts)
				if tc.found {
					assert.Equal(t, tc.wantOff, off, "ts %d", tc.ts)
					assert.Equal(t, tc.wantTs, ts, "ts %d", tc.ts)
				}
			}
			off, ts, err := l.MaxTimestamp()
			require.NoError(t, err)
			assert.Equal(t, int64(57), off)
			assert.Equal(t, int64(12008), ts)
		})
	}
}

func TestMaxTimestamp(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	off, ts, err := l.MaxTimestamp()
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, -1}, []int64{off, ts})

	mustAppend(t, l, buildBatch(t, newSpec(testRec{ts: 50}, testRec{ts: 900}, testRec{ts: 100})), time.Time{})
	mustAppend(t, l, buildBatch(t, newSpec(testRec{ts: 300}, testRec{ts: 900})), time.Time{})
	off, ts, err = l.MaxTimestamp()
	require.NoError(t, err)
	assert.Equal(t, int64(1), off, "the earliest record with the largest timestamp")
	assert.Equal(t, int64(900), ts)

	cfg := testConfig()
	cfg.TimestampType = LogAppendTime
	l.SetConfig(cfg)
	mustAppend(t, l, plainBatch(t, 3, 1), time.UnixMilli(5000))
	off, ts, err = l.MaxTimestamp()
	require.NoError(t, err)
	assert.Equal(t, int64(5), off)
	assert.Equal(t, int64(5000), ts)
	assert.Equal(t, cfg, l.Config())
}

// Readers running alongside appends and rolls must only ever see whole,
// valid batches in offset order.
func TestConcurrentAppendAndRead(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	cfg.IndexIntervalBytes = 100
	l := openTestLog(t, "", cfg)
	const writers, perWriter = 2, 150
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := l.Append(plainBatch(t, 2, int64(i)), AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				leo := l.LogEndOffset()
				data, err := l.Read(0, 1<<16, false, leo)
				if err != nil {
					t.Error(err)
					return
				}
				prev := int64(-1)
				for len(data) > 0 {
					h := parseBatchHeader(data)
					if h.baseOffset <= prev || h.crc != batchCRC(data[:h.size()]) || h.baseOffset >= leo {
						t.Errorf("bad batch at %d after %d", h.baseOffset, prev)
						return
					}
					prev = h.baseOffset
					data = data[h.size():]
				}
				_, _, _, _ = l.OffsetForTimestamp(50)
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	assert.Equal(t, int64(writers*perWriter*2), l.LogEndOffset())
}

func TestClosedLog(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testConfig(), testLogger(t))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "close is idempotent")
	_, err = l.Append(plainBatch(t, 1, 0), AppendOptions{})
	assert.ErrorIs(t, err, ErrClosed)
	_, err = l.Read(0, 100, true, 0)
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, l.Delete())
	assert.NoDirExists(t, dir)
}

func TestFlushPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 3
	l := openTestLog(t, "", cfg)
	mustAppend(t, l, plainBatch(t, 2, 1), time.Time{})
	l.mu.Lock()
	assert.Equal(t, int64(2), l.unflushed)
	l.mu.Unlock()
	mustAppend(t, l, plainBatch(t, 1, 1), time.Time{})
	l.mu.Lock()
	assert.Equal(t, int64(0), l.unflushed, "flushed after flush.messages records")
	l.mu.Unlock()

	cfg.FlushMessages = 100
	cfg.FlushMs = 1000
	l.SetConfig(cfg)
	mustAppend(t, l, plainBatch(t, 1, 1), time.Time{})
	require.NoError(t, l.maybeFlushByTime(time.Now()))
	l.mu.Lock()
	assert.Equal(t, int64(1), l.unflushed, "flush.ms not reached")
	l.mu.Unlock()
	require.NoError(t, l.maybeFlushByTime(time.Now().Add(2*time.Second)))
	l.mu.Lock()
	assert.Equal(t, int64(0), l.unflushed)
	l.mu.Unlock()
}
