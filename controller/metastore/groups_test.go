package metastore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupWritesFencedByShardLeadership: group writes made under a shard
// leadership survive an ISR change of the shard, and are refused once
// the shard has a new leader (even when the cache of the writer has not
// seen it), or when the ownership is none at all.
func TestGroupWritesFencedByShardLeadership(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	created, err := a.CreateTopic(ctx(t), topic("__consumer_offsets", []int32{1, 2}))
	require.NoError(t, err)
	p0 := created.Partitions[0]
	own := Ownership{Topic: "__consumer_offsets", Partition: 0, Leader: p0.Leader, LeaderEpoch: p0.LeaderEpoch}

	require.NoError(t, a.SaveGroup(ctx(t), "g/1", []byte(`{"kind":"classic"}`), own))
	offsets := map[string]map[int32]CommittedOffset{"t": {0: {Offset: 5, CommitMs: 1}, 3: {Offset: 7, Metadata: "m"}}}
	require.NoError(t, a.StoreGroupOffsets(ctx(t), "g/1", offsets, own))

	// An ISR change (same leader and epoch) made through the other store:
	// a's cached revision is stale, the write still goes through.
	require.Eventually(t, func() bool { _, ok := b.Topic("__consumer_offsets"); return ok }, waitFor, tick)
	shrunk := p0
	shrunk.ISR = []int32{1}
	_, err = b.SetPartitionState(ctx(t), "__consumer_offsets", p0, shrunk)
	require.NoError(t, err)
	offsets["t"][0] = CommittedOffset{Offset: 6, CommitMs: 2}
	require.NoError(t, a.StoreGroupOffsets(ctx(t), "g/1", offsets, own))

	got, err := b.LoadGroupOffsets(ctx(t), "g/1")
	require.NoError(t, err)
	assert.Equal(t, offsets, got)
	data, err := b.LoadGroup(ctx(t), "g/1")
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"classic"}`, string(data))

	// A new leader: the old owner's writes are refused.
	moved := shrunk
	moved.Leader, moved.LeaderEpoch, moved.ISR = 2, shrunk.LeaderEpoch+1, []int32{2}
	_, err = b.SetPartitionState(ctx(t), "__consumer_offsets", shrunk, moved)
	require.NoError(t, err)
	require.ErrorIs(t, a.SaveGroup(ctx(t), "g/1", []byte(`{"kind":"classic","generation":9}`), own), ErrFenced)
	require.ErrorIs(t, a.StoreGroupOffsets(ctx(t), "g/1", map[string]map[int32]CommittedOffset{"t": {}}, own), ErrFenced)
	require.ErrorIs(t, a.DeleteGroup(ctx(t), "g/1", own), ErrFenced)
	require.ErrorIs(t, a.SaveGroup(ctx(t), "g/1", nil, Ownership{Leader: -1}), ErrFenced)

	// The new owner writes; nothing of the fenced writes landed.
	newOwn := Ownership{Topic: "__consumer_offsets", Partition: 0, Leader: 2, LeaderEpoch: moved.LeaderEpoch}
	data, err = b.LoadGroup(ctx(t), "g/1")
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"classic"}`, string(data))
	groups, err := b.StoredGroups(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, []string{"g/1"}, groups)
	require.NoError(t, b.DeleteGroup(ctx(t), "g/1", newOwn))
	groups, err = b.StoredGroups(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, groups)
}
