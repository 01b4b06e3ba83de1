package storage

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// truncateFixture is ten 3-record batches (offsets 0..29) in segments of
// three batches (bases 0, 9, 18, 27), an index entry for every batch after
// a segment's first, leader epochs 1 (batches 0-3), 2 (4-6) and 5 (7-9),
// and batch k's records timestamped 1000k, 1000k+1, 1000k+2.
func truncateFixture(t *testing.T, dir string) (*Log, Config) {
	t.Helper()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	cfg.SegmentBytes = int64(3*len(plainBatch(t, 3, 1000)) + 1)
	l := openTestLog(t, dir, cfg)
	for k, epoch := range []int32{1, 1, 1, 1, 2, 2, 2, 5, 5, 5} {
		appendEpoch(t, l, epoch, 3, int64(1000*k))
	}
	require.Equal(t, []int64{0, 9, 18, 27}, segmentBases(l))
	require.Equal(t, []epochEntry{{1, 0}, {2, 12}, {5, 21}}, l.epochEntries())
	return l, cfg
}

// basesFrom lists the batch bases 0, 3, 6, ... from the batch holding
// start up to end.
func basesFrom(start, end int64) []int64 {
	var out []int64
	for b := start / 3 * 3; b < end; b += 3 {
		out = append(out, b)
	}
	return out
}

func TestTruncateTo(t *testing.T) {
	cases := []struct {
		name        string
		deleteUpTo  int64 // DeleteRecordsBefore first
		offset      int64
		wantErr     error
		wantEnd     int64
		wantSegs    []int64
		wantEpochs  []epochEntry
		wantMaxTsAt int64 // offset of the largest timestamp, -1 for none, -2 to skip
	}{
		{"at the log end is a no-op", 0, 30, nil, 30, []int64{0, 9, 18, 27}, []epochEntry{{1, 0}, {2, 12}, {5, 21}}, 29},
		{"past the log end is a no-op", 0, 99, nil, 30, []int64{0, 9, 18, 27}, []epochEntry{{1, 0}, {2, 12}, {5, 21}}, 29},
		{"last batch, alone in its segment", 0, 27, nil, 27, []int64{0, 9, 18, 27}, []epochEntry{{1, 0}, {2, 12}, {5, 21}}, 26},
		{"inside a batch cuts the whole batch", 0, 25, nil, 24, []int64{0, 9, 18}, []epochEntry{{1, 0}, {2, 12}, {5, 21}}, 23},
		{"at an epoch start", 0, 21, nil, 21, []int64{0, 9, 18}, []epochEntry{{1, 0}, {2, 12}}, 20},
		{"at a segment base", 0, 18, nil, 18, []int64{0, 9, 18}, []epochEntry{{1, 0}, {2, 12}}, 17},
		{"inside the first batch of an epoch", 0, 13, nil, 12, []int64{0, 9}, []epochEntry{{1, 0}}, 11},
		{"everything", 0, 0, nil, 0, []int64{0}, []epochEntry{}, -1},
		// MaxTimestamp does not skip batches below the log start offset, so
		// it is not checked when DeleteRecordsBefore left some in segment 0.
		{"to the log start", 6, 6, nil, 6, []int64{0}, []epochEntry{}, -2},
		{"below the log start", 6, 5, ErrOffsetOutOfRange, 30, []int64{0, 9, 18, 27}, []epochEntry{{1, 6}, {2, 12}, {5, 21}}, 29},
		{"inside the batch holding the log start", 4, 5, nil, 4, []int64{0}, []epochEntry{}, -2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, cfg := truncateFixture(t, dir)
			if tc.deleteUpTo > 0 {
				_, err := l.DeleteRecordsBefore(tc.deleteUpTo)
				require.NoError(t, err)
			}
			lso := l.LogStartOffset()
			err := l.TruncateTo(tc.offset)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			check := func(t *testing.T, l *Log, end int64, epochs []epochEntry) {
				t.Helper()
				assert.Equal(t, end, l.LogEndOffset())
				assert.Equal(t, lso, l.LogStartOffset())
				assert.Equal(t, epochs, l.epochEntries())
				assert.Equal(t, string(encodeEpochCheckpoint(epochs)), checkpointContent(t, dir))
				var want []int64
				if end > lso {
					want = basesFrom(lso, end)
				}
				assert.Equal(t, want, batchBases(t, readAll(t, l)))
				// Every offset still finds its batch through the indexes.
				for off := lso; off < end; off++ {
					data, err := l.Read(off, 1, true, end)
					require.NoError(t, err)
					require.Equal(t, []int64{off / 3 * 3}, batchBases(t, data), "offset %d", off)
				}
			}
			check(t, l, tc.wantEnd, tc.wantEpochs)
			assert.Equal(t, tc.wantSegs, segmentBases(l))
			off, ts, err := l.MaxTimestamp()
			require.NoError(t, err)
			switch {
			case tc.wantMaxTsAt == -2:
			case tc.wantMaxTsAt < 0:
				assert.Equal(t, int64(-1), off)
			default:
				assert.Equal(t, tc.wantMaxTsAt, off)
				assert.Equal(t, 1000*(tc.wantMaxTsAt/3)+tc.wantMaxTsAt%3, ts)
			}
			for _, ts := range []int64{5001, 9002, 20_000} {
				_, _, found, err := l.OffsetForTimestamp(ts)
				require.NoError(t, err)
				assert.Equal(t, ts/1000*3 < tc.wantEnd, found, "timestamp %d", ts)
			}

			// Appending continues at the new end, in a new epoch; the log
			// reads the same after a clean restart.
			res := appendEpoch(t, l, 7, 3, 50_000)
			assert.Equal(t, tc.wantEnd, res.BaseOffset)
			wantEpochs := append(tc.wantEpochs, epochEntry{7, tc.wantEnd})
			require.NoError(t, l.Close())
			l2 := openTestLog(t, dir, cfg)
			assert.Equal(t, tc.wantEnd+3, l2.LogEndOffset())
			assert.Equal(t, wantEpochs, l2.epochEntries())
			data, err := l2.Read(tc.wantEnd, 1<<20, false, tc.wantEnd+3)
			require.NoError(t, err)
			assert.Equal(t, []int64{tc.wantEnd}, batchBases(t, data))
			off, ts, err = l2.MaxTimestamp()
			require.NoError(t, err)
			assert.Equal(t, []int64{tc.wantEnd + 2, 50_002}, []int64{off, ts})
		})
	}
}

// A crash right after a truncation brings back neither the dropped
// batches nor their epochs.
func TestTruncateToThenCrash(t *testing.T) {
	dir := t.TempDir()
	l, cfg := truncateFixture(t, dir)
	require.NoError(t, l.TruncateTo(14))
	crash(l)
	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, int64(12), l2.LogEndOffset())
	assert.Equal(t, []int64{0, 9}, segmentBases(l2))
	assert.Equal(t, []epochEntry{{1, 0}}, l2.epochEntries())
	assert.Equal(t, basesFrom(0, 12), batchBases(t, readAll(t, l2)))
}

// Producer state follows the log back: a retry of a dropped batch is
// appended again, a retry of a kept one is still a duplicate, and a
// snapshot taken past the new end is not used later.
func TestTruncateToRestoresProducerState(t *testing.T) {
	cases := []struct {
		name       string
		perBatch   bool // a segment (and a snapshot) per batch
		truncateTo int64
	}{
		{"within the active segment", false, 4},
		{"at a snapshot", true, 4},
		{"past the newest snapshot kept", true, 2},
		{"everything", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			if tc.perBatch {
				oneBatchPerSegment(t, &cfg, idemBatch(t, 7, 0, 0, 1, 1), idemBatch(t, 7, 0, 0, 2, 1), idemBatch(t, 7, 0, 0, 3, 1))
			}
			l := openTestLog(t, dir, cfg)
			for i := range 3 { // seq 0-1 at 0-1, 2-3 at 2-3, 4-5 at 4-5
				mustAppend(t, l, idemBatch(t, 7, 0, int32(2*i), 2, 1), time.Time{})
			}
			require.NoError(t, l.TruncateTo(tc.truncateTo))
			kept := int32(tc.truncateTo) // sequences below this survived

			if kept > 0 {
				res, err := l.Append(idemBatch(t, 7, 0, kept-2, 2, 1), AppendOptions{})
				require.NoError(t, err)
				assert.True(t, res.Duplicate, "a kept batch is still a duplicate")
				assert.Equal(t, tc.truncateTo-2, res.BaseOffset)
			}
			// The dropped batch, resent with a different size.
			res, err := l.Append(idemBatch(t, 7, 0, kept, 3, 1), AppendOptions{})
			require.NoError(t, err)
			assert.False(t, res.Duplicate, "a dropped batch is new again")
			assert.Equal(t, tc.truncateTo, res.BaseOffset)

			require.NoError(t, l.Flush())
			crash(l)
			l2 := openTestLog(t, dir, cfg)
			res, err = l2.Append(idemBatch(t, 7, 0, kept, 3, 1), AppendOptions{})
			require.NoError(t, err)
			assert.True(t, res.Duplicate)
			assert.Equal(t, tc.truncateTo, res.BaseOffset)
			res, err = l2.Append(idemBatch(t, 7, 0, kept+3, 1, 1), AppendOptions{})
			require.NoError(t, err, "sequences continue from the resent batch")
			assert.False(t, res.Duplicate)
		})
	}
}

// Readers running alongside truncations and appends only ever see whole,
// valid batches in offset order.
func TestTruncateWithConcurrentReaders(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	cfg.IndexIntervalBytes = 100
	l := openTestLog(t, "", cfg)
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				data, err := l.Read(0, 1<<16, false, l.LogEndOffset())
				if err != nil {
					t.Error(err)
					return
				}
				prev := int64(-1)
				for len(data) > 0 {
					h := parseBatchHeader(data)
					if h.baseOffset <= prev || h.size() > int64(len(data)) || h.crc != batchCRC(data[:h.size()]) {
						t.Errorf("bad batch at %d after %d", h.baseOffset, prev)
						return
					}
					prev = h.lastOffset()
					data = data[h.size():]
				}
				_, _, _, err = l.OffsetForTimestamp(50)
				_, _, err2 := l.MaxTimestamp()
				if err := errors.Join(err, err2); err != nil {
					t.Error(err)
					return
				}
				if e, end := l.EndOffsetForEpoch(l.LatestEpoch()); e >= 0 && end < 0 {
					t.Errorf("epoch %d ends at %d", e, end)
				}
			}
		}()
	}
	for round := range 40 {
		for i := range 6 {
			appendEpoch(t, l, int32(round), 2, int64(i))
		}
		require.NoError(t, l.TruncateTo(l.LogEndOffset()-5)) // mid-batch: cuts three
	}
	close(done)
	readers.Wait()
	assert.Equal(t, int64(40*6), l.LogEndOffset())
	assert.Len(t, l.epochEntries(), 40)
}

func TestTruncateToKeepsFilesConsistent(t *testing.T) {
	dir := t.TempDir()
	l, cfg := truncateFixture(t, dir)
	require.NoError(t, l.TruncateTo(16))
	// The snapshots (at the last two rolls, 18 and 27) described dropped
	// batches and are gone.
	offs, err := listSnapshots(dir)
	require.NoError(t, err)
	assert.Empty(t, offs)
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		_, err := os.Stat(segmentPath(dir, 18, suffix))
		assert.ErrorIs(t, err, os.ErrNotExist, suffix)
	}
	// Index entries past the cut are gone: the offset index of segment 9
	// keeps batch 12 only (none for a segment's first batch).
	l.segMu.RLock()
	seg := l.segments[1]
	assert.Equal(t, int64(1), seg.index.file.entries())
	assert.Equal(t, int64(1), seg.timeIndex.file.entries())
	l.segMu.RUnlock()
	require.NoError(t, l.Close())

	// A clean reopen trusts the files: the cheap checks pass and the
	// indexes are not rebuilt (the time index keeps its final entry).
	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, int64(15), l2.LogEndOffset())
	l2.segMu.RLock()
	ts, off, ok := l2.segments[1].timeIndex.lastEntry()
	l2.segMu.RUnlock()
	assert.True(t, ok)
	assert.Equal(t, []int64{4002, 12}, []int64{ts, off})
}
