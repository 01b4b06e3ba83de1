package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendEpoch appends an n-record batch as the leader of epoch.
func appendEpoch(t *testing.T, l *Log, epoch int32, n int, ts int64) AppendResult {
	t.Helper()
	res, err := l.Append(plainBatch(t, n, ts), AppendOptions{LeaderEpoch: epoch})
	require.NoError(t, err)
	return res
}

// leaderBatch is an n-record batch as a leader stored it: base offset and
// leader epoch set (both outside the CRC).
func leaderBatch(t testing.TB, base int64, epoch int32, n int, ts int64) []byte {
	b := plainBatch(t, n, ts)
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
	return b
}

func readAll(t *testing.T, l *Log) []byte {
	t.Helper()
	data, err := l.Read(l.LogStartOffset(), 1<<30, false, l.LogEndOffset())
	require.NoError(t, err)
	return data
}

func checkpointContent(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, leaderEpochCheckpointFile))
	require.NoError(t, err)
	return string(data)
}

func TestParseEpochCheckpoint(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []epochEntry
		wantErr bool
	}{
		{"empty cache", "0\n0\n", []epochEntry{}, false},
		{"entries", "0\n2\n1 0\n4 100\n", []epochEntry{{1, 0}, {4, 100}}, false},
		{"empty file", "", nil, true},
		{"no trailing newline", "0\n1\n1 0", nil, true},
		{"version 1", "1\n1\n1 0\n", nil, true},
		{"count too high", "0\n3\n1 0\n4 100\n", nil, true},
		{"count too low", "0\n1\n1 0\n4 100\n", nil, true},
		{"count not a number", "0\nx\n", nil, true},
		{"entry without space", "0\n1\n10\n", nil, true},
		{"two spaces", "0\n1\n1  0\n", nil, true},
		{"negative epoch", "0\n1\n-1 0\n", nil, true},
		{"negative offset", "0\n1\n1 -5\n", nil, true},
		{"epoch overflows int32", "0\n1\n4294967296 0\n", nil, true},
		{"epochs not increasing", "0\n2\n4 0\n4 100\n", nil, true},
		{"offsets not increasing", "0\n2\n1 100\n4 100\n", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEpochCheckpoint([]byte(tc.in))
			if tc.wantErr {
				require.ErrorIs(t, err, errBadEpochCheckpoint)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, string(encodeEpochCheckpoint(got)), "round trip")
		})
	}
}

func TestEpochCacheOperations(t *testing.T) {
	base := []epochEntry{{1, 0}, {3, 10}, {4, 20}}
	assignCases := []struct {
		name        string
		e           epochEntry
		want        []epochEntry
		needed      bool
		wantDropped bool
	}{
		{"new epoch", epochEntry{6, 30}, []epochEntry{{1, 0}, {3, 10}, {4, 20}, {6, 30}}, true, false},
		{"same epoch later", epochEntry{4, 25}, base, false, false},
		{"same epoch earlier start", epochEntry{4, 15}, []epochEntry{{1, 0}, {3, 10}, {4, 15}}, true, false},
		{"new epoch at the latest start replaces it", epochEntry{5, 20}, []epochEntry{{1, 0}, {3, 10}, {5, 20}}, true, false},
		{"older epoch drops later ones", epochEntry{2, 25}, []epochEntry{{1, 0}, {2, 25}}, true, true},
	}
	for _, tc := range assignCases {
		t.Run("assign/"+tc.name, func(t *testing.T) {
			in := append([]epochEntry(nil), base...)
			assert.Equal(t, tc.needed, epochUpdateNeeded(in, tc.e.epoch, tc.e.startOffset))
			if !tc.needed {
				return
			}
			got, dropped := assignEpoch(in, tc.e)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantDropped, dropped)
		})
	}
	assert.True(t, epochUpdateNeeded(nil, 0, 0), "empty cache")

	endCases := []struct {
		name string
		end  int64
		want []epochEntry
	}{
		{"past everything", 100, base},
		{"at an epoch start", 20, []epochEntry{{1, 0}, {3, 10}}},
		{"inside an epoch", 15, []epochEntry{{1, 0}, {3, 10}}},
		{"at zero", 0, []epochEntry{}},
	}
	for _, tc := range endCases {
		t.Run("truncate end/"+tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, epochsTruncatedFromEnd(base, tc.end))
		})
	}
	startCases := []struct {
		name  string
		start int64
		want  []epochEntry
	}{
		{"at zero", 0, base},
		{"inside the first epoch", 5, []epochEntry{{1, 5}, {3, 10}, {4, 20}}},
		{"at an epoch start", 10, []epochEntry{{3, 10}, {4, 20}}},
		{"past the last start", 25, []epochEntry{{4, 25}}},
	}
	for _, tc := range startCases {
		t.Run("truncate start/"+tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, epochsTruncatedFromStart(base, tc.start))
		})
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	assert.Equal(t, int32(-1), l.LatestEpoch())
	e, off := l.EndOffsetForEpoch(0)
	assert.Equal(t, []int64{-1, -1}, []int64{int64(e), off}, "empty cache")

	appendEpoch(t, l, 1, 5, 0) // 0-4
	appendEpoch(t, l, 1, 5, 0) // 5-9
	appendEpoch(t, l, 3, 10, 0)
	appendEpoch(t, l, 4, 10, 0) // 20-29
	assert.Equal(t, []epochEntry{{1, 0}, {3, 10}, {4, 20}}, l.epochEntries())
	assert.Equal(t, int32(4), l.LatestEpoch())

	cases := []struct {
		name      string
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{"undefined epoch", -1, -1, -1},
		{"below the first epoch", 0, -1, -1},
		{"first epoch ends where the next starts", 1, 1, 10},
		{"epoch never led: the one before it", 2, 1, 10},
		{"middle epoch", 3, 3, 20},
		{"latest epoch ends at the log end", 4, 4, 30},
		{"above the latest epoch", 9, 4, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, off := l.EndOffsetForEpoch(tc.epoch)
			assert.Equal(t, tc.wantEpoch, e)
			assert.Equal(t, tc.wantEnd, off)
		})
	}

	// Appends without an epoch (-1) leave the cache alone.
	l2 := openTestLog(t, "", testConfig())
	appendEpoch(t, l2, -1, 2, 0)
	assert.Empty(t, l2.epochEntries())
	assert.Equal(t, "0\n0\n", checkpointContent(t, l2.Dir()))
}

// The checkpoint is rewritten when an epoch starts, not on every append.
func TestEpochCheckpointWrittenOnChange(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig())
	path := filepath.Join(dir, leaderEpochCheckpointFile)
	assert.Equal(t, "0\n0\n", checkpointContent(t, dir), "Open writes the empty cache")

	appendEpoch(t, l, 1, 3, 0)
	assert.Equal(t, "0\n1\n1 0\n", checkpointContent(t, dir))

	require.NoError(t, os.Remove(path))
	appendEpoch(t, l, 1, 3, 0)
	appendEpoch(t, l, 1, 3, 0)
	assert.NoFileExists(t, path, "same epoch: not rewritten")

	appendEpoch(t, l, 2, 3, 0)
	assert.Equal(t, "0\n2\n1 0\n2 9\n", checkpointContent(t, dir))

	// A replica append starting two epochs at once writes once, with both.
	res := mustAppendReplica(t, l, append(leaderBatch(t, 12, 2, 1, 0), append(leaderBatch(t, 13, 5, 1, 0), leaderBatch(t, 14, 7, 1, 0)...)...))
	assert.Equal(t, int64(12), res.BaseOffset)
	assert.Equal(t, "0\n4\n1 0\n2 9\n5 13\n7 14\n", checkpointContent(t, dir))
}

func TestEpochCacheAfterReopen(t *testing.T) {
	want := []epochEntry{{1, 0}, {3, 9}, {4, 15}}
	cases := []struct {
		name   string
		crash  bool
		damage func(t *testing.T, path string)
	}{
		{"clean close", false, nil},
		{"crash", true, nil},
		{"checkpoint deleted", false, func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }},
		{"checkpoint deleted after crash", true, func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }},
		{"checkpoint corrupt", false, func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("0\n5\n1 0\n"), 0o644))
		}},
		{"checkpoint missing the last epoch, crash rescans it", true, func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("0\n2\n1 0\n3 9\n"), 0o644))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = int64(2*len(plainBatch(t, 3, 0)) + 1) // two batches per segment
			l := openTestLog(t, dir, cfg)
			for i, epoch := range []int32{1, 1, 1, 3, 3, 4} {
				appendEpoch(t, l, epoch, 3, int64(i))
			}
			require.Equal(t, want, l.epochEntries())
			require.Equal(t, []int64{0, 6, 12}, segmentBases(l))
			if tc.crash {
				require.NoError(t, l.Flush())
				crash(l)
			} else {
				require.NoError(t, l.Close())
			}
			if tc.damage != nil {
				tc.damage(t, filepath.Join(dir, leaderEpochCheckpointFile))
			}

			l2 := openTestLog(t, dir, cfg)
			assert.Equal(t, want, l2.epochEntries())
			assert.Equal(t, string(encodeEpochCheckpoint(want)), checkpointContent(t, dir), "file rewritten")
			e, off := l2.EndOffsetForEpoch(3)
			assert.Equal(t, int32(3), e)
			assert.Equal(t, int64(15), off)
		})
	}
}

// An epoch whose only batch a crash took away is dropped on Open.
func TestEpochCacheDropsEpochLostInCrash(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig())
	appendEpoch(t, l, 1, 3, 0)
	appendEpoch(t, l, 2, 3, 0)
	require.Equal(t, []epochEntry{{1, 0}, {2, 3}}, l.epochEntries())
	path := activeLogPath(t, l)
	require.NoError(t, l.Flush())
	crash(l)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, st.Size()-7))

	l2 := openTestLog(t, dir, testConfig())
	assert.Equal(t, int64(3), l2.LogEndOffset())
	assert.Equal(t, []epochEntry{{1, 0}}, l2.epochEntries())
	assert.Equal(t, "0\n1\n1 0\n", checkpointContent(t, dir))
}

// Moving the log start offset (DeleteRecords, retention) moves the first
// entry up, as Kafka's truncateFromStart does.
func TestEpochCacheFollowsLogStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	oneBatchPerSegment(t, &cfg, plainBatch(t, 3, 0))
	l := openTestLog(t, dir, cfg)
	for i, epoch := range []int32{1, 1, 2, 2, 3, 3} { // segments 0,3,...,15
		appendEpoch(t, l, epoch, 3, int64(i))
	}
	_, err := l.DeleteRecordsBefore(4)
	require.NoError(t, err)
	assert.Equal(t, []epochEntry{{1, 4}, {2, 6}, {3, 12}}, l.epochEntries())

	cfg.RetentionBytes = int64(3 * len(plainBatch(t, 3, 0)))
	l.SetConfig(cfg)
	n, err := l.EnforceRetention(time.Now())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, int64(9), l.LogStartOffset())
	want := []epochEntry{{2, 9}, {3, 12}}
	assert.Equal(t, want, l.epochEntries())
	assert.Equal(t, string(encodeEpochCheckpoint(want)), checkpointContent(t, dir))
	e, off := l.EndOffsetForEpoch(1)
	assert.Equal(t, []int64{-1, -1}, []int64{int64(e), off}, "epoch 1's data is gone")

	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, leaderEpochCheckpointFile)))
	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, want, l2.epochEntries(), "a rebuild agrees")
}

func FuzzParseEpochCheckpoint(f *testing.F) {
	f.Add("0\n0\n")
	f.Add("0\n2\n1 0\n4 100\n")
	f.Add("0\n1\n2147483647 9223372036854775807\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := parseEpochCheckpoint([]byte(s))
		if err != nil {
			return
		}
		for i := 1; i < len(entries); i++ {
			assert.Greater(t, entries[i].epoch, entries[i-1].epoch)
			assert.Greater(t, entries[i].startOffset, entries[i-1].startOffset)
		}
		again, err := parseEpochCheckpoint(encodeEpochCheckpoint(entries))
		require.NoError(t, err)
		assert.Equal(t, entries, again)
	})
}
