package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/storage/codec"
)

// compactConfig rolls a segment every few batches so a test log has
// many segments to clean.
func compactConfig() Config {
	cfg := testConfig()
	cfg.Compact, cfg.CompactOnly = true, true
	cfg.SegmentBytes = 600
	cfg.IndexIntervalBytes = 100
	cfg.DeleteRetentionMs = 1000
	return cfg
}

func rollNow(t *testing.T, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.NoError(t, l.roll(time.Now()))
}

// rec is one record as read back.
type rec struct {
	offset   int64
	key      string
	value    string
	hasValue bool
	ts       int64
}

// readRecords decodes every record of the log from offset 0, checking
// batch CRCs and that offsets increase.
func readRecords(t *testing.T, l *Log) []rec {
	t.Helper()
	data, err := l.Read(l.LogStartOffset(), 1<<30, true, l.LogEndOffset())
	require.NoError(t, err)
	batchBases(t, data) // checks CRCs
	var out []rec
	prev := int64(-1)
	for len(data) > 0 {
		h := parseBatchHeader(data)
		require.Greater(t, h.baseOffset, prev, "batch offsets increase")
		prev = h.lastOffset()
		batch := data[:h.size()]
		data = data[h.size():]
		recs := batch[batchHeaderSize:]
		if h.codec() != codec.None {
			recs, err = codec.Decompress(h.codec(), recs, nil)
			require.NoError(t, err)
		}
		if h.isControl() {
			continue
		}
		for p, k := 0, int32(0); k < h.recordCount; k++ {
			r, err := parseCleanRecord(recs, p)
			require.NoError(t, err)
			key, value, err := firstRecordKeyValue(recs[p:r.end])
			require.NoError(t, err)
			p = r.end
			off := h.baseOffset + r.offsetDelta
			require.LessOrEqual(t, off, h.lastOffset())
			out = append(out, rec{offset: off, key: string(key), value: string(value), hasValue: value != nil, ts: h.baseTimestamp + r.timestampDelta})
		}
	}
	return out
}

// kvBatch builds a batch of records "key=value" ("key=" with nothing
// after '=' is a tombstone; no '=' is a record without a key).
func kvBatch(t testing.TB, c codec.Codec, ts int64, kvs ...string) []byte {
	var rs []testRec
	for i, kv := range kvs {
		r := testRec{ts: ts + int64(i)}
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			r.key = []byte(k)
			if v != "" {
				r.value = []byte(v)
			}
		} else {
			r.value = []byte(kv)
		}
		rs = append(rs, r)
	}
	s := newSpec(rs...)
	s.codec = c
	return buildBatch(t, s)
}

// latestBelow is the expected result of cleaning below end: for offsets
// below end only the last record of each key there; everything else.
func latestBelow(all []rec, end int64) []rec {
	last := map[string]int64{}
	for _, r := range all {
		if r.offset < end && r.key != "" {
			last[r.key] = r.offset
		}
	}
	var out []rec
	for _, r := range all {
		if r.offset >= end || (r.key != "" && last[r.key] == r.offset) {
			out = append(out, r)
		}
	}
	return out
}

// latestValues maps each key to its last value in records.
func latestValues(records []rec) map[string]string {
	out := map[string]string{}
	for _, r := range records {
		if r.key == "" {
			continue
		}
		if r.hasValue {
			out[r.key] = r.value
		} else {
			delete(out, r.key)
		}
	}
	return out
}

// fillLog appends rounds of batches over keys k0..k(keys-1), two
// records per batch, so that most records have newer versions.
func fillLog(t *testing.T, l *Log, c codec.Codec, rounds, keys int, ts int64) {
	t.Helper()
	for r := range rounds {
		for k := 0; k < keys; k += 2 {
			mustAppend(t, l, kvBatch(t, c, ts, fmt.Sprintf("k%d=v%d-%d", k, r, k), fmt.Sprintf("k%d=v%d-%d", k+1, r, k+1)), time.UnixMilli(ts))
		}
	}
}

func TestCleanKeepsLatestPerKey(t *testing.T) {
	for _, c := range []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, compactConfig())
			fillLog(t, l, c, 8, 10, 1000)
			// A record without a key, appended while the topic was not
			// compacted yet (a compacted log refuses one): Kafka's
			// cleaner drops it.
			notCompact := compactConfig()
			notCompact.Compact, notCompact.CompactOnly = false, false
			l.SetConfig(notCompact)
			mustAppend(t, l, kvBatch(t, c, 1000, "no-key"), time.UnixMilli(1000))
			l.SetConfig(compactConfig())
			fillLog(t, l, c, 1, 10, 1000)
			before := readRecords(t, l)
			segs := segmentBases(l)
			require.Greater(t, len(segs), 4)
			active := segs[len(segs)-1]
			sizeBefore := l.Size()

			st, err := l.Clean(time.UnixMilli(5000), CleanOptions{})
			require.NoError(t, err)
			assert.Equal(t, int64(0), st.FirstDirtyOffset)
			assert.Equal(t, active, st.EndOffset, "cleaned up to the active segment")
			assert.Equal(t, active, l.CleanerCheckpoint())
			assert.Less(t, st.BytesWritten, st.BytesRead)
			assert.Less(t, l.Size(), sizeBefore)

			want := latestBelow(before, active)
			assert.Equal(t, want, readRecords(t, l), "latest per key below the active segment, everything above")
			assert.Equal(t, latestValues(before), latestValues(readRecords(t, l)))

			// Every offset can be fetched: a fetch in a gap returns the
			// next batch.
			for o := int64(0); o < l.LogEndOffset(); o++ {
				data, err := l.Read(o, 1, true, l.LogEndOffset())
				require.NoError(t, err)
				require.NotEmpty(t, data, "offset %d", o)
				h := parseBatchHeader(data)
				assert.GreaterOrEqual(t, h.lastOffset(), o)
			}

			// The same after a restart, and a second clean changes nothing.
			require.NoError(t, l.Close())
			l2 := openTestLog(t, dir, compactConfig())
			assert.Equal(t, want, readRecords(t, l2))
			assert.Equal(t, active, l2.CleanerCheckpoint())
			st, err = l2.Clean(time.UnixMilli(5000), CleanOptions{})
			require.NoError(t, err)
			assert.Equal(t, active, st.EndOffset)
			assert.Equal(t, want, readRecords(t, l2))
		})
	}
}

func TestCleanTombstonesAfterDeleteRetention(t *testing.T) {
	l := openTestLog(t, "", compactConfig())
	mustAppend(t, l, kvBatch(t, codec.None, 100, "a=1", "b=1"), time.UnixMilli(100))
	mustAppend(t, l, kvBatch(t, codec.None, 200, "a="), time.UnixMilli(200)) // tombstone
	fillLog(t, l, codec.None, 4, 6, 300)

	t0 := time.UnixMilli(10_000)
	_, err := l.Clean(t0, CleanOptions{})
	require.NoError(t, err)
	recs := readRecords(t, l)
	require.Equal(t, "a", recs[1].key, "the tombstone stays after its first cleaning")
	assert.False(t, recs[1].hasValue)
	assert.Equal(t, int64(200), recs[1].ts, "record timestamp kept under the delete horizon")
	assert.NotContains(t, recs, rec{offset: 0, key: "a", value: "1", hasValue: true, ts: 100})

	// More dirty data so later passes have something to clean.
	more := func() {
		fillLog(t, l, codec.None, 2, 6, 400)
		rollNow(t, l)
	}
	more()
	_, err = l.Clean(t0.Add(999*time.Millisecond), CleanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "a", readRecords(t, l)[1].key, "kept until delete.retention.ms passed")

	more()
	_, err = l.Clean(t0.Add(1001*time.Millisecond), CleanOptions{})
	require.NoError(t, err)
	for _, r := range readRecords(t, l) {
		assert.NotEqual(t, "a", r.key, "tombstone removed after delete.retention.ms")
	}

	assert.Equal(t, "b", readRecords(t, l)[0].key)
}

func TestCleanKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := openTestLog(t, dir, cfg)
	const pid = 42
	seq := int32(0)
	var last []byte
	for i := range 6 {
		s := newSpec(testRec{key: []byte("p"), value: fmt.Appendf(nil, "%d", i), ts: 100}, testRec{key: []byte("q"), value: []byte("x"), ts: 100})
		s.producerID, s.producerEpoch, s.baseSequence = pid, 3, seq
		last = buildBatch(t, s)
		mustAppend(t, l, append([]byte(nil), last...), time.UnixMilli(100))
		seq += 2
	}
	// Newer values of the producer's keys: its last batch has nothing
	// left but must stay, empty, for its sequence numbers.
	fillLog(t, l, codec.None, 1, 2, 200)
	mustAppend(t, l, kvBatch(t, codec.None, 200, "p=new", "q=new"), time.UnixMilli(200))
	fillLog(t, l, codec.None, 3, 6, 300)
	_, err := l.Clean(time.UnixMilli(1000), CleanOptions{})
	require.NoError(t, err)

	data, err := l.Read(0, 1<<20, true, l.LogEndOffset())
	require.NoError(t, err)
	var producerBatches []batchHeader
	for len(data) > 0 {
		h := parseBatchHeader(data)
		if h.producerID == pid {
			producerBatches = append(producerBatches, h)
		}
		data = data[h.size():]
	}
	require.Len(t, producerBatches, 1, "only the producer's last batch stays")
	assert.Equal(t, int32(0), producerBatches[0].recordCount)
	assert.Equal(t, int32(10), producerBatches[0].baseSequence)

	// Rebuild producer state from the log alone.
	require.NoError(t, l.Close())
	snaps, err := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	require.NoError(t, err)
	for _, s := range snaps {
		require.NoError(t, os.Remove(s))
	}
	require.NoError(t, os.Remove(cleanShutdownPath(dir)))
	l = openTestLog(t, dir, cfg)

	res, err := l.Append(append([]byte(nil), last...), AppendOptions{})
	require.NoError(t, err)
	assert.True(t, res.Duplicate, "a retry of the last batch is still a duplicate")
	_, err = l.Append(idemBatch(t, pid, 3, seq+1, 1, 500), AppendOptions{})
	require.ErrorIs(t, err, ErrOutOfOrderSequence, "the producer's sequence is still known")
	res, err = l.Append(idemBatch(t, pid, 3, seq, 1, 500), AppendOptions{})
	require.NoError(t, err)
	assert.False(t, res.Duplicate)
}

func txnKVBatch(t testing.TB, pid int64, seq int32, kvs ...string) []byte {
	var rs []testRec
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		rs = append(rs, testRec{key: []byte(k), value: []byte(v), ts: 100})
	}
	s := newSpec(rs...)
	s.producerID, s.producerEpoch, s.baseSequence, s.transactional = pid, 0, seq, true
	return buildBatch(t, s)
}

func TestCleanRemovesAbortedTransactions(t *testing.T) {
	l := openTestLog(t, "", compactConfig())
	mustAppend(t, l, txnKVBatch(t, 7, 0, "x1=aborted", "x2=aborted"), time.UnixMilli(100))
	_, err := l.AppendMarker(Marker{ProducerID: 7, ProducerEpoch: 0}, AppendOptions{})
	require.NoError(t, err)
	mustAppend(t, l, txnKVBatch(t, 7, 2, "y1=committed"), time.UnixMilli(100))
	_, err = l.AppendMarker(Marker{ProducerID: 7, ProducerEpoch: 0, Commit: true}, AppendOptions{})
	require.NoError(t, err)
	fillLog(t, l, codec.None, 4, 6, 300)
	aborted, err := l.AbortedTransactions(0, 100)
	require.NoError(t, err)
	require.Len(t, aborted, 1)

	_, err = l.Clean(time.UnixMilli(1000), CleanOptions{})
	require.NoError(t, err)
	keys := map[string]bool{}
	for _, r := range readRecords(t, l) {
		keys[r.key] = true
	}
	assert.False(t, keys["x1"] || keys["x2"], "records of the aborted transaction are removed")
	assert.True(t, keys["y1"], "committed records stay")
	data, err := l.Read(0, 1<<20, true, 10)
	require.NoError(t, err)
	var markers []int64
	for len(data) > 0 {
		h := parseBatchHeader(data)
		if h.isControl() {
			markers = append(markers, h.baseOffset)
		}
		data = data[h.size():]
	}
	assert.Equal(t, []int64{2, 4}, markers, "markers stay while their transaction had batches")
	after, err := l.AbortedTransactions(0, 100)
	require.NoError(t, err)
	assert.Equal(t, aborted, after, "the aborted transaction index entry stays with its marker")
}

// Each step of the swap can be interrupted by a crash; Open must give a
// consistent log with the same latest value per key.
func TestCleanCrashAtEverySwapStep(t *testing.T) {
	for _, step := range []string{"cleaned", "swap", "deleted", "indexes renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, compactConfig(), testLogger(t))
			require.NoError(t, err)
			mustAppend(t, l, txnKVBatch(t, 9, 0, "t1=aborted", "t2=aborted"), time.UnixMilli(1000))
			_, err = l.AppendMarker(Marker{ProducerID: 9, ProducerEpoch: 0}, AppendOptions{Now: time.UnixMilli(1000)})
			require.NoError(t, err)
			fillLog(t, l, codec.None, 8, 10, 1000)
			before := readRecords(t, l)
			aborted, err := l.AbortedTransactions(0, l.LogEndOffset())
			require.NoError(t, err)
			require.Len(t, aborted, 1)
			before = slices.DeleteFunc(before, func(r rec) bool { return r.key == "t1" || r.key == "t2" })
			leo := l.LogEndOffset()
			active := segmentBases(l)[len(segmentBases(l))-1]

			injected := errors.New("injected crash")
			cleanerFault = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			t.Cleanup(func() { cleanerFault = nil })
			_, err = l.Clean(time.UnixMilli(5000), CleanOptions{})
			require.ErrorIs(t, err, injected)
			cleanerFault = nil
			crash(l)

			l = openTestLog(t, dir, compactConfig())
			got := readRecords(t, l)
			afterAborted, err := l.AbortedTransactions(0, l.LogEndOffset())
			require.NoError(t, err)
			assert.Equal(t, aborted, afterAborted, "the aborted transaction index survives")
			if step == "cleaned" {
				require.Equal(t, "t1", got[0].key)
				got = got[2:]
			}
			assert.Equal(t, latestValues(before), latestValues(got))
			below := func(rs []rec, end int64) []rec {
				var out []rec
				for _, r := range rs {
					if r.offset < end {
						out = append(out, r)
					}
				}
				return out
			}
			upper := segmentBases(l)[1]
			if step == "cleaned" {
				assert.Equal(t, below(before, upper), below(got, upper), "nothing was swapped in")
			} else {
				assert.Equal(t, below(latestBelow(before, active), upper), below(got, upper), "the first group's cleaning was committed")
			}
			leftovers, err := filepath.Glob(filepath.Join(dir, "*.*.*"))
			require.NoError(t, err)
			assert.Empty(t, leftovers, "no .cleaned or .swap files")

			_, err = l.Clean(time.UnixMilli(5000), CleanOptions{})
			require.NoError(t, err)
			assert.Equal(t, latestBelow(before, active), readRecords(t, l))
			res := mustAppend(t, l, kvBatch(t, codec.None, 2000, "k0=after"), time.UnixMilli(2000))
			assert.Equal(t, leo, res.BaseOffset)
		})
	}
}

func TestCleanRespectsMinCompactionLag(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 1000
	l := openTestLog(t, "", cfg)
	fillLog(t, l, codec.None, 4, 10, 1000) // old
	old := segmentBases(l)
	fillLog(t, l, codec.None, 4, 10, 5000) // young
	before := readRecords(t, l)

	// At 5500 the young segments are within the lag: cleaning stops at
	// the first of them (the segment after the old ones, as its first
	// batch may be the last old one).
	st, err := l.Clean(time.UnixMilli(5500), CleanOptions{})
	require.NoError(t, err)
	firstYoung := int64(-1)
	for _, b := range segmentBases(l) {
		if b >= old[len(old)-1] {
			firstYoung = b
			break
		}
	}
	assert.Equal(t, firstYoung, st.EndOffset)
	assert.Equal(t, latestBelow(before, st.EndOffset), readRecords(t, l))

	// Later every inactive segment qualifies.
	st, err = l.Clean(time.UnixMilli(7000), CleanOptions{})
	require.NoError(t, err)
	segs := segmentBases(l)
	assert.Equal(t, segs[len(segs)-1], st.EndOffset)
}

func TestCleanDedupeBufferFull(t *testing.T) {
	l := openTestLog(t, "", compactConfig())
	for r := range 4 {
		for k := range 50 {
			mustAppend(t, l, kvBatch(t, codec.None, 100, fmt.Sprintf("k%d=%d", k, r)), time.UnixMilli(100))
		}
	}
	before := readRecords(t, l)
	segs := segmentBases(l)
	active := segs[len(segs)-1]
	// 64 slots at load factor 0.5: 32 keys per pass.
	opts := CleanOptions{DedupeBufferSize: 64 * offsetMapSlotSize, LoadFactor: 0.5}
	st, err := l.Clean(time.UnixMilli(1000), opts)
	require.NoError(t, err)
	assert.Equal(t, int64(32), st.EndOffset, "cleaned only as far as the key map reached")
	assert.Equal(t, int64(32), l.CleanerCheckpoint())
	assert.Equal(t, before, readRecords(t, l), "no key repeats below the map's end")

	for pass := 0; l.CleanerCheckpoint() < active; pass++ {
		require.Less(t, pass, 20)
		_, err := l.Clean(time.UnixMilli(1000), opts)
		require.NoError(t, err)
	}
	assert.Equal(t, latestBelow(before, active), readRecords(t, l))
}

func TestCleanerPicksDirtiestLog(t *testing.T) {
	m, err := NewManager([]string{t.TempDir()}, compactConfig(), testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	dirty, err := m.GetOrCreate(TopicPartition{"dirty", 0}, [16]byte{}, cfg)
	require.NoError(t, err)
	clean, err := m.GetOrCreate(TopicPartition{"clean", 0}, [16]byte{}, cfg)
	require.NoError(t, err)
	fillLog(t, dirty, codec.None, 6, 10, 1000)
	fillLog(t, clean, codec.None, 6, 10, 1000)
	_, err = clean.Clean(time.UnixMilli(2000), CleanOptions{})
	require.NoError(t, err)
	fillLog(t, clean, codec.None, 1, 2, 1000) // a little dirt, below the ratio
	rollNow(t, clean)
	cleanCheckpoint := clean.CleanerCheckpoint()

	now := time.UnixMilli(2000)
	require.True(t, m.cleanFilthiest(t.Context(), now, newOffsetMap()))
	assert.Positive(t, dirty.CleanerCheckpoint(), "the dirtiest log is cleaned")
	assert.False(t, m.cleanFilthiest(t.Context(), now, newOffsetMap()), "nothing else above min.cleanable.dirty.ratio")
	assert.Equal(t, cleanCheckpoint, clean.CleanerCheckpoint())

	// max.compaction.lag.ms forces it.
	cfg.MaxCompactionLagMs = 500
	clean.SetConfig(cfg)
	require.True(t, m.cleanFilthiest(t.Context(), now, newOffsetMap()))
	assert.Greater(t, clean.CleanerCheckpoint(), cleanCheckpoint)

	// Logs without compact are never cleaned.
	plain, err := m.GetOrCreate(TopicPartition{"plain", 0}, [16]byte{}, testConfig())
	require.NoError(t, err)
	fillLog(t, plain, codec.None, 2, 2, 1000)
	rollNow(t, plain)
	assert.False(t, m.cleanFilthiest(t.Context(), now, newOffsetMap()))
	_, err = plain.Clean(now, CleanOptions{})
	require.Error(t, err)
}

func TestCleanerThreadsFollowConfig(t *testing.T) {
	m, err := NewManager([]string{t.TempDir()}, compactConfig(), testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	cc := DefaultCleanerConfig()
	cc.BackoffMs = 3_600_000 // only CleanNow wakes it
	m.SetCleanerConfig(cc)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunCleaner(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return m.cleaner.threads.Load() == 1 }, 5*time.Second, 10*time.Millisecond)

	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.01
	l, err := m.GetOrCreate(TopicPartition{"t", 0}, [16]byte{}, cfg)
	require.NoError(t, err)
	fillLog(t, l, codec.None, 6, 10, time.Now().UnixMilli())
	m.CleanNow()
	require.Eventually(t, func() bool { return l.CleanerCheckpoint() > 0 }, 5*time.Second, 10*time.Millisecond)

	cc.Threads = 3
	m.SetCleanerConfig(cc)
	require.Eventually(t, func() bool { return m.cleaner.threads.Load() == 3 }, 5*time.Second, 10*time.Millisecond)
	cc.Enable = false
	m.SetCleanerConfig(cc)
	require.Eventually(t, func() bool { return m.cleaner.threads.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestThrottlerLimitsRate(t *testing.T) {
	var th throttler
	start := time.Now()
	for range 40 {
		require.NoError(t, th.throttle(t.Context(), 20_000, 500))
		time.Sleep(10 * time.Millisecond)
	}
	// 20 kB at 20 kB/s: about a second, less the unthrottled tail of
	// the last check interval.
	assert.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond)
}

// A follower copies a cleaned leader, gaps included, then cleans and
// truncates its own replica.
func TestCleanedLogReplicates(t *testing.T) {
	leader := openTestLog(t, "", compactConfig())
	fillLog(t, leader, codec.Snappy, 8, 10, 1000)
	_, err := leader.Clean(time.UnixMilli(5000), CleanOptions{})
	require.NoError(t, err)

	follower := openTestLog(t, "", compactConfig())
	for follower.LogEndOffset() < leader.LogEndOffset() {
		data, err := leader.Read(follower.LogEndOffset(), 300, true, leader.LogEndOffset())
		require.NoError(t, err)
		mustAppendReplica(t, follower, data)
	}
	assert.Equal(t, readRecords(t, leader), readRecords(t, follower))

	fillLog(t, follower, codec.Snappy, 2, 10, 6000)
	_, err = follower.Clean(time.UnixMilli(7000), CleanOptions{})
	require.NoError(t, err)
	want := readRecords(t, follower)
	// Truncate into a gap the cleaner left between two batches: the log
	// ends there.
	data, err := follower.Read(0, 1<<20, true, follower.LogEndOffset())
	require.NoError(t, err)
	cut := int64(-1)
	for prev := int64(-1); len(data) > 0 && cut < 0; {
		h := parseBatchHeader(data)
		if prev >= 0 && h.baseOffset > prev+1 {
			cut = prev + 1
		}
		prev = h.lastOffset()
		data = data[h.size():]
	}
	require.Positive(t, cut)
	require.NoError(t, follower.TruncateTo(cut))
	assert.Equal(t, cut, follower.LogEndOffset())
	assert.LessOrEqual(t, follower.CleanerCheckpoint(), cut)
	var kept []rec
	for _, r := range want {
		if r.offset < cut {
			kept = append(kept, r)
		}
	}
	assert.Equal(t, kept, readRecords(t, follower))
	mustAppend(t, follower, kvBatch(t, codec.None, 8000, "k1=z"), time.UnixMilli(8000))
}

// Reads and appends go on while the log is cleaned: readers always get
// whole, valid batches, and no append is lost.
func TestCleanWhileReadingAndAppending(t *testing.T) {
	l := openTestLog(t, "", compactConfig())
	fillLog(t, l, codec.Gzip, 8, 10, 1000)
	batches := make([][]byte, 400)
	for i := range batches {
		batches[i] = kvBatch(t, codec.None, 2000, fmt.Sprintf("k%d=w%d", i%10, i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for _, b := range batches {
			if _, err := l.Append(b, AppendOptions{Now: time.UnixMilli(2000)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := l.Read(l.LogStartOffset(), 1<<20, true, l.LogEndOffset())
			if err != nil {
				t.Error(err)
				return
			}
			for prev := int64(-1); len(data) > 0; {
				h := parseBatchHeader(data)
				if h.baseOffset <= prev || h.size() > int64(len(data)) || batchCRC(data[:h.size()]) != h.crc {
					t.Errorf("bad batch at offset %d after %d", h.baseOffset, prev)
					return
				}
				prev = h.lastOffset()
				data = data[h.size():]
			}
		}
	}()
	for range 10 {
		_, err := l.Clean(time.UnixMilli(5000), CleanOptions{IOBufferSize: 4096})
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	want := map[string]string{}
	for i := range batches {
		want[fmt.Sprintf("k%d", i%10)] = fmt.Sprintf("w%d", i)
	}
	assert.Equal(t, want, latestValues(readRecords(t, l)))
}

// cleanup.policy=compact,delete: both the cleaner and retention work on
// the log.
func TestCompactAndDelete(t *testing.T) {
	cfg := compactConfig()
	cfg.CompactOnly = false
	cfg.RetentionMs = 10_000
	l := openTestLog(t, "", cfg)
	fillLog(t, l, codec.None, 4, 10, 1000)
	fillLog(t, l, codec.None, 4, 10, 50_000)
	now := time.UnixMilli(55_000)
	_, err := l.Clean(now, CleanOptions{})
	require.NoError(t, err)
	n, err := l.EnforceRetention(now)
	require.NoError(t, err)
	assert.Positive(t, n)
	for _, r := range readRecords(t, l) {
		assert.GreaterOrEqual(t, r.ts, int64(50_000), "old segments deleted by retention")
	}
	assert.Len(t, latestValues(readRecords(t, l)), 10)
}

func TestOffsetMap(t *testing.T) {
	m := newOffsetMap()
	m.reset(100_000*offsetMapSlotSize, 0.9)
	want := map[string]int64{}
	for i := range 200_000 {
		k := fmt.Sprintf("key-%d", i%50_000)
		require.False(t, m.full())
		m.put([]byte(k), int64(i))
		want[k] = int64(i)
	}
	for k, off := range want {
		require.Equal(t, off, m.get([]byte(k)), k)
	}
	assert.Equal(t, int64(-1), m.get([]byte("absent")))
	assert.InDelta(t, 0.5, m.utilization(), 0.01)
	for i := 50_000; !m.full(); i++ {
		m.put(fmt.Appendf(nil, "key-%d", i), 1)
	}
	assert.Equal(t, 90_000, m.n, "fills to the load factor")
	assert.LessOrEqual(t, len(m.slots), 100_000, "never more slots than the memory given")
	m.reset(100_000*offsetMapSlotSize, 0.9)
	assert.Equal(t, int64(-1), m.get([]byte("key-1")))
}

// FuzzParseCleanRecord: the cleaner's record parser never reads outside
// the records section, whatever the disk holds.
func FuzzParseCleanRecord(f *testing.F) {
	b := kvBatch(f, codec.None, 1, "a=1", "b=", "nokey")
	f.Add(b[batchHeaderSize:])
	f.Add([]byte{0x02, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for p := 0; p < len(data); {
			r, err := parseCleanRecord(data, p)
			if err != nil {
				return
			}
			if r.end <= p || r.end > len(data) || r.tsDeltaEnd > r.end || (r.hasKey && len(r.key) > r.end-r.body) {
				t.Fatalf("record %+v at %d of %d bytes", r, p, len(data))
			}
			p = r.end
		}
	})
}

// As Kafka's LogConfig.maxSegmentMs: a compacted log's active segment
// rolls once it is older than max.compaction.lag.ms, even when segment.ms
// is longer, so the cleaner gets to its records in time; a log that is
// not compacted keeps to segment.ms.
func TestMaxCompactionLagRollsActiveSegment(t *testing.T) {
	for _, compact := range []bool{true, false} {
		cfg := compactConfig()
		cfg.Compact, cfg.CompactOnly = compact, compact
		cfg.SegmentBytes = 1 << 20
		cfg.SegmentMs = 3600000
		cfg.MaxCompactionLagMs = 1000
		l := openTestLog(t, "", cfg)
		start := time.Now()
		mustAppend(t, l, kvBatch(t, codec.None, start.UnixMilli(), "k=v"), start)
		require.NoError(t, l.MaybeRoll(start.Add(500*time.Millisecond)))
		require.Len(t, segmentBases(l), 1, "younger than the lag")
		require.NoError(t, l.MaybeRoll(start.Add(1500*time.Millisecond)))
		if compact {
			assert.Len(t, segmentBases(l), 2, "compacted: rolled past max.compaction.lag.ms")
		} else {
			assert.Len(t, segmentBases(l), 1, "not compacted: segment.ms applies")
		}
	}
}
