package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/storage/codec"
)

// writeBatches appends n 3-record batches and returns the log's dir.
func writeBatches(t *testing.T, cfg Config, n int) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg)
	for i := range n {
		s := newSpec(recs(3, int64(1000*(i+1)))...)
		s.codec = allCodecs[i%len(allCodecs)]
		mustAppend(t, l, buildBatch(t, s), time.Time{})
	}
	return l, dir
}

func activeLogPath(t *testing.T, l *Log) string {
	t.Helper()
	bases := segmentBases(l)
	return segmentPath(l.dir, bases[len(bases)-1], logSuffix)
}

func TestRecoveryAfterCrash(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"cut mid batch", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, st.Size()-7))
		}},
		{"cut mid header", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			require.NoError(t, err)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			last := lastBatchPos(t, data)
			require.NoError(t, os.Truncate(path, last+20))
			_ = st
		}},
		{"flipped byte in last batch", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data[len(data)-3] ^= 0x55
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}},
		{"garbage appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write(make([]byte, 100))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.IndexIntervalBytes = 1
			l, dir := writeBatches(t, cfg, 6) // offsets 0..17
			path := activeLogPath(t, l)
			crash(l)
			tc.damage(t, path)

			l2 := openTestLog(t, dir, cfg)
			wantLEO := int64(15)
			if tc.name == "garbage appended" {
				wantLEO = 18
			}
			assert.Equal(t, wantLEO, l2.LogEndOffset())
			data, err := l2.Read(0, 1<<20, false, l2.LogEndOffset())
			require.NoError(t, err)
			bases := batchBases(t, data)
			assert.Equal(t, wantLEO-3, bases[len(bases)-1])

			res := mustAppend(t, l2, plainBatch(t, 2, 9000), time.Time{})
			assert.Equal(t, wantLEO, res.BaseOffset)
			off, _, found, err := l2.OffsetForTimestamp(9000)
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, wantLEO, off)
		})
	}
}

func lastBatchPos(t *testing.T, data []byte) int64 {
	t.Helper()
	pos := int64(0)
	for {
		h := parseBatchHeader(data[pos:])
		if pos+h.size() >= int64(len(data)) {
			return pos
		}
		pos += h.size()
	}
}

// A cleanly closed log is trusted, but a damaged tail is still caught by
// the cheap checks and recovered.
func TestRecoveryAfterCleanCloseWithDamage(t *testing.T) {
	cfg := testConfig()
	l, dir := writeBatches(t, cfg, 4)
	path := activeLogPath(t, l)
	require.NoError(t, l.Close())
	require.FileExists(t, cleanShutdownPath(dir))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, st.Size()-1))

	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, int64(9), l2.LogEndOffset())
	assert.NoFileExists(t, cleanShutdownPath(dir), "marker is consumed on open")
}

func TestRecoveryRebuildsDeletedIndexes(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 50
	cfg.SegmentBytes = 600
	l, dir := writeBatches(t, cfg, 20)
	bases := segmentBases(l)
	require.Greater(t, len(bases), 2)
	leo := l.LogEndOffset()
	maxOff, maxTs, err := l.MaxTimestamp()
	require.NoError(t, err)
	require.NoError(t, l.Close())
	for _, b := range bases {
		require.NoError(t, os.Remove(segmentPath(dir, b, indexSuffix)))
		require.NoError(t, os.Remove(segmentPath(dir, b, timeIndexSuffix)))
	}

	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, leo, l2.LogEndOffset())
	for _, b := range bases {
		assert.FileExists(t, segmentPath(dir, b, indexSuffix))
		assert.FileExists(t, segmentPath(dir, b, timeIndexSuffix))
	}
	for off := range leo {
		data, err := l2.Read(off, 1, true, leo)
		require.NoError(t, err)
		got := batchBases(t, data)[0]
		assert.Equal(t, off-off%3, got, "offset %d", off)
	}
	for i := range 20 {
		off, ts, found, err := l2.OffsetForTimestamp(int64(1000*(i+1)) + 1)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, int64(3*i+1), off)
		assert.Equal(t, int64(1000*(i+1)+1), ts)
	}
	off, ts, err := l2.MaxTimestamp()
	require.NoError(t, err)
	assert.Equal(t, []int64{maxOff, maxTs}, []int64{off, ts})
	// Retention still sees each segment's largest record timestamp (the
	// file times are "now", so a fallback to them would delete nothing).
	l2.SetConfig(func() Config { c := cfg; c.RetentionMs = 1; return c }())
	n, err := l2.EnforceRetention(time.UnixMilli(20_000 + 5))
	require.NoError(t, err)
	assert.Equal(t, len(bases), n)
	assert.Equal(t, leo, l2.LogStartOffset())
}

// A corrupt batch in a middle segment whose index must be rebuilt
// truncates there and drops every later segment, as Kafka does.
func TestRecoveryCorruptMiddleSegment(t *testing.T) {
	cfg := testConfig()
	var samples [][]byte
	for i := range 4 { // as writeBatches builds them
		s := newSpec(recs(3, int64(1000*(i+1)))...)
		s.codec = allCodecs[i%len(allCodecs)]
		samples = append(samples, buildBatch(t, s))
	}
	oneBatchPerSegment(t, &cfg, samples...)
	l, dir := writeBatches(t, cfg, 4) // segments 0, 3, 6, 9
	require.NoError(t, l.Close())
	path := segmentPath(dir, 3, logSuffix)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)-1] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o644))
	require.NoError(t, os.Remove(segmentPath(dir, 3, indexSuffix)))

	l2 := openTestLog(t, dir, cfg)
	assert.Equal(t, int64(3), l2.LogEndOffset())
	assert.NoFileExists(t, segmentPath(dir, 6, logSuffix))
	assert.NoFileExists(t, segmentPath(dir, 9, logSuffix))
	res := mustAppend(t, l2, plainBatch(t, 1, 5), time.Time{})
	assert.Equal(t, int64(3), res.BaseOffset)
}

func TestOpenLeftovers(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000042.snapshot.tmp"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000099.index"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, logStartOffsetFile), []byte("garbage"), 0o644))
	l := openTestLog(t, dir, testConfig())
	assert.Equal(t, int64(0), l.LogEndOffset())
	assert.NoFileExists(t, filepath.Join(dir, "00000000000000000042.snapshot.tmp"))
	assert.NoFileExists(t, filepath.Join(dir, "00000000000000000099.index"))
}

func FuzzOpenGarbageLog(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add(plainBatch(f, 2, 10), true)
	s := newSpec(recs(3, 10)...)
	s.codec = codec.LZ4
	f.Add(append(plainBatch(f, 2, 10), buildBatch(f, s)...), false)
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\xff\xffgarbage"), true)
	f.Fuzz(func(t *testing.T, data []byte, clean bool) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(segmentPath(dir, 0, logSuffix), data, 0o644))
		if clean {
			// Claim a clean shutdown so the cheap checks see garbage too.
			require.NoError(t, os.WriteFile(cleanShutdownPath(dir), nil, 0o644))
			require.NoError(t, os.WriteFile(segmentPath(dir, 0, indexSuffix), data[:len(data)/8*8], 0o644))
			require.NoError(t, os.WriteFile(segmentPath(dir, 0, timeIndexSuffix), data[len(data)/2:], 0o644))
		}
		l, err := Open(dir, testConfig(), zerolog.Nop())
		if err != nil {
			return
		}
		defer l.Close()
		leo := l.LogEndOffset()
		if _, err := l.Read(l.LogStartOffset(), 1<<20, true, leo); err != nil {
			t.Fatalf("read after open: %v", err)
		}
		res, err := l.Append(plainBatch(t, 1, 1), AppendOptions{})
		require.NoError(t, err)
		require.Equal(t, leo, res.BaseOffset)
	})
}
