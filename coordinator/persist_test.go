package coordinator

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
)

// stableGroup joins members a and b into group g and syncs the
// assignments "A" and "B"; it returns the member ids and the generation.
func stableGroup(t *testing.T, c *Coordinator, g string) (a, b string, gen int32) {
	t.Helper()
	a = joinNew(t, c, g, time.Minute)
	b = joinNew(t, c, g, time.Minute)
	ja, jb := join(c, joinReq(g, a, time.Minute, "range")), join(c, joinReq(g, b, time.Minute, "range"))
	ra, rb := recv(t, ja), recv(t, jb)
	require.Equal(t, int16(0), ra.ErrorCode)
	leader, follower := a, b
	if ra.LeaderID == b {
		leader, follower = b, a
	}
	sf := syncGroup(c, g, follower, rb.Generation, nil)
	sl := syncGroup(c, g, leader, ra.Generation, map[string]string{a: "A", b: "B"})
	require.Equal(t, int16(0), recv(t, sl).ErrorCode)
	require.Equal(t, int16(0), recv(t, sf).ErrorCode)
	return a, b, ra.Generation
}

// TestStableGroupSurvivesCoordinatorChange: a coordinator that takes a
// Stable group over (another broker after a failover) loads it from etcd:
// the members carry on heartbeating in the same generation, with the same
// assignments, and no rebalance.
func TestStableGroupSurvivesCoordinatorChange(t *testing.T) {
	store := startStore(t)
	first := newTestCoordinator(t, store)
	a, b, gen := stableGroup(t, first, "g")
	first.Close()

	next := newTestCoordinator(t, store)
	assert.Nil(t, heartbeat(next, "g", a, gen))
	assert.Nil(t, heartbeat(next, "g", b, gen))
	assert.Equal(t, kerr.IllegalGeneration, heartbeat(next, "g", a, gen+1))
	assert.Equal(t, "B", string(recv(t, syncGroup(next, "g", b, gen, nil)).MemberAssignment))
	d, err := next.Describe(context.Background(), "g")
	require.NoError(t, err)
	assert.Equal(t, "Stable", d.State)
	assert.Equal(t, "range", d.Protocol)
	got := map[string]string{}
	for _, m := range d.Members {
		got[m.MemberID] = string(m.MemberAssignment)
	}
	assert.Equal(t, map[string]string{a: "A", b: "B"}, got)

	// A member leaving on the new coordinator rebalances as usual.
	require.Nil(t, next.Leave(context.Background(), "g", b, nil))
	assert.Equal(t, kerr.RebalanceInProgress, heartbeat(next, "g", a, gen))
}

// TestGroupFencedWhenShardMoves: a coordinator whose shard got a new
// leader can no longer write the group (NOT_COORDINATOR), and Unload
// drops the groups loaded under the old leadership.
func TestGroupFencedWhenShardMoves(t *testing.T) {
	store := startStore(t)
	ctx := context.Background()
	shard, err := store.CreateTopic(ctx, metastore.Topic{Name: "__consumer_offsets", Internal: true,
		Partitions: []metastore.PartitionState{{Partition: 0, Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}}}})
	require.NoError(t, err)
	owner := func(string) metastore.Ownership {
		t, _ := store.Topic("__consumer_offsets")
		p := t.Partitions[0]
		return metastore.Ownership{Topic: t.Name, Partition: 0, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
	}
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	c := New(cfg, store, owner, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	t.Cleanup(c.Close)
	a, _, gen := stableGroup(t, c, "g")
	require.Nil(t, c.Commit(ctx, "g", a, nil, gen, []OffsetCommit{{Topic: "t", Offset: 3}}))

	c.Unload() // nothing moved: nothing unloaded
	assert.Nil(t, heartbeat(c, "g", a, gen))

	p0 := shard.Partitions[0]
	moved := p0
	moved.Leader, moved.LeaderEpoch = 2, 1
	_, err = store.SetPartitionState(ctx, "__consumer_offsets", p0, moved)
	require.NoError(t, err)
	commit := []OffsetCommit{{Topic: "t", Offset: 4}}
	require.Nil(t, c.Commit(ctx, "g", a, nil, gen, commit))
	assert.Equal(t, kerr.NotCoordinator, commit[0].Err, "fenced by etcd")
	got, err := store.LoadGroupOffsets(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, int64(3), got["t"][0].Offset, "the fenced commit did not land")

	// Back to leader 1 at a later epoch: the group is loaded afresh.
	back := moved
	back.Leader, back.LeaderEpoch = 1, 2
	_, err = store.SetPartitionState(ctx, "__consumer_offsets", moved, back)
	require.NoError(t, err)
	c.Unload()
	assert.Nil(t, heartbeat(c, "g", a, gen), "reloaded Stable from etcd")
	commit = []OffsetCommit{{Topic: "t", Offset: 4}}
	require.Nil(t, c.Commit(ctx, "g", a, nil, gen, commit))
	assert.Nil(t, commit[0].Err)
}

// TestOffsetsExpire follows Kafka's retention rules: an Empty group's
// offsets expire offsets.retention.minutes after it became Empty, a
// standalone consumer's after each commit, and a group left with no
// offsets is deleted.
func TestOffsetsExpire(t *testing.T) {
	store := startStore(t)
	c := newTestCoordinator(t, store)
	ctx := context.Background()
	clock := time.Now()
	c.now = func() time.Time { return clock }
	retention := c.cfg.OffsetsRetention
	owns := func(string) bool { return true }

	require.Nil(t, c.Commit(ctx, "standalone", "", nil, -1, []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}))
	clock = clock.Add(retention / 2)
	require.Nil(t, c.Commit(ctx, "standalone", "", nil, -1, []OffsetCommit{{Topic: "t", Partition: 1, Offset: 2}}))

	a := joinNew(t, c, "g", time.Minute)
	ja := recv(t, join(c, joinReq("g", a, time.Minute, "range")))
	recv(t, syncGroup(c, "g", a, ja.Generation, map[string]string{a: "x"}))
	require.Nil(t, c.Commit(ctx, "g", a, nil, ja.Generation, []OffsetCommit{{Topic: "t", Offset: 5}}))

	clock = clock.Add(retention/2 + time.Minute) // the first standalone commit expired
	c.ExpireOffsets(ctx, owns)
	got, err := c.Fetch(ctx, "standalone", nil, false)
	require.Nil(t, err)
	assert.Equal(t, []FetchedOffset{{Topic: "t", Partition: 1, Offset: 2, Epoch: 0}}, got)
	got, err = c.Fetch(ctx, "g", nil, false)
	require.Nil(t, err)
	assert.Len(t, got, 1, "a group with members keeps the offsets of its topics")

	require.Nil(t, c.Leave(ctx, "g", a, nil)) // Empty from now
	clock = clock.Add(retention - time.Minute)
	c.ExpireOffsets(ctx, owns)
	got, err = c.Fetch(ctx, "g", nil, false)
	require.Nil(t, err)
	assert.Len(t, got, 1, "retention counts from the group becoming Empty")

	clock = clock.Add(2 * time.Minute)
	c.ExpireOffsets(ctx, owns)
	stored, serr := store.StoredGroups(ctx)
	require.NoError(t, serr)
	assert.Empty(t, stored, "both groups expired entirely and were deleted")
	d, derr := c.Describe(ctx, "g")
	assert.ErrorIs(t, derr, ErrGroupNotFound)
	assert.Equal(t, "Dead", d.State)
}

// TestConsumerGroupOffsetsExpire: a KIP-848 group keeps the offsets of
// the topics it subscribes to; once its last member left they expire
// retention after their commit and the group is deleted.
func TestConsumerGroupOffsetsExpire(t *testing.T) {
	store := startStore(t)
	c := newConsumerTestCoordinator(t, store, topicInfo("t", 1), topicInfo("old", 1))
	ctx := context.Background()
	clock := time.Now()
	c.now = func() time.Time { return clock }
	owns := func(string) bool { return true }

	r := cgHeartbeat(t, c, cgJoin("m1", "t"))
	require.Equal(t, int16(0), r.ErrorCode)
	commits := []OffsetCommit{{Topic: "t", Offset: 4}, {Topic: "old", Offset: 9}}
	require.Nil(t, c.Commit(ctx, "g", "m1", nil, r.MemberEpoch, commits))
	require.Nil(t, commits[0].Err)

	clock = clock.Add(c.cfg.OffsetsRetention)
	c.ExpireOffsets(ctx, owns)
	got, err := c.Fetch(ctx, "g", nil, false)
	require.Nil(t, err)
	assert.Equal(t, []FetchedOffset{{Topic: "t", Offset: 4}}, got, "the subscribed topic's offset stays")

	leave := cgBeat("m1", -1, assignment{})
	require.Equal(t, int16(0), cgHeartbeat(t, c, leave).ErrorCode)
	c.ExpireOffsets(ctx, owns)
	stored, serr := store.StoredGroups(ctx)
	require.NoError(t, serr)
	assert.Empty(t, stored, "empty, no offsets left: deleted")
}

// failingStore refuses group writes while fail is set (etcd unreachable).
type failingStore struct {
	Store
	fail atomic.Bool
}

func (s *failingStore) SaveGroup(ctx context.Context, group string, data []byte, own metastore.Ownership) error {
	if s.fail.Load() {
		return errors.New("etcd unreachable")
	}
	return s.Store.SaveGroup(ctx, group, data, own)
}

// TestStaticRejoinNotStored: a static member's replacement that cannot be
// stored is answered COORDINATOR_NOT_AVAILABLE; its next join stores it
// and keeps the generation.
func TestStaticRejoinNotStored(t *testing.T) {
	store := &failingStore{Store: startStore(t)}
	c := newTestCoordinator(t, store)
	req := joinReq("s", "", time.Minute, "range")
	req.InstanceID = kmsg.StringPtr("i")
	first := recv(t, join(c, req))
	require.Equal(t, int16(0), first.ErrorCode)
	require.Equal(t, int16(0), recv(t, syncGroup(c, "s", first.MemberID, first.Generation, map[string]string{first.MemberID: "a"})).ErrorCode)

	store.fail.Store(true)
	assert.Equal(t, kerr.CoordinatorNotAvailable.Code, recv(t, join(c, req)).ErrorCode)
	store.fail.Store(false)
	again := recv(t, join(c, req))
	require.Equal(t, int16(0), again.ErrorCode)
	assert.Equal(t, first.Generation, again.Generation)
	assert.Equal(t, "a", string(recv(t, syncGroup(c, "s", again.MemberID, again.Generation, nil)).MemberAssignment))
}

// TestTxnOffsetsVisibleOnlyAfterCommit: offsets committed inside a
// transaction are not the group's until the commit marker (an
// OffsetFetch requiring stable offsets gets UNSTABLE_OFFSET_COMMIT
// meanwhile), survive a coordinator change while pending, and an abort
// drops them.
func TestTxnOffsetsVisibleOnlyAfterCommit(t *testing.T) {
	store := startStore(t)
	ctx := context.Background()
	_, err := store.CreateTopic(ctx, metastore.Topic{Name: "__consumer_offsets", Internal: true,
		Partitions: []metastore.PartitionState{{Partition: 0, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}}}})
	require.NoError(t, err)
	owner := func(string) metastore.Ownership {
		t, _ := store.Topic("__consumer_offsets")
		p := t.Partitions[0]
		return metastore.Ownership{Topic: t.Name, Partition: 0, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
	}
	newCoord := func() *Coordinator {
		c := New(DefaultConfig(), store, owner, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
		t.Cleanup(c.Close)
		return c
	}
	c := newCoord()
	require.Nil(t, c.Commit(ctx, "g", "", nil, -1, []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5}}))
	fetch := func(c *Coordinator, stable bool) FetchedOffset {
		got, err := c.Fetch(ctx, "g", map[string][]int32{"t": {0}}, stable)
		require.Nil(t, err)
		require.Len(t, got, 1)
		return got[0]
	}

	commits := []OffsetCommit{{Topic: "t", Partition: 0, Offset: 9}}
	require.Nil(t, c.TxnCommit(ctx, "g", 77, "", nil, -1, commits))
	require.Nil(t, commits[0].Err)
	assert.Equal(t, int64(5), fetch(c, false).Offset, "not the group's yet")
	assert.Equal(t, kerr.UnstableOffsetCommit, fetch(c, true).Err)

	// Another coordinator loads the group with the offsets still pending.
	c.Close()
	c = newCoord()
	assert.Equal(t, kerr.UnstableOffsetCommit, fetch(c, true).Err)
	require.NoError(t, c.CompleteTxn(ctx, 0, 77, true))
	f := fetch(c, true)
	assert.Nil(t, f.Err)
	assert.Equal(t, int64(9), f.Offset, "committed with the transaction")

	abort := []OffsetCommit{{Topic: "t", Partition: 0, Offset: 12}}
	require.Nil(t, c.TxnCommit(ctx, "g", 78, "", nil, -1, abort))
	require.NoError(t, c.CompleteTxn(ctx, 0, 78, false))
	f = fetch(c, true)
	assert.Nil(t, f.Err)
	assert.Equal(t, int64(9), f.Offset, "aborted offsets dropped")
	stored, err := store.LoadGroupOffsets(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, int64(9), stored["t"][0].Offset)
	left, err := store.LoadPendingTxnOffsets(ctx, 0, -1)
	require.NoError(t, err)
	assert.Empty(t, left)
}
