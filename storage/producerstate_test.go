package storage

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdempotentDuplicate(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	mustAppend(t, l, plainBatch(t, 2, 1), time.Time{}) // offsets 0-1 from someone else
	first := mustAppend(t, l, idemBatch(t, 7, 0, 0, 3, 10), time.Time{})
	second := mustAppend(t, l, idemBatch(t, 7, 0, 3, 2, 20), time.Time{})
	size, leo := l.Size(), l.LogEndOffset()

	for _, tc := range []struct {
		name string
		seq  int32
		n    int
		want AppendResult
	}{
		{"retry of the first", 0, 3, first},
		{"retry of the latest", 3, 2, second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Append(idemBatch(t, 7, 0, tc.seq, tc.n, 10), AppendOptions{})
			require.NoError(t, err)
			assert.True(t, res.Duplicate)
			assert.Equal(t, tc.want.BaseOffset, res.BaseOffset)
			assert.Equal(t, tc.want.LastOffset, res.LastOffset)
			assert.Equal(t, int64(tc.n), res.NumRecords)
			assert.Equal(t, size, l.Size(), "nothing written")
			assert.Equal(t, leo, l.LogEndOffset())
		})
	}
}

func TestIdempotentSequenceRules(t *testing.T) {
	type step struct {
		epoch int16
		seq   int32
		n     int
		want  error
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{0, 0, 2, nil}, {0, 2, 1, nil}, {0, 3, 5, nil}}},
		{"gap", []step{{0, 0, 2, nil}, {0, 3, 1, ErrOutOfOrderSequence}}},
		{"going back without matching a batch", []step{{0, 0, 5, nil}, {0, 2, 1, ErrOutOfOrderSequence}}},
		{"stale epoch", []step{{3, 0, 1, nil}, {2, 1, 1, ErrInvalidProducerEpoch}}},
		{"new epoch at zero", []step{{0, 0, 4, nil}, {1, 0, 1, nil}, {1, 1, 1, nil}}},
		{"new epoch not at zero", []step{{0, 0, 4, nil}, {1, 4, 1, ErrOutOfOrderSequence}}},
		{"unknown producer takes any sequence", []step{{5, 42, 1, nil}, {5, 43, 1, nil}}},
		{"old epoch retry is not a duplicate", []step{{0, 0, 1, nil}, {1, 0, 1, nil}, {0, 0, 1, ErrInvalidProducerEpoch}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := openTestLog(t, "", testConfig())
			for i, s := range tc.steps {
				leo := l.LogEndOffset()
				res, err := l.Append(idemBatch(t, 9, s.epoch, s.seq, s.n, 1), AppendOptions{})
				if s.want != nil {
					require.ErrorIs(t, err, s.want, "step %d", i)
					assert.Equal(t, leo, l.LogEndOffset())
					continue
				}
				require.NoError(t, err, "step %d", i)
				assert.False(t, res.Duplicate)
			}
		})
	}
}

func TestSequenceWrapsAfterMaxInt32(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	mustAppend(t, l, idemBatch(t, 1, 0, math.MaxInt32-1, 2, 1), time.Time{})
	mustAppend(t, l, idemBatch(t, 1, 0, 0, 1, 1), time.Time{})
	_, err := l.Append(idemBatch(t, 1, 0, 2, 1, 1), AppendOptions{})
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
}

// Batches of one append chain their sequences through the pending state,
// and a rejected later batch leaves the state as it was.
func TestMultiBatchAppendIsAtomic(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	mustAppend(t, l, append(idemBatch(t, 4, 0, 0, 2, 1), idemBatch(t, 4, 0, 2, 2, 1)...), time.Time{})
	_, err := l.Append(append(idemBatch(t, 4, 0, 4, 1, 1), idemBatch(t, 4, 0, 9, 1, 1)...), AppendOptions{})
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
	assert.Equal(t, int64(4), l.LogEndOffset())
	res := mustAppend(t, l, idemBatch(t, 4, 0, 4, 1, 1), time.Time{})
	assert.Equal(t, int64(4), res.BaseOffset)
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "close and snapshot", false: "crash and rescan"}[clean]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 300 // rolls, so snapshots exist mid-log too
			l := openTestLog(t, dir, cfg)
			var results []AppendResult
			for i := range 8 {
				results = append(results, mustAppend(t, l, idemBatch(t, 11, 2, int32(2*i), 2, int64(i)), time.Time{}))
			}
			require.Greater(t, len(segmentBases(l)), 1)
			if clean {
				require.NoError(t, l.Close())
			} else {
				require.NoError(t, l.Flush())
				crash(l)
			}

			l2 := openTestLog(t, dir, cfg)
			// The last five batches are remembered.
			for i := 3; i < 8; i++ {
				res, err := l2.Append(idemBatch(t, 11, 2, int32(2*i), 2, int64(i)), AppendOptions{})
				require.NoError(t, err)
				assert.True(t, res.Duplicate, "batch %d", i)
				assert.Equal(t, results[i].BaseOffset, res.BaseOffset)
			}
			_, err := l2.Append(idemBatch(t, 11, 2, 17, 1, 1), AppendOptions{})
			require.ErrorIs(t, err, ErrOutOfOrderSequence)
			_, err = l2.Append(idemBatch(t, 11, 1, 0, 1, 1), AppendOptions{})
			require.ErrorIs(t, err, ErrInvalidProducerEpoch)
			res := mustAppend(t, l2, idemBatch(t, 11, 2, 16, 1, 1), time.Time{})
			assert.Equal(t, int64(16), res.BaseOffset)
		})
	}
}

func TestSnapshotsArePruned(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	oneBatchPerSegment(t, &cfg, idemBatch(t, 1, 0, 0, 1, 1))
	l := openTestLog(t, dir, cfg)
	for i := range 6 {
		mustAppend(t, l, idemBatch(t, 1, 0, int32(i), 1, 1), time.Time{})
	}
	offs, err := listSnapshots(dir)
	require.NoError(t, err)
	assert.Equal(t, []int64{4, 5}, offs)
	require.NoError(t, l.Close())
	offs, err = listSnapshots(dir)
	require.NoError(t, err)
	assert.Equal(t, []int64{5, 6}, offs)

	// A corrupt newest snapshot falls back to the older one plus a scan.
	path := segmentPath(dir, 6, snapshotSuffix)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)-1] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o644))
	l2 := openTestLog(t, dir, cfg)
	res, err := l2.Append(idemBatch(t, 1, 0, 5, 1, 1), AppendOptions{})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
}

func TestDeleteRecordsForgetsProducers(t *testing.T) {
	cfg := testConfig()
	oneBatchPerSegment(t, &cfg, idemBatch(t, 1, 0, 0, 1, 1), plainBatch(t, 1, 1))
	l := openTestLog(t, "", cfg)
	mustAppend(t, l, idemBatch(t, 1, 0, 0, 1, 1), time.Time{})
	mustAppend(t, l, plainBatch(t, 1, 1), time.Time{})
	_, err := l.DeleteRecordsBefore(2)
	require.NoError(t, err)
	// Producer 1's data is gone, so it is unknown and any sequence goes.
	mustAppend(t, l, idemBatch(t, 1, 0, 50, 1, 1), time.Time{})
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := newProducerStateManager()
	for i := range 7 {
		m.replay(&batchHeader{producerID: 3, producerEpoch: 1, baseSequence: int32(i), baseOffset: int64(i), maxTimestamp: int64(i * 10)})
	}
	m.replay(&batchHeader{producerID: 8, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 4, baseOffset: 100})
	got, err := decodeSnapshot(encodeSnapshot(m))
	require.NoError(t, err)
	assert.Equal(t, m.producers, got)
	assert.Equal(t, 5, got[3].n)
	assert.Equal(t, int32(6), got[3].lastSeq())
}

func FuzzDecodeSnapshot(f *testing.F) {
	m := newProducerStateManager()
	m.replay(&batchHeader{producerID: 3, producerEpoch: 1, baseSequence: 0, baseOffset: 1})
	f.Add(encodeSnapshot(m))
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive an encode/decode round trip.
		again, err := decodeSnapshot(encodeSnapshot(&ProducerStateManager{producers: got}))
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
}
