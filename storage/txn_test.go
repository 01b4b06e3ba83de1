package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	s := newSpec(recs(n, ts)...)
	s.producerID, s.producerEpoch, s.baseSequence = pid, epoch, seq
	s.transactional = true
	return buildBatch(t, s)
}

func mustMarker(t *testing.T, l *Log, pid int64, epoch int16, commit bool, coordEpoch int32) AppendResult {
	t.Helper()
	res, err := l.AppendMarker(Marker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coordEpoch}, AppendOptions{})
	require.NoError(t, err)
	return res
}

// txnView is what a read_committed consumer and DescribeProducers see of
// a log's transactions.
type txnView struct {
	FirstUnstable int64
	Aborted       []AbortedTxn
	Producers     []ProducerInfo
}

func viewOf(t *testing.T, l *Log) txnView {
	t.Helper()
	aborted, err := l.AbortedTransactions(0, l.LogEndOffset())
	require.NoError(t, err)
	return txnView{FirstUnstable: l.FirstUnstableOffset(), Aborted: aborted, Producers: l.Producers()}
}

// interleavedTxns writes two producers' transactions (layout in the
// comments) and returns what the log must show afterwards.
func interleavedTxns(t *testing.T, l *Log) {
	t.Helper()
	mustAppend(t, l, plainBatch(t, 2, 1), time.Time{})                     // 0-1
	mustAppend(t, l, txnBatch(t, 1, 0, 0, 2, 10), time.Time{})             // 2-3 P1 opens
	mustAppend(t, l, txnBatch(t, 2, 0, 0, 1, 11), time.Time{})             // 4 P2 opens
	mustAppend(t, l, txnBatch(t, 1, 0, 2, 1, 12), time.Time{})             // 5 P1
	assert.Equal(t, int64(6), mustMarker(t, l, 1, 0, true, 3).BaseOffset)  // 6 P1 commits
	assert.Equal(t, int64(7), mustMarker(t, l, 2, 0, false, 3).BaseOffset) // 7 P2 aborts
	mustAppend(t, l, txnBatch(t, 1, 0, 3, 1, 13), time.Time{})             // 8 P1 opens again
	mustAppend(t, l, txnBatch(t, 2, 0, 1, 1, 14), time.Time{})             // 9 P2 opens again
	mustMarker(t, l, 1, 0, false, 3)                                       // 10 P1 aborts, P2 open
}

func TestTxnLastStableOffset(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	steps := []struct {
		name    string
		do      func()
		wantFUO int64
		open    map[int64]bool
	}{
		{"plain data", func() { mustAppend(t, l, plainBatch(t, 2, 1), time.Time{}) }, 2, nil},
		{"P1 opens", func() { mustAppend(t, l, txnBatch(t, 1, 0, 0, 2, 10), time.Time{}) }, 2, map[int64]bool{1: true}},
		{"P2 opens", func() { mustAppend(t, l, txnBatch(t, 2, 0, 0, 1, 11), time.Time{}) }, 2, map[int64]bool{1: true, 2: true}},
		{"P1 continues", func() { mustAppend(t, l, txnBatch(t, 1, 0, 2, 1, 12), time.Time{}) }, 2, map[int64]bool{1: true, 2: true}},
		{"P1 commits", func() { mustMarker(t, l, 1, 0, true, 3) }, 4, map[int64]bool{2: true}},
		{"P2 aborts", func() { mustMarker(t, l, 2, 0, false, 3) }, 8, nil},
		{"P1 opens again", func() { mustAppend(t, l, txnBatch(t, 1, 0, 3, 1, 13), time.Time{}) }, 8, map[int64]bool{1: true}},
		{"P2 opens again", func() { mustAppend(t, l, txnBatch(t, 2, 0, 1, 1, 14), time.Time{}) }, 8, map[int64]bool{1: true, 2: true}},
		{"P1 aborts", func() { mustMarker(t, l, 1, 0, false, 3) }, 9, map[int64]bool{2: true}},
	}
	for _, st := range steps {
		st.do()
		assert.Equal(t, st.wantFUO, l.FirstUnstableOffset(), st.name)
		for _, pid := range []int64{1, 2} {
			assert.Equal(t, st.open[pid], l.HasOngoingTxn(pid, 0), "%s: producer %d", st.name, pid)
			assert.False(t, l.HasOngoingTxn(pid, 1), "%s: producer %d at another epoch", st.name, pid)
		}
	}

	p2abort := AbortedTxn{ProducerID: 2, FirstOffset: 4, LastOffset: 7, LastStableOffset: 8}
	p1abort := AbortedTxn{ProducerID: 1, FirstOffset: 8, LastOffset: 10, LastStableOffset: 9}
	for _, tc := range []struct {
		name     string
		from, to int64
		want     []AbortedTxn
	}{
		{"everything", 0, 11, []AbortedTxn{p2abort, p1abort}},
		{"before P2's first offset", 0, 4, nil},
		{"inside P2's transaction", 5, 6, []AbortedTxn{p2abort}},
		{"from P2's marker", 7, 8, []AbortedTxn{p2abort}},
		{"after P2's marker", 8, 11, []AbortedTxn{p1abort}},
		{"empty range", 5, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.AbortedTransactions(tc.from, tc.to)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	producers := l.Producers()
	for i := range producers {
		// Markers carry the append time.
		assert.GreaterOrEqual(t, producers[i].LastTimestamp, time.Now().Add(-time.Minute).UnixMilli())
		producers[i].LastTimestamp = 0
	}
	assert.Equal(t, []ProducerInfo{
		{ProducerID: 1, ProducerEpoch: 0, LastSequence: 3, CoordinatorEpoch: 3, TxnStartOffset: -1},
		{ProducerID: 2, ProducerEpoch: 0, LastSequence: 1, CoordinatorEpoch: 3, TxnStartOffset: 9},
	}, producers)
}

func TestMarkerBatchFormat(t *testing.T) {
	for _, commit := range []bool{false, true} {
		l := openTestLog(t, "", testConfig())
		mustAppend(t, l, txnBatch(t, 7, 3, 0, 1, 10), time.Time{})
		now := time.UnixMilli(1_700_000_000_123)
		res, err := l.AppendMarker(Marker{ProducerID: 7, ProducerEpoch: 3, Commit: commit, CoordinatorEpoch: 0x01020304}, AppendOptions{LeaderEpoch: 9, Now: now})
		require.NoError(t, err)
		require.Equal(t, int64(1), res.BaseOffset)
		b, err := l.Read(1, 1<<20, true, l.LogEndOffset())
		require.NoError(t, err)
		require.Len(t, b, markerBatchSize)
		h := parseBatchHeader(b)
		assert.Equal(t, int64(1), h.baseOffset)
		assert.Equal(t, int32(9), h.leaderEpoch)
		assert.Equal(t, int8(2), h.magic)
		assert.Equal(t, crc32.Checksum(b[offAttributes:], castagnoli), h.crc)
		assert.Equal(t, int16(0x30), h.attributes)
		assert.Equal(t, int32(0), h.lastOffsetDelta)
		assert.Equal(t, now.UnixMilli(), h.baseTimestamp)
		assert.Equal(t, now.UnixMilli(), h.maxTimestamp)
		assert.Equal(t, int64(7), h.producerID)
		assert.Equal(t, int16(3), h.producerEpoch)
		assert.Equal(t, int32(-1), h.baseSequence)
		assert.Equal(t, int32(1), h.recordCount)
		typ := byte(0)
		if commit {
			typ = 1
		}
		// Kafka's DefaultRecord of an EndTransactionMarker: length 16,
		// attributes, deltas 0, key (version 0, type), value (version 0,
		// coordinator epoch), no headers; varints zigzag encoded.
		assert.Equal(t, []byte{32, 0, 0, 0, 8, 0, 0, 0, typ, 12, 0, 0, 1, 2, 3, 4, 0}, b[batchHeaderSize:])
		var scratch []byte
		mk, err := decodeMarker(b, &h, &scratch)
		require.NoError(t, err)
		assert.Equal(t, Marker{ProducerID: 7, ProducerEpoch: 3, Commit: commit, CoordinatorEpoch: 0x01020304}, mk)
		// The record framing passes the checks a client batch gets.
		_, err = checkRecords(b[batchHeaderSize:], &h, &recordRules{})
		require.NoError(t, err)
	}
}

func TestTxnAppendRules(t *testing.T) {
	type step struct {
		batch  func(t *testing.T) []byte // nil: marker
		marker Marker
		want   error
	}
	data := func(pid int64, epoch int16, seq int32, txn bool) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			if txn {
				return txnBatch(t, pid, epoch, seq, 1, 1)
			}
			return idemBatch(t, pid, epoch, seq, 1, 1)
		}
	}
	control := func(t *testing.T) []byte {
		s := newSpec(recs(1, 1)...)
		s.producerID, s.producerEpoch, s.baseSequence = 1, 0, 0
		s.control, s.transactional = true, true
		return buildBatch(t, s)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"control batch from a client", []step{{batch: control, want: ErrInvalidRecord}}},
		{"plain batch during a transaction", []step{{batch: data(1, 0, 0, true)}, {batch: data(1, 0, 1, false), want: ErrInvalidTxnState}}},
		{"plain batch after the commit", []step{{batch: data(1, 0, 0, true)}, {marker: Marker{1, 0, true, 0}}, {batch: data(1, 0, 1, false)}}},
		{"marker with an older epoch", []step{{batch: data(1, 2, 0, true)}, {marker: Marker{1, 1, false, 0}, want: ErrInvalidProducerEpoch}}},
		{"older coordinator epoch fenced", []step{{batch: data(1, 0, 0, true)}, {marker: Marker{1, 0, true, 5}}, {batch: data(1, 0, 1, true)}, {marker: Marker{1, 0, true, 4}, want: ErrTransactionCoordinatorFenced}}},
		{"same coordinator epoch again", []step{{marker: Marker{1, 0, true, 5}}, {marker: Marker{1, 0, false, 5}}}},
		{"marker without a transaction", []step{{marker: Marker{9, 0, false, 0}}, {marker: Marker{9, 0, true, 0}}}},
		{"bumped epoch then sequence 0", []step{{batch: data(1, 0, 0, true)}, {batch: data(1, 0, 1, true)}, {marker: Marker{1, 1, true, 0}}, {batch: data(1, 1, 0, true)}}},
		{"bumped epoch forgets sequences", []step{{batch: data(1, 0, 0, true)}, {batch: data(1, 0, 1, true)}, {marker: Marker{1, 1, true, 0}}, {batch: data(1, 1, 2, true), want: ErrOutOfOrderSequence}}},
		{"bumped epoch fences the old one", []step{{batch: data(1, 0, 0, true)}, {marker: Marker{1, 1, true, 0}}, {batch: data(1, 0, 1, true), want: ErrInvalidProducerEpoch}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := openTestLog(t, "", testConfig())
			for i, st := range tc.steps {
				leo, size := l.LogEndOffset(), l.Size()
				var err error
				if st.batch != nil {
					_, err = l.Append(st.batch(t), AppendOptions{})
				} else {
					_, err = l.AppendMarker(st.marker, AppendOptions{})
				}
				if st.want != nil {
					require.ErrorIs(t, err, st.want, "step %d", i)
					assert.Equal(t, leo, l.LogEndOffset(), "step %d wrote nothing", i)
					assert.Equal(t, size, l.Size())
					continue
				}
				require.NoError(t, err, "step %d", i)
			}
			// No transaction is left open by a refused step: markers
			// without a transaction change nothing, others close theirs.
			aborted, err := l.AbortedTransactions(0, l.LogEndOffset())
			require.NoError(t, err)
			assert.Empty(t, aborted)
		})
	}
}

// A marker of the producer's current epoch keeps its batches, so retries
// still deduplicate.
func TestMarkerKeepsDeduplication(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	first := mustAppend(t, l, txnBatch(t, 4, 0, 0, 2, 1), time.Time{})
	mustMarker(t, l, 4, 0, true, 0)
	res, err := l.Append(txnBatch(t, 4, 0, 0, 2, 1), AppendOptions{})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, first.BaseOffset, res.BaseOffset)
	assert.Equal(t, l.LogEndOffset(), l.FirstUnstableOffset(), "a duplicate opens nothing")
	next := mustAppend(t, l, txnBatch(t, 4, 0, 2, 1, 1), time.Time{})
	assert.Equal(t, next.BaseOffset, l.FirstUnstableOffset())
}

func TestTxnReplicaMatchesLeader(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300 // several segments, markers among them
	leader := openTestLog(t, "", cfg)
	follower := openTestLog(t, "", cfg)
	replicate := func() {
		for leo := follower.LogEndOffset(); leo < leader.LogEndOffset(); leo = follower.LogEndOffset() {
			b, err := leader.Read(leo, 1, true, leader.LogEndOffset()) // batch by batch, so segments roll alike
			require.NoError(t, err)
			_, err = follower.AppendReplica(b)
			require.NoError(t, err)
		}
	}
	interleavedTxns(t, leader)
	replicate()
	assert.Equal(t, viewOf(t, leader), viewOf(t, follower))
	assert.Greater(t, len(segmentBases(follower)), 2)

	// A KIP-890 epoch bump travels too.
	mustMarker(t, leader, 2, 1, false, 4)
	mustAppend(t, leader, txnBatch(t, 2, 1, 0, 1, 20), time.Time{})
	replicate()
	assert.Equal(t, viewOf(t, leader), viewOf(t, follower))
	assert.True(t, follower.HasOngoingTxn(2, 1))
	assert.False(t, follower.HasOngoingTxn(2, 0))
	for _, seg := range segmentBases(leader) {
		lb, _ := os.ReadFile(segmentPath(leader.dir, seg, txnIndexSuffix))
		fb, _ := os.ReadFile(segmentPath(follower.dir, seg, txnIndexSuffix))
		assert.Equal(t, lb, fb, "txn index of segment %d", seg)
	}
}

func TestTxnStateSurvivesRestart(t *testing.T) {
	cases := []struct {
		name  string
		stop  func(l *Log)
		after func(t *testing.T, dir string, bases []int64)
	}{
		{"clean close", func(l *Log) { require.NoError(t, l.Close()) }, nil},
		{"crash", crash, nil},
		{"crash, txn index of the active segment lost", crash, func(t *testing.T, dir string, bases []int64) {
			_ = os.Remove(segmentPath(dir, bases[len(bases)-1], txnIndexSuffix))
		}},
		{"crash without snapshots", crash, func(t *testing.T, dir string, _ []int64) {
			offs, err := listSnapshots(dir)
			require.NoError(t, err)
			for _, o := range offs {
				require.NoError(t, os.Remove(segmentPath(dir, o, snapshotSuffix)))
			}
		}},
	}
	for _, tc := range cases {
		for _, segBytes := range []int64{1 << 20, 250} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := testConfig()
				cfg.SegmentBytes = segBytes
				dir := t.TempDir()
				l := openTestLog(t, dir, cfg)
				interleavedTxns(t, l)
				mustAppend(t, l, txnBatch(t, 3, 0, 0, 1, 30), time.Time{}) // 11 P3 opens
				mustMarker(t, l, 2, 0, false, 3)                           // 12 P2 aborts, P3 open
				want := viewOf(t, l)
				require.Len(t, want.Aborted, 3)
				bases := segmentBases(l)
				require.NoError(t, l.Flush())
				tc.stop(l)
				if tc.after != nil {
					tc.after(t, dir, bases)
				}
				l2 := openTestLog(t, dir, cfg)
				assert.Equal(t, want, viewOf(t, l2))
				assert.True(t, l2.HasOngoingTxn(3, 0))
				assert.Equal(t, int64(11), l2.FirstUnstableOffset())
				// The state keeps working: P3 aborts.
				mustMarker(t, l2, 3, 0, false, 3)
				got, err := l2.AbortedTransactions(11, 14)
				require.NoError(t, err)
				assert.Equal(t, []AbortedTxn{
					{ProducerID: 2, FirstOffset: 9, LastOffset: 12, LastStableOffset: 11},
					{ProducerID: 3, FirstOffset: 11, LastOffset: 13, LastStableOffset: 14},
				}, got)
			})
		}
	}
}

func TestTornTxnIndexRepaired(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write([]byte("0123456789"))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"cut mid entry", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, st.Size()-txnIndexEntrySize/2))
		}},
		{"garbage entry", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data[len(data)-txnIndexEntrySize] = 0x7f // version
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}},
	}
	for _, tc := range cases {
		for _, clean := range []bool{true, false} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				l := openTestLog(t, dir, testConfig())
				interleavedTxns(t, l)
				want := viewOf(t, l)
				// Markers (timestamped now) roll away from the old
				// data; find the segment holding both entries.
				var path string
				for _, b := range segmentBases(l) {
					if p := segmentPath(dir, b, txnIndexSuffix); fileExists(p) {
						require.Empty(t, path, "one segment holds the entries")
						path = p
					}
				}
				require.NotEmpty(t, path)
				if clean {
					require.NoError(t, l.Close())
				} else {
					require.NoError(t, l.Flush())
					crash(l)
				}
				tc.damage(t, path)
				l2 := openTestLog(t, dir, testConfig())
				assert.Equal(t, want, viewOf(t, l2))
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Len(t, data, 2*txnIndexEntrySize)
				entries, valid := parseTxnIndex(data, 0) // base 0 is below any segment's
				assert.Equal(t, len(data), valid)
				assert.Equal(t, want.Aborted, entries)
			})
		}
	}
}

func TestSnapshotV1StillLoads(t *testing.T) {
	// Version 1 layout: no transaction fields.
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0) // crc, below
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint64(b, 42)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = binary.BigEndian.AppendUint64(b, 1000)
	b = append(b, 1)
	for _, v := range []uint64{0, 4} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	for _, v := range []uint64{0, 4, 1000} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))

	got, err := decodeSnapshot(b)
	require.NoError(t, err)
	want := newProducerEntry(42)
	want.epoch, want.lastTimestamp, want.n = 3, 1000, 1
	want.batches[0] = batchMetadata{firstSeq: 0, lastSeq: 4, firstOffset: 0, lastOffset: 4, maxTimestamp: 1000}
	assert.Equal(t, map[int64]*producerEntry{42: &want}, got)

	// A log whose only snapshot is version 1 opens with it.
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig())
	mustAppend(t, l, idemBatch(t, 42, 3, 0, 5, 1000), time.Time{})
	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(segmentPath(dir, 5, snapshotSuffix)))
	// Offset 5: the log end, so nothing is replayed over it.
	require.NoError(t, os.WriteFile(segmentPath(dir, 5, snapshotSuffix), b, 0o644))
	l2 := openTestLog(t, dir, testConfig())
	res, err := l2.Append(idemBatch(t, 42, 3, 0, 5, 1000), AppendOptions{})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, []ProducerInfo{{ProducerID: 42, ProducerEpoch: 3, LastSequence: 4, LastTimestamp: 1000, CoordinatorEpoch: -1, TxnStartOffset: -1}}, l2.Producers())
}

func TestTruncateToReopensTransactions(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 250
	l := openTestLog(t, "", cfg)
	interleavedTxns(t, l) // P2 aborted at 7, P1 aborted at 10
	require.NoError(t, l.TruncateTo(10))
	assert.Equal(t, int64(8), l.FirstUnstableOffset(), "P1's abort is gone: its transaction from 8 is open again")
	assert.True(t, l.HasOngoingTxn(1, 0))
	got, err := l.AbortedTransactions(0, 10)
	require.NoError(t, err)
	assert.Equal(t, []AbortedTxn{{ProducerID: 2, FirstOffset: 4, LastOffset: 7, LastStableOffset: 8}}, got)

	require.NoError(t, l.TruncateTo(7))
	assert.Equal(t, int64(4), l.FirstUnstableOffset())
	got, err = l.AbortedTransactions(0, 7)
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, b := range segmentBases(l) {
		data, _ := os.ReadFile(segmentPath(l.dir, b, txnIndexSuffix))
		assert.Empty(t, data, "segment %d", b)
	}
	// The state rebuilt by the truncation matches a fresh replay.
	want := viewOf(t, l)
	dir := l.dir
	require.NoError(t, l.Close())
	assert.Equal(t, want, viewOf(t, openTestLog(t, dir, cfg)))
}

func TestLogStartOffsetAndTransactions(t *testing.T) {
	cfg := testConfig()
	oneBatchPerSegment(t, &cfg, plainBatch(t, 2, 1), txnBatch(t, 1, 0, 0, 2, 10), txnBatch(t, 2, 0, 0, 1, 11),
		encodeMarkerBatch(Marker{ProducerID: 1, CoordinatorEpoch: 3}, 0, 0, 0, false))
	l := openTestLog(t, "", cfg)
	interleavedTxns(t, l) // P2 aborted 4..7, P1 aborted 8..10, P2 open from 9
	dir := l.dir
	require.FileExists(t, segmentPath(dir, 7, txnIndexSuffix))

	// Inside P2's first transaction: its entry stays until its marker goes.
	_, err := l.DeleteRecordsBefore(5)
	require.NoError(t, err)
	got, err := l.AbortedTransactions(0, 11)
	require.NoError(t, err)
	assert.Equal(t, []int64{7, 10}, lastOffsets(got))

	// Past P2's marker (segment 7 goes) and past P2's open transaction's
	// first offset: the first unstable offset is the log start.
	_, err = l.DeleteRecordsBefore(10)
	require.NoError(t, err)
	assert.NoFileExists(t, segmentPath(dir, 7, txnIndexSuffix))
	assert.Equal(t, int64(10), l.FirstUnstableOffset())
	assert.True(t, l.HasOngoingTxn(2, 0), "an open transaction outlives its batches")
	got, err = l.AbortedTransactions(0, 11)
	require.NoError(t, err)
	assert.Equal(t, []int64{10}, lastOffsets(got))

	mustMarker(t, l, 2, 0, true, 3)
	assert.Equal(t, l.LogEndOffset(), l.FirstUnstableOffset())

	// Retention deletes the rest, index files included.
	l.SetConfig(func() Config { c := cfg; c.RetentionBytes = 0; return c }())
	_, err = l.EnforceRetention(time.Now())
	require.NoError(t, err)
	got, err = l.AbortedTransactions(0, l.LogEndOffset())
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NoFileExists(t, segmentPath(dir, 10, txnIndexSuffix))
	assert.Equal(t, l.LogEndOffset(), l.FirstUnstableOffset())
}

func lastOffsets(ts []AbortedTxn) []int64 {
	var out []int64
	for _, t := range ts {
		out = append(out, t.LastOffset)
	}
	return out
}

// Readers of the first unstable offset never see a transaction's batch as
// stable before its transaction is decided, nor an abort before its index
// entry.
func TestFirstUnstableOffsetConcurrentWithAppends(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			fu := l.FirstUnstableOffset()
			aborted, err := l.AbortedTransactions(0, fu)
			if err != nil {
				t.Error(err)
				return
			}
			// Transaction i is a batch at 2i and a marker at 2i+1, odd
			// ones aborted. A first unstable offset of 2i+1 exposes the
			// batch before its marker is readable: allowed (the
			// transaction is decided), but an abort must already be
			// indexed.
			if i := fu / 2; fu%2 == 1 && i%2 == 1 {
				if len(aborted) == 0 || aborted[len(aborted)-1].FirstOffset != 2*i {
					t.Errorf("first unstable offset %d exposes aborted transaction %d before its index entry", fu, i)
					return
				}
			}
		}
	}()
	for i := range 300 {
		mustAppend(t, l, txnBatch(t, 1, 0, int32(i), 1, 1), time.Time{})
		mustMarker(t, l, 1, 0, i%2 == 0, 0) // odd transactions abort
	}
	stop.Store(true)
	wg.Wait()
	got, err := l.AbortedTransactions(0, l.LogEndOffset())
	require.NoError(t, err)
	assert.Len(t, got, 150)
}

func FuzzParseTxnIndex(f *testing.F) {
	var b []byte
	b = appendTxnIndexEntry(b, AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 7, LastStableOffset: 8})
	b = appendTxnIndexEntry(b, AbortedTxn{ProducerID: 2, FirstOffset: 8, LastOffset: 10, LastStableOffset: 9})
	f.Add(b, int64(0))
	f.Add(append(b, "0123456789"...), int64(5))
	f.Add(b[:50], int64(0))
	f.Fuzz(func(t *testing.T, data []byte, base int64) {
		if base < 0 {
			return
		}
		entries, valid := parseTxnIndex(data, base)
		require.LessOrEqual(t, valid, len(data))
		require.Zero(t, valid%txnIndexEntrySize)
		require.Len(t, entries, valid/txnIndexEntrySize)
		var again []byte
		for _, e := range entries {
			require.GreaterOrEqual(t, e.LastOffset, base)
			require.LessOrEqual(t, e.FirstOffset, e.LastOffset)
			again = appendTxnIndexEntry(again, e)
		}
		require.True(t, bytes.Equal(data[:valid], again), "entries re-encode to the bytes they came from")
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func FuzzDecodeMarker(f *testing.F) {
	f.Add(encodeMarkerBatch(Marker{ProducerID: 1, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 3}, 0, 0, 1, false)[batchHeaderSize:])
	f.Add([]byte{32, 0, 0, 0, 8, 0, 0, 0, 2, 12, 0, 0, 1, 2, 3, 4, 0})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, records []byte) {
		b := append(encodeMarkerBatch(Marker{ProducerID: 1, ProducerEpoch: 2}, 0, 0, 1, false)[:batchHeaderSize], records...)
		binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
		h := parseBatchHeader(b)
		var scratch []byte
		mk, err := decodeMarker(b, &h, &scratch)
		if err != nil {
			return
		}
		// What decodes is a marker that encodes and decodes the same.
		again := encodeMarkerBatch(mk, 0, 0, 1, false)
		ah := parseBatchHeader(again)
		got, err := decodeMarker(again, &ah, &scratch)
		require.NoError(t, err)
		assert.Equal(t, mk, got)
	})
}

// A crash that tears the last marker loses its abort: the entry goes and
// the transaction is open again.
func TestCrashLosesTornMarker(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig())
	interleavedTxns(t, l) // P1 aborted at 10, P2 open from 9
	bases := segmentBases(l)
	last := segmentPath(dir, bases[len(bases)-1], logSuffix)
	crash(l)
	st, err := os.Stat(last)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(last, st.Size()-7))

	l2 := openTestLog(t, dir, testConfig())
	require.Equal(t, int64(10), l2.LogEndOffset())
	assert.Equal(t, int64(8), l2.FirstUnstableOffset())
	assert.True(t, l2.HasOngoingTxn(1, 0))
	got, err := l2.AbortedTransactions(0, 10)
	require.NoError(t, err)
	assert.Equal(t, []int64{7}, lastOffsets(got))
}

// TestLastStableOffsetWaitsForReplicatedMarker: as in Kafka, a transaction
// ended by a marker stays unstable until the high watermark passes the
// marker, on the leader and on a follower fed the leader's bytes; once
// passed it is forgotten.
func TestLastStableOffsetWaitsForReplicatedMarker(t *testing.T) {
	leader := openTestLog(t, "", testConfig())
	mustAppend(t, leader, plainBatch(t, 2, 1), time.Time{})         // 0-1
	mustAppend(t, leader, txnBatch(t, 7, 0, 0, 3, 10), time.Time{}) // 2-4
	mustMarker(t, leader, 7, 0, true, 1)                            // 5
	mustAppend(t, leader, plainBatch(t, 1, 20), time.Time{})        // 6

	follower := openTestLog(t, "", testConfig())
	data, err := leader.Read(0, 1<<20, true, leader.LogEndOffset())
	require.NoError(t, err)
	_, err = follower.AppendReplica(data)
	require.NoError(t, err)

	for name, l := range map[string]*Log{"leader": leader, "follower": follower} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, int64(7), l.FirstUnstableOffset(), "the transaction has ended")
			assert.Equal(t, int64(2), l.LastStableOffset(3), "data and marker above the high watermark")
			assert.Equal(t, int64(2), l.LastStableOffset(5), "data replicated, marker not")
			assert.Equal(t, int64(6), l.LastStableOffset(6), "marker replicated")
			assert.Equal(t, int64(7), l.LastStableOffset(7))
			assert.Equal(t, int64(5), l.LastStableOffset(5), "forgotten once passed")
		})
	}
}
