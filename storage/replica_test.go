package storage

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustAppendReplica(t *testing.T, l *Log, batches []byte) AppendResult {
	t.Helper()
	res, err := l.AppendReplica(batches)
	require.NoError(t, err)
	return res
}

// replicate copies what follower lacks from leader in fetch-sized chunks,
// the way a follower's fetch loop does.
func replicate(t *testing.T, leader, follower *Log, maxBytes int32) {
	t.Helper()
	for follower.LogEndOffset() < leader.LogEndOffset() {
		data, err := leader.Read(follower.LogEndOffset(), maxBytes, true, leader.LogEndOffset())
		require.NoError(t, err)
		require.NotEmpty(t, data)
		sent := slices.Clone(data)
		res := mustAppendReplica(t, follower, data)
		assert.Equal(t, sent, data, "AppendReplica does not modify its input")
		bases := batchBases(t, data)
		assert.Equal(t, bases[0], res.BaseOffset)
		assert.Equal(t, follower.LogEndOffset()-1, res.LastOffset)
		assert.Equal(t, res.LastOffset-res.BaseOffset+1, res.NumRecords)
	}
}

// A follower fed the leader's bytes ends up with the same bytes, epochs
// and producer state, before and after a restart.
func TestAppendReplicaMirrorsLeader(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		name := map[bool]string{false: "clean close", true: "crash"}[crashed]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 2000
			cfg.IndexIntervalBytes = 100
			leader := openTestLog(t, "", cfg)
			fdir := t.TempDir()
			follower := openTestLog(t, fdir, cfg)

			seq := int32(0)
			var lastIdem AppendResult
			var wantEpochs []epochEntry
			for i := range 30 {
				epoch := int32(1 + i/10*2) // epochs 1, 3, 5
				s := newSpec(recs(1+i%4, int64(1000+i))...)
				s.codec = allCodecs[i%len(allCodecs)]
				if i%3 == 0 {
					s.producerID, s.producerEpoch, s.baseSequence = 42, 0, seq
					seq += int32(len(s.recs))
				}
				res, err := leader.Append(buildBatch(t, s), AppendOptions{LeaderEpoch: epoch})
				require.NoError(t, err)
				if s.producerID >= 0 {
					lastIdem = res
				}
				if i%10 == 0 {
					wantEpochs = append(wantEpochs, epochEntry{epoch, res.BaseOffset})
				}
			}
			replicate(t, leader, follower, 700)
			require.Greater(t, len(segmentBases(follower)), 1, "the follower rolled")
			assert.True(t, bytes.Equal(readAll(t, leader), readAll(t, follower)))
			assert.Equal(t, wantEpochs, leader.epochEntries())
			assert.Equal(t, wantEpochs, follower.epochEntries())

			if crashed {
				require.NoError(t, follower.Flush())
				crash(follower)
			} else {
				require.NoError(t, follower.Close())
			}
			f2 := openTestLog(t, fdir, cfg)
			assert.True(t, bytes.Equal(readAll(t, leader), readAll(t, f2)))
			assert.Equal(t, leader.epochEntries(), f2.epochEntries())
			for _, ts := range []int64{0, 1007, 1015, 1031} {
				wantOff, wantTs, wantFound, err := leader.OffsetForTimestamp(ts)
				require.NoError(t, err)
				off, gotTs, found, err := f2.OffsetForTimestamp(ts)
				require.NoError(t, err)
				assert.Equal(t, []any{wantOff, wantTs, wantFound}, []any{off, gotTs, found}, "timestamp %d", ts)
			}
			// The follower's producer state came along: a retry is a duplicate.
			n := int(lastIdem.NumRecords)
			res, err := f2.Append(idemBatch(t, 42, 0, seq-int32(n), n, 1000), AppendOptions{LeaderEpoch: 6})
			require.NoError(t, err)
			assert.True(t, res.Duplicate)
			assert.Equal(t, lastIdem.BaseOffset, res.BaseOffset)
		})
	}
}

func TestAppendReplicaRejects(t *testing.T) {
	good := func() []byte { return leaderBatch(t, 3, 1, 2, 10) }
	cases := []struct {
		name  string
		batch func() []byte
		want  error
	}{
		{"empty", func() []byte { return nil }, ErrInvalidRecord},
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }, ErrCorruptMessage},
		{"truncated", func() []byte { b := good(); return b[:len(b)-1] }, ErrCorruptMessage},
		{"shorter than a header", func() []byte { return good()[:40] }, ErrCorruptMessage},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, ErrUnsupportedMagic},
		{"length below header", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offLength:], 20)
			return b
		}, ErrCorruptMessage},
		{"bad second batch", func() []byte {
			second := leaderBatch(t, 5, 1, 1, 10)
			second[len(second)-1] ^= 1
			return append(good(), second...)
		}, ErrCorruptMessage},
		{"offsets going back", func() []byte { return append(good(), leaderBatch(t, 4, 1, 1, 10)...) }, ErrInvalidRecord},
		{"below the log end", func() []byte { return leaderBatch(t, 2, 1, 2, 10) }, ErrOffsetMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := openTestLog(t, "", testConfig())
			mustAppendReplica(t, l, leaderBatch(t, 0, 1, 3, 5))
			size := l.Size()
			_, err := l.AppendReplica(tc.batch())
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, int64(3), l.LogEndOffset())
			assert.Equal(t, size, l.Size(), "nothing written")
			assert.Equal(t, []epochEntry{{1, 0}}, l.epochEntries())
		})
	}

	l := openTestLog(t, "", testConfig())
	mustAppendReplica(t, l, leaderBatch(t, 0, 1, 3, 5))
	_, err := l.AppendReplica(leaderBatch(t, 1, 1, 2, 10))
	var mismatch *OffsetMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, OffsetMismatchError{FirstOffset: 1, LastOffset: 2, LogEndOffset: 3}, *mismatch)
}

// A leader's cleaner drops whole batches, so a follower fetching at its
// log end may get a batch starting later: the gap is kept, as in Kafka.
func TestAppendReplicaAcceptsCompactionGap(t *testing.T) {
	l := openTestLog(t, "", testConfig())
	mustAppendReplica(t, l, leaderBatch(t, 0, 1, 3, 5))
	mustAppendReplica(t, l, leaderBatch(t, 7, 1, 2, 10))
	assert.Equal(t, int64(9), l.LogEndOffset())
	data, err := l.Read(3, 1<<20, true, 100)
	require.NoError(t, err)
	assert.Equal(t, []int64{7}, batchBases(t, data))
}

// A follower takes batches as they come (max.message.bytes, sequence
// gaps and repeats are the leader's business) but keeps producer state,
// so once it leads it deduplicates retries of batches it replicated.
func TestAppendReplicaKeepsProducerState(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 100
	l := openTestLog(t, "", cfg)
	idem := func(base int64, seq int32, n int) []byte {
		b := idemBatch(t, 9, 0, seq, n, 1)
		binary.BigEndian.PutUint64(b, uint64(base))
		binary.BigEndian.PutUint32(b[offLeaderEpoch:], 4)
		return b
	}
	big := leaderBatch(t, 0, 4, 20, 1)
	require.Greater(t, len(big), 100)
	mustAppendReplica(t, l, big)                                       // 0-19, over max.message.bytes
	mustAppendReplica(t, l, idem(20, 0, 2))                            // 20-21
	mustAppendReplica(t, l, append(idem(22, 5, 2), idem(24, 7, 2)...)) // a sequence gap

	// Now leading: a retry of the latest batch is a duplicate of the
	// replicated one, and sequences continue after it.
	cfg.MaxMessageBytes = 1 << 20
	l.SetConfig(cfg)
	res, err := l.Append(idemBatch(t, 9, 0, 7, 2, 1), AppendOptions{LeaderEpoch: 5})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, int64(24), res.BaseOffset)
	_, err = l.Append(idemBatch(t, 9, 0, 10, 1, 1), AppendOptions{LeaderEpoch: 5})
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
	res, err = l.Append(idemBatch(t, 9, 0, 9, 1, 1), AppendOptions{LeaderEpoch: 5})
	require.NoError(t, err)
	assert.Equal(t, int64(26), res.BaseOffset)
	assert.Equal(t, []epochEntry{{4, 0}, {5, 26}}, l.epochEntries())
}

// The replication scenario end to end: a leader fails with batches its
// follower never got, the follower leads a new epoch, the old leader comes
// back, asks for the end of its latest epoch, truncates and catches up.
func TestReplicaDivergenceAndCatchUp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	a := openTestLog(t, "", cfg) // leader of epochs 1 and 2
	b := openTestLog(t, "", cfg) // follower, then leader of epoch 3

	for i := range 6 {
		appendEpoch(t, a, 1, 3, int64(i))
	}
	_, err := a.Append(idemBatch(t, 77, 0, 0, 2, 1), AppendOptions{LeaderEpoch: 1}) // 18-19
	require.NoError(t, err)
	replicate(t, a, b, 1<<20)
	// Epoch 2: A writes batches B never fetches, one from producer 77.
	appendEpoch(t, a, 2, 3, 50)
	_, err = a.Append(idemBatch(t, 77, 0, 2, 2, 1), AppendOptions{LeaderEpoch: 2})
	require.NoError(t, err)
	appendEpoch(t, a, 2, 3, 51)
	require.Equal(t, []epochEntry{{1, 0}, {2, 20}}, a.epochEntries())
	require.Greater(t, len(segmentBases(a)), 2)

	// B leads epoch 3.
	for i := range 4 {
		appendEpoch(t, b, 3, 2, int64(100+i))
	}
	// A follows B: the end of A's latest epoch on B tells A where to cut.
	epoch, end := b.EndOffsetForEpoch(a.LatestEpoch())
	assert.Equal(t, int32(1), epoch)
	assert.Equal(t, int64(20), end)
	if epoch != a.LatestEpoch() {
		_, ownEnd := a.EndOffsetForEpoch(epoch)
		end = min(end, ownEnd)
	}
	require.NoError(t, a.TruncateTo(end))
	assert.Equal(t, int64(20), a.LogEndOffset())
	replicate(t, b, a, 500)
	assert.True(t, bytes.Equal(readAll(t, b), readAll(t, a)))
	assert.Equal(t, b.epochEntries(), a.epochEntries())

	// A leads epoch 4; producer 77's retry of its truncated batch is new
	// data, not a duplicate.
	res, err := a.Append(idemBatch(t, 77, 0, 2, 2, 1), AppendOptions{LeaderEpoch: 4})
	require.NoError(t, err)
	assert.False(t, res.Duplicate)
	assert.Equal(t, b.LogEndOffset(), res.BaseOffset)
}

func TestAppendReplicaEveryCodecReadsBack(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			leader := openTestLog(t, "", testConfig())
			follower := openTestLog(t, "", testConfig())
			for i := range 3 {
				s := newSpec(recs(5, int64(i))...)
				s.codec = c
				_, err := leader.Append(buildBatch(t, s), AppendOptions{LeaderEpoch: int32(i)})
				require.NoError(t, err)
			}
			replicate(t, leader, follower, 1)
			data := readAll(t, follower)
			var v validator
			for len(data) > 0 {
				info, _, err := v.validate(data, &recordRules{maxMessageBytes: 1 << 20})
				require.NoError(t, err)
				data = data[info.size:]
			}
			assert.Equal(t, []epochEntry{{0, 0}, {1, 5}, {2, 10}}, follower.epochEntries())
		})
	}
}

func TestAppendReplicaClosed(t *testing.T) {
	l, err := Open(t.TempDir(), testConfig(), testLogger(t))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = l.AppendReplica(leaderBatch(t, 0, 1, 1, 1))
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, l.TruncateTo(0), ErrClosed)
}
