package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// leaderPartitionForTest is broker 1's partition led by it with replicas
// 1, 2, 3 all in the ISR, holding 5 records.
func leaderPartitionForTest(t *testing.T) *partition {
	t.Helper()
	log, err := storage.Open(t.TempDir(), storage.DefaultConfig(), testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	p := newPartition(storage.TopicPartition{Topic: "t"}, [16]byte{1}, log, 1)
	st := metastore.PartitionState{Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 3, ISR: []int32{1, 2, 3}}
	becameLeader, _ := p.setState(st, 2)
	require.True(t, becameLeader)
	_, err = log.Append(testBatch(-1, -1, -1, "a", "b", "c", "d", "e"), storage.AppendOptions{LeaderEpoch: 3, Now: time.Now()})
	require.NoError(t, err)
	p.appendedLocal()
	return p
}

func TestHighWatermarkIsTheISRsSmallestLogEnd(t *testing.T) {
	p := leaderPartitionForTest(t)
	now := time.Now()
	assert.Equal(t, int64(0), p.highWatermark(), "no follower heard from yet")
	assert.Nil(t, p.followerFetched(2, 5, now))
	assert.Equal(t, int64(0), p.highWatermark(), "broker 3 still unknown")
	assert.Nil(t, p.followerFetched(3, 2, now))
	assert.Equal(t, int64(2), p.highWatermark())
	assert.Nil(t, p.followerFetched(3, 5, now))
	assert.Equal(t, int64(5), p.highWatermark())
	assert.Nil(t, p.followerFetched(9, 5, now), "not a replica")
}

func TestISRShrinksAndExpands(t *testing.T) {
	p := leaderPartitionForTest(t)
	start := time.Now()
	p.followerFetched(2, 5, start)
	p.followerFetched(3, 1, start)
	assert.Nil(t, p.laggingISR(start.Add(time.Second), 10*time.Second))

	p.followerFetched(2, 5, start.Add(10*time.Second)) // broker 2 keeps up
	c := p.laggingISR(start.Add(11*time.Second), 10*time.Second)
	require.NotNil(t, c, "broker 3 has not caught up for longer than the lag time")
	assert.Equal(t, []int32{1, 2, 3}, c.from.ISR)
	assert.Equal(t, []int32{1, 2}, c.to.ISR)
	assert.Nil(t, p.laggingISR(start.Add(12*time.Second), 10*time.Second), "one ISR write at a time")
	p.isrWritten()
	p.setState(c.to, 2)
	assert.Equal(t, int64(5), p.highWatermark(), "the high watermark follows the smaller ISR")

	assert.Nil(t, p.followerFetched(3, 4, start.Add(13*time.Second)), "not yet at the high watermark")
	grow := p.followerFetched(3, 5, start.Add(14*time.Second))
	require.NotNil(t, grow, "caught up: back into the ISR")
	assert.Equal(t, []int32{1, 2, 3}, grow.to.ISR)
}

func TestWaitCommitted(t *testing.T) {
	p := leaderPartitionForTest(t)
	ctx := context.Background()
	err := p.waitCommitted(ctx, 5, time.Now().Add(20*time.Millisecond))
	require.ErrorIs(t, err, errRequestTimedOut)

	done := make(chan error, 1)
	go func() { done <- p.waitCommitted(ctx, 5, time.Now().Add(10*time.Second)) }()
	p.followerFetched(2, 5, time.Now())
	p.followerFetched(3, 5, time.Now())
	require.NoError(t, <-done, "answered once the ISR has the batch")

	// The ISR shrinks to the leader alone while a batch waits: the batch is
	// committed, but by fewer replicas than min.insync.replicas (2).
	_, err = p.log.Append(testBatch(-1, -1, -1, "f"), storage.AppendOptions{LeaderEpoch: 3, Now: time.Now()})
	require.NoError(t, err)
	go func() { done <- p.waitCommitted(ctx, 6, time.Now().Add(10*time.Second)) }()
	st, _ := p.snapshot()
	st.ISR = []int32{1}
	p.setState(st, 2)
	require.ErrorIs(t, <-done, errNotEnoughReplicasAfterAppend)

	st.Leader, st.LeaderEpoch = 2, 4
	p.setState(st, 2)
	require.ErrorIs(t, p.waitCommitted(ctx, 7, time.Now().Add(time.Second)), errNotLeader, "leadership moved away")
}
