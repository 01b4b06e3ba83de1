package metastore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const ctrlTTL = 10 * time.Second

type campaignResult struct {
	c   *Controllership
	err error
}

// campaignAsync runs a campaign in the background; the test's cleanup
// resigns whatever it wins.
func campaignAsync(t *testing.T, s *Store, c context.Context, id int32) <-chan campaignResult {
	t.Helper()
	out := make(chan campaignResult, 1)
	go func() {
		won, err := s.CampaignController(c, id, ctrlTTL)
		out <- campaignResult{won, err}
	}()
	return out
}

func elect(t *testing.T, s *Store, id int32) *Controllership {
	t.Helper()
	c, err := s.CampaignController(ctx(t), id, ctrlTTL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Resign(context.Background()) })
	return c
}

func won(t *testing.T, ch <-chan campaignResult) *Controllership {
	t.Helper()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.c.Resign(context.Background()) })
		return r.c
	case <-time.After(waitFor):
		t.Fatal("campaign not won")
		return nil
	}
}

func requireLost(t *testing.T, c *Controllership) {
	t.Helper()
	select {
	case <-c.Lost():
	case <-time.After(waitFor):
		t.Fatal("controllership not reported lost")
	}
}

func requireNotLost(t *testing.T, c *Controllership) {
	t.Helper()
	select {
	case <-c.Lost():
		t.Fatal("controllership lost")
	default:
	}
}

// controllerIs waits until s's cache shows broker id as controller at epoch.
func controllerIs(t *testing.T, s *Store, id int32, epoch int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		gotID, gotEpoch, ok := s.Controller()
		return ok && gotID == id && gotEpoch == epoch
	}, waitFor, tick)
}

// leaderMove is a change of p's leader to the replica at index i, with the
// ISR left as it is.
func leaderMove(topic string, p PartitionState, i int) PartitionChange {
	next := p.clone()
	next.Leader, next.LeaderEpoch = p.Replicas[i], p.LeaderEpoch+1
	return PartitionChange{Topic: topic, Expected: p, Next: next}
}

func TestControllerElection(t *testing.T) {
	endpoints := startEtcd(t)
	a, b, c := startStore(t, endpoints), startStore(t, endpoints), startStore(t, endpoints)
	id, _, ok := c.Controller()
	assert.False(t, ok)
	assert.Equal(t, int32(-1), id)

	ca := elect(t, a, 1)
	assert.Equal(t, int64(1), ca.Epoch())
	assert.Equal(t, int32(1), ca.BrokerID())
	id, epoch, ok := a.Controller()
	assert.True(t, ok, "the winner's cache has it on return")
	assert.Equal(t, int32(1), id)
	assert.Equal(t, int64(1), epoch)
	controllerIs(t, c, 1, 1)

	pending := campaignAsync(t, b, ctx(t), 2)
	assert.Never(t, func() bool { return len(pending) > 0 }, 300*time.Millisecond, tick, "only one controller")

	require.NoError(t, ca.Resign(ctx(t)))
	require.NoError(t, ca.Resign(ctx(t)), "idempotent")
	requireLost(t, ca)
	cb := won(t, pending)
	assert.Equal(t, int64(2), cb.Epoch())
	requireNotLost(t, cb)
	controllerIs(t, c, 2, 2)

	_, err := a.CreateTopic(ctx(t), topic("t", []int32{1, 2}))
	require.NoError(t, err)
	tp, _ := a.Topic("t")
	err = ca.SetPartitionStates(ctx(t), []PartitionChange{leaderMove("t", tp.Partitions[0], 1)})
	require.ErrorIs(t, err, ErrNotController)
	assert.Contains(t, err.Error(), "epoch 1")

	// A campaign after a resignation keeps counting.
	require.NoError(t, cb.Resign(ctx(t)))
	cc := elect(t, c, 3)
	assert.Equal(t, int64(3), cc.Epoch())
	controllerIs(t, a, 3, 3)
}

func TestControllerLostWhenLeaseRevoked(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	ca := elect(t, a, 1)
	pending := campaignAsync(t, b, ctx(t), 2)

	// As etcd does when the broker stops renewing for a ttl.
	_, err := dial(t, endpoints).Revoke(ctx(t), ca.session.Lease())
	require.NoError(t, err)
	requireLost(t, ca)
	cb := won(t, pending)
	assert.Equal(t, int64(2), cb.Epoch())
	controllerIs(t, a, 2, 2)
	require.NoError(t, ca.Resign(ctx(t)), "the lease is already gone")
}

func TestControllerLostWhenKeyDeleted(t *testing.T) {
	endpoints := startEtcd(t)
	a := startStore(t, endpoints)
	ca := elect(t, a, 1)
	_, err := dial(t, endpoints).Delete(ctx(t), a.keys.controller())
	require.NoError(t, err)
	requireLost(t, ca)

	// The lease lives on, but the epoch moved past ca's.
	cb := elect(t, a, 1)
	assert.Equal(t, int64(2), cb.Epoch())
}

func TestControllerWriteFencedByEtcd(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	created, err := a.CreateTopic(ctx(t), topic("t", []int32{1, 2}))
	require.NoError(t, err)
	ca := elect(t, a, 1)
	move := leaderMove("t", created.Partitions[0], 1)
	w, err := a.prepareStateWrite("t", move.Expected, move.Next)
	require.NoError(t, err)

	// ca's lease goes and b wins; ca writes what it decided before,
	// whether or not it has noticed: etcd refuses it.
	pending := campaignAsync(t, b, ctx(t), 2)
	_, err = dial(t, endpoints).Revoke(ctx(t), ca.session.Lease())
	require.NoError(t, err)
	won(t, pending)
	err = ca.commit(ctx(t), []stateWrite{w})
	require.ErrorIs(t, err, ErrNotController)
	requireLost(t, ca)
	got, _ := a.Topic("t")
	assert.Equal(t, int32(1), got.Partitions[0].Leader, "nothing written")
}

func TestSetPartitionStates(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	var many [][]int32
	for range 200 { // more than one transaction holds
		many = append(many, []int32{1, 2, 3})
	}
	big, err := a.CreateTopic(ctx(t), topic("big", many...))
	require.NoError(t, err)
	small, err := a.CreateTopic(ctx(t), topic("small", []int32{2, 1}, []int32{1, 2}))
	require.NoError(t, err)
	ca := elect(t, a, 1)

	var changes []PartitionChange
	for _, p := range big.Partitions {
		changes = append(changes, leaderMove("big", p, 2))
	}
	changes = append(changes, leaderMove("small", small.Partitions[1], 1))
	require.NoError(t, ca.SetPartitionStates(ctx(t), changes))
	got, _ := a.Topic("big")
	for _, p := range got.Partitions {
		require.Equal(t, int32(3), p.Leader, "partition %d, read back on return", p.Partition)
		require.Equal(t, int32(1), p.LeaderEpoch)
	}
	got, _ = a.Topic("small")
	assert.Equal(t, small.Partitions[0], got.Partitions[0])
	assert.Equal(t, int32(2), got.Partitions[1].Leader)
	require.Eventually(t, func() bool {
		tp, ok := b.Topic("big")
		return ok && tp.Partitions[199].Leader == 3
	}, waitFor, tick)

	t.Run("stale expectation", func(t *testing.T) {
		cur, _ := a.Topic("small")
		p0 := cur.Partitions[0]
		shrunk := p0.clone()
		shrunk.ISR = []int32{2}
		// A leader shrinks the ISR first; the controller decided from
		// the state before.
		_, err := a.SetPartitionState(ctx(t), "small", p0, shrunk)
		require.NoError(t, err)
		err = ca.SetPartitionStates(ctx(t), []PartitionChange{leaderMove("small", p0, 1)})
		require.ErrorIs(t, err, ErrConflict)
		requireNotLost(t, ca)
	})

	t.Run("state changed in etcd after the decision", func(t *testing.T) {
		cur, _ := a.Topic("small")
		p0 := cur.Partitions[0]
		move := leaderMove("small", p0, 1)
		w, err := a.prepareStateWrite("small", move.Expected, move.Next)
		require.NoError(t, err)
		grown := p0.clone()
		grown.ISR = []int32{2, 1}
		_, err = a.SetPartitionState(ctx(t), "small", p0, grown)
		require.NoError(t, err)
		err = ca.commit(ctx(t), []stateWrite{w})
		require.ErrorIs(t, err, ErrConflict)
		requireNotLost(t, ca)
		now, _ := a.Topic("small")
		assert.Equal(t, []int32{2, 1}, now.Partitions[0].ISR, "the leader's change is kept")
	})

	t.Run("invalid", func(t *testing.T) {
		cur, _ := a.Topic("small")
		p1 := cur.Partitions[1]
		move := leaderMove("small", p1, 0)
		err := ca.SetPartitionStates(ctx(t), []PartitionChange{move, move})
		require.ErrorIs(t, err, ErrInvalidPartition)
		bad := move
		bad.Next.Leader = 9
		require.ErrorIs(t, ca.SetPartitionStates(ctx(t), []PartitionChange{bad}), ErrInvalidPartition)
		missing := move
		missing.Topic = "missing"
		require.ErrorIs(t, ca.SetPartitionStates(ctx(t), []PartitionChange{missing}), ErrTopicNotFound)
		require.NoError(t, ca.SetPartitionStates(ctx(t), nil))
	})
}

func TestCampaignEnds(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	elect(t, a, 1)

	short, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	_, err := b.CampaignController(short, 2, ctrlTTL)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	pending := campaignAsync(t, b, ctx(t), 2)
	b.Close()
	select {
	case r := <-pending:
		require.ErrorIs(t, r.err, ErrNotRunning)
	case <-time.After(waitFor):
		t.Fatal("campaign did not end with the store")
	}

	_, err = a.CampaignController(ctx(t), -1, ctrlTTL)
	require.Error(t, err)
	_, err = a.CampaignController(ctx(t), 1, 0)
	require.Error(t, err)
}

func TestControllerSeenByLaterStoreAndLostOnClose(t *testing.T) {
	endpoints := startEtcd(t)
	a := startStore(t, endpoints)
	ca := elect(t, a, 4)
	b := startStore(t, endpoints)
	id, epoch, ok := b.Controller()
	require.True(t, ok, "loaded at start")
	assert.Equal(t, int32(4), id)
	assert.Equal(t, int64(1), epoch)

	a.Close()
	requireLost(t, ca)
	require.NoError(t, ca.Resign(ctx(t)), "revoking needs the client, not the store")
	require.Eventually(t, func() bool { _, _, ok := b.Controller(); return !ok }, waitFor, tick)
}

func TestCampaignResumesItsOwnKey(t *testing.T) {
	endpoints := startEtcd(t)
	a := startStore(t, endpoints)
	// As if the create committed but its reply was lost: the key exists
	// under the campaign's own lease.
	cp := &campaign{store: a, broker: 1, ttl: 10}
	t.Cleanup(cp.closeSession)
	lease, err := cp.lease(ctx(t))
	require.NoError(t, err)
	put, err := dial(t, endpoints).Put(ctx(t), a.keys.controller(), mustJSON(controllerRecord{BrokerID: 1, Epoch: 7}), clientv3.WithLease(lease))
	require.NoError(t, err)

	c, err := cp.attempt(ctx(t))
	require.NoError(t, err)
	require.NotNil(t, c)
	t.Cleanup(func() { _ = c.Resign(context.Background()) })
	assert.Equal(t, int64(7), c.Epoch())
	assert.Equal(t, put.Header.Revision, c.createRev)
	requireNotLost(t, c)
}

func TestTxnBatch(t *testing.T) {
	writes := func(topics ...int) []stateWrite {
		var out []stateWrite
		for i, n := range topics {
			for p := range n {
				out = append(out, stateWrite{topic: fmt.Sprint("t", i), partition: int32(p)})
			}
		}
		return out
	}
	cases := []struct {
		name   string
		writes []stateWrite
		want   int
	}{
		{"one", writes(1), 1},
		{"one topic at the limit", writes(126), 126},
		{"one topic over it", writes(200), 126},
		{"a topic each", writes(1, 1, 1), 3},
		{"many topics", writes(slices.Repeat([]int{1}, 100)...), 63},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, txnBatch(tc.writes))
		})
	}
}
