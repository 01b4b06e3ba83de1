package txn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkad/kafkad/controller/metastore"
)

const stateTopic = "__transaction_state"

// countingStore is the real metadata store, counting transaction writes.
type countingStore struct {
	*metastore.Store
	saves atomic.Int64
}

func (s *countingStore) SaveTxn(ctx context.Context, shard int32, id string, data []byte, own metastore.Ownership) error {
	s.saves.Add(1)
	return s.Store.SaveTxn(ctx, shard, id, data, own)
}

// testCluster is one broker's view: one shard, led as the store says;
// markers are recorded and may be made to fail.
type testCluster struct {
	store *metastore.Store
	self  int32
	pids  *atomic.Int64

	mu      sync.Mutex
	markers []Marker
	failing bool
}

func (c *testCluster) Shard(string) (int32, bool) { return 0, true }
func (c *testCluster) Shards() int                { return 1 }
func (c *testCluster) Self() int32                { return c.self }
func (c *testCluster) Ownership(shard int32) metastore.Ownership {
	t, ok := c.store.Topic(stateTopic)
	if !ok {
		return metastore.Ownership{Leader: -1}
	}
	p := t.Partitions[shard]
	return metastore.Ownership{Topic: stateTopic, Partition: shard, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
}
func (c *testCluster) AllocateProducerID(context.Context) (int64, error) { return c.pids.Add(1), nil }
func (c *testCluster) OffsetsPartition(string) (TopicPartition, bool) {
	return TopicPartition{Topic: "__consumer_offsets", Partition: 7}, true
}
func (c *testCluster) WriteMarkers(_ context.Context, m Marker) map[TopicPartition]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[TopicPartition]error{}
	for _, p := range m.Partitions {
		if c.failing {
			out[p] = errors.New("leader unreachable")
		} else {
			out[p] = nil
		}
	}
	if !c.failing {
		m.Partitions = slices.Clone(m.Partitions)
		c.markers = append(c.markers, m)
	}
	return out
}

func (c *testCluster) written() []Marker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.markers)
}

func (c *testCluster) setFailing(f bool) {
	c.mu.Lock()
	c.failing = f
	c.mu.Unlock()
}

type fixture struct {
	store *countingStore
	pids  atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := metastore.StartTest(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	_, err := store.CreateTopic(context.Background(), metastore.Topic{Name: stateTopic, Internal: true,
		Partitions: []metastore.PartitionState{{Partition: 0, Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}}}})
	require.NoError(t, err)
	return &fixture{store: &countingStore{Store: store}}
}

// coordinator starts broker self's coordinator with its shards loaded.
func (f *fixture) coordinator(t *testing.T, self int32, cfg Config) (*Coordinator, *testCluster) {
	t.Helper()
	cl := &testCluster{store: f.store.Store, self: self, pids: &f.pids}
	c := New(cfg, f.store, cl, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	t.Cleanup(c.Close)
	c.SyncShards(context.Background())
	return c, cl
}

// moveShard makes broker leader lead the shard at the next epoch.
func (f *fixture) moveShard(t *testing.T, leader int32) {
	t.Helper()
	top, _ := f.store.Topic(stateTopic)
	cur := top.Partitions[0]
	next := cur
	next.Leader, next.LeaderEpoch = leader, cur.LeaderEpoch+1
	_, err := f.store.SetPartitionState(context.Background(), stateTopic, cur, next)
	require.NoError(t, err)
}

func describe(t *testing.T, c *Coordinator, id string) Meta {
	t.Helper()
	m, err := c.Describe(id)
	require.Nil(t, err)
	return m
}

func waitState(t *testing.T, c *Coordinator, id string, want State) Meta {
	t.Helper()
	require.Eventually(t, func() bool {
		m, err := c.Describe(id)
		return err == nil && m.State == want
	}, 10*time.Second, 5*time.Millisecond, "state %s", want)
	return describe(t, c, id)
}

var tp0 = TopicPartition{Topic: "t", Partition: 0}
var tp1 = TopicPartition{Topic: "t", Partition: 1}

func TestInitProducerIDFencesAndAbortsOpenTransaction(t *testing.T) {
	f := newFixture(t)
	c, cl := f.coordinator(t, 1, DefaultConfig())
	ctx := context.Background()

	_, _, err := c.InitProducerID(ctx, "app", int32((16 * time.Minute).Milliseconds()), -1, -1)
	assert.Equal(t, kerr.InvalidTransactionTimeout, err, "over transaction.max.timeout.ms")

	pid, epoch, err := c.InitProducerID(ctx, "app", 60000, -1, -1)
	require.Nil(t, err)
	assert.Equal(t, int16(0), epoch)
	require.Nil(t, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0, tp1}, false))
	assert.Equal(t, Ongoing, describe(t, c, "app").State)

	// A new instance: the open transaction is aborted at a bumped epoch
	// (fencing the old one) before the new instance gets its epoch.
	_, _, err = c.InitProducerID(ctx, "app", 60000, -1, -1)
	assert.Equal(t, kerr.ConcurrentTransactions, err)
	waitState(t, c, "app", CompleteAbort)
	markers := cl.written()
	require.Len(t, markers, 1)
	assert.False(t, markers[0].Commit)
	assert.Equal(t, epoch+1, markers[0].ProducerEpoch)
	assert.ElementsMatch(t, []TopicPartition{tp0, tp1}, markers[0].Partitions)

	pid2, epoch2, err := c.InitProducerID(ctx, "app", 60000, -1, -1)
	require.Nil(t, err)
	assert.Equal(t, pid, pid2)
	assert.Equal(t, epoch+2, epoch2)

	// The zombie is fenced everywhere.
	assert.Equal(t, kerr.ProducerFenced, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0}, false))
	_, _, err = c.EndTxn(ctx, "app", pid, epoch, true, false)
	assert.Equal(t, kerr.ProducerFenced, err)
	assert.Equal(t, kerr.InvalidProducerIDMapping, c.AddPartitions(ctx, "app", pid+100, epoch2, []TopicPartition{tp0}, false))
}

func TestEndTxnV1CommitAndRetries(t *testing.T) {
	f := newFixture(t)
	c, cl := f.coordinator(t, 1, DefaultConfig())
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "app", 60000, -1, -1)
	require.Nil(t, err)

	before := f.store.saves.Load()
	require.Nil(t, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0}, false))
	require.Nil(t, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0}, false), "already in: no write")
	require.Nil(t, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0}, true), "verify only")
	assert.Equal(t, kerr.InvalidTxnState, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp1}, true))
	gotPID, gotEpoch, err := c.EndTxn(ctx, "app", pid, epoch, true, false)
	require.Nil(t, err)
	assert.Equal(t, pid, gotPID)
	assert.Equal(t, epoch, gotEpoch, "transactions v1: no bump")
	waitState(t, c, "app", CompleteCommit)
	assert.Equal(t, int64(3), f.store.saves.Load()-before, "begin, prepare, complete")
	require.Len(t, cl.written(), 1)
	assert.True(t, cl.written()[0].Commit)

	_, _, err = c.EndTxn(ctx, "app", pid, epoch, true, false)
	assert.Nil(t, err, "a retried commit succeeds")
	_, _, err = c.EndTxn(ctx, "app", pid, epoch, false, false)
	assert.Equal(t, kerr.InvalidTxnState, err, "abort after commit")
	assert.Len(t, cl.written(), 1, "no second round of markers")
}

func TestEndTxnV2BumpsEpoch(t *testing.T) {
	f := newFixture(t)
	c, cl := f.coordinator(t, 1, DefaultConfig())
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "app", 60000, -1, -1)
	require.Nil(t, err)
	require.Nil(t, c.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0}, false))
	gotPID, next, err := c.EndTxn(ctx, "app", pid, epoch, false, true)
	require.Nil(t, err)
	assert.Equal(t, pid, gotPID)
	assert.Equal(t, epoch+1, next)
	waitState(t, c, "app", CompleteAbort)
	require.Len(t, cl.written(), 1)
	assert.Equal(t, next, cl.written()[0].ProducerEpoch, "markers carry the bumped epoch")

	// The response was lost: the retry at the old epoch gets the same answer.
	_, again, err := c.EndTxn(ctx, "app", pid, epoch, false, true)
	require.Nil(t, err)
	assert.Equal(t, next, again)

	// An abort with nothing added still bumps the epoch; a commit is refused.
	_, _, err = c.EndTxn(ctx, "app", pid, next, true, true)
	assert.Equal(t, kerr.InvalidTxnState, err)
	_, empty, err := c.EndTxn(ctx, "app", pid, next, false, true)
	require.Nil(t, err)
	assert.Equal(t, next+1, empty)
	assert.Len(t, cl.written(), 1, "nothing to mark")
}

func TestTimedOutTransactionIsAborted(t *testing.T) {
	f := newFixture(t)
	c, cl := f.coordinator(t, 1, DefaultConfig())
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "slow", 1, -1, -1) // 1 ms timeout
	require.Nil(t, err)
	fast, fastEpoch, err := c.InitProducerID(ctx, "fast", 60000, -1, -1)
	require.Nil(t, err)
	require.Nil(t, c.AddPartitions(ctx, "slow", pid, epoch, []TopicPartition{tp0}, false))
	require.Nil(t, c.AddPartitions(ctx, "fast", fast, fastEpoch, []TopicPartition{tp1}, false))
	require.Eventually(t, func() bool {
		c.AbortTimedOut(ctx)
		m, _ := c.Describe("slow")
		return m.State == CompleteAbort
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, Ongoing, describe(t, c, "fast").State, "within its timeout")
	markers := cl.written()
	require.Len(t, markers, 1)
	assert.Equal(t, pid, markers[0].ProducerID)
	assert.False(t, markers[0].Commit)
	assert.Equal(t, epoch+1, markers[0].ProducerEpoch, "the producer is fenced")
	_, _, err = c.EndTxn(ctx, "slow", pid, epoch, true, false)
	assert.Equal(t, kerr.ProducerFenced, err)

	listed := c.List(nil, nil, -1)
	require.Len(t, listed, 2)
	assert.Equal(t, "fast", listed[0].ID)
	assert.Equal(t, Ongoing, listed[0].State)
	assert.Equal(t, []Listed{{ID: "fast", ProducerID: fast, State: Ongoing}}, c.List([]string{"ongoing"}, nil, -1))
	assert.Empty(t, c.List(nil, nil, time.Hour.Milliseconds()), "nothing open for an hour")
}

// TestNewCoordinatorCompletesPreparedCommit: the coordinator stores
// PrepareCommit and dies before its markers are written; the broker that
// takes the shard over finishes the commit with its own coordinator
// epoch, and the old one can no longer write.
func TestNewCoordinatorCompletesPreparedCommit(t *testing.T) {
	f := newFixture(t)
	old, oldCluster := f.coordinator(t, 1, DefaultConfig())
	ctx := context.Background()
	pid, epoch, err := old.InitProducerID(ctx, "app", 60000, -1, -1)
	require.Nil(t, err)
	require.Nil(t, old.AddPartitions(ctx, "app", pid, epoch, []TopicPartition{tp0, tp1}, false))
	oldCluster.setFailing(true) // partition leaders unreachable from the old coordinator
	_, _, err = old.EndTxn(ctx, "app", pid, epoch, true, true)
	require.Nil(t, err)
	assert.Equal(t, PrepareCommit, describe(t, old, "app").State)

	f.moveShard(t, 2)
	next, nextCluster := f.coordinator(t, 2, DefaultConfig())
	m := waitState(t, next, "app", CompleteCommit)
	assert.Empty(t, m.Partitions)
	markers := nextCluster.written()
	require.Len(t, markers, 1)
	assert.True(t, markers[0].Commit)
	assert.Equal(t, epoch+1, markers[0].ProducerEpoch)
	assert.Equal(t, int32(1), markers[0].CoordinatorEpoch, "the new shard leader epoch")
	assert.ElementsMatch(t, []TopicPartition{tp0, tp1}, markers[0].Partitions)

	// The old coordinator has lost the shard.
	_, _, err = old.InitProducerID(ctx, "app", 60000, -1, -1)
	assert.Equal(t, kerr.NotCoordinator, err)
	oldCluster.setFailing(false)
	time.Sleep(50 * time.Millisecond) // give a stray completion goroutine the chance to write
	assert.Empty(t, oldCluster.written(), "the deposed coordinator wrote no markers")
	stored, lerr := f.store.LoadTxns(ctx, 0)
	require.NoError(t, lerr)
	sm, derr := decodeMeta("app", stored["app"])
	require.NoError(t, derr)
	assert.Equal(t, CompleteCommit, sm.State)
}

func TestExpiredTransactionalIDIsForgotten(t *testing.T) {
	f := newFixture(t)
	cfg := DefaultConfig()
	cfg.IDExpiration = time.Millisecond
	c, _ := f.coordinator(t, 1, cfg)
	ctx := context.Background()
	pid, _, err := c.InitProducerID(ctx, "idle", 60000, -1, -1)
	require.Nil(t, err)
	open, openEpoch, err := c.InitProducerID(ctx, "busy", 60000, -1, -1)
	require.Nil(t, err)
	require.Nil(t, c.AddPartitions(ctx, "busy", open, openEpoch, []TopicPartition{tp0}, false))
	require.Eventually(t, func() bool {
		c.ExpireIDs(ctx)
		_, err := c.Describe("idle")
		return err == kerr.TransactionalIDNotFound
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, Ongoing, describe(t, c, "busy").State, "an open transaction never expires")
	stored, lerr := f.store.LoadTxns(ctx, 0)
	require.NoError(t, lerr)
	assert.NotContains(t, stored, "idle")
	again, _, err := c.InitProducerID(ctx, "idle", 60000, -1, -1)
	require.Nil(t, err)
	assert.NotEqual(t, pid, again, "a new producer id after expiry")
}
