package metastore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateTopicIsReadableAtOnce(t *testing.T) {
	s := startStore(t, startEtcd(t))
	in := topic("orders", []int32{1, 2}, []int32{2, 1})
	in.Configs = map[string]string{"retention.ms": "1000"}

	created, err := s.CreateTopic(ctx(t), in)
	require.NoError(t, err)
	assert.NotEqual(t, [16]byte{}, created.ID)
	assert.Equal(t, byte(0x40), created.ID[6]&0xf0, "UUID version 4")

	got, ok := s.Topic("orders")
	require.True(t, ok, "the cache has the write when CreateTopic returns")
	assert.Equal(t, created, got)
	assert.Equal(t, in.Partitions, got.Partitions)
	assert.Equal(t, in.Configs, got.Configs)
	byID, ok := s.TopicByID(created.ID)
	require.True(t, ok)
	assert.Equal(t, got, byID)
	assert.Equal(t, []Topic{got}, s.Topics())

	// Reads are deep copies.
	got.Partitions[0].ISR[0] = 99
	got.Configs["retention.ms"] = "x"
	again, _ := s.Topic("orders")
	assert.Equal(t, int32(1), again.Partitions[0].ISR[0])
	assert.Equal(t, "1000", again.Configs["retention.ms"])
}

func TestCreateTopicKeepsGivenIDAndInternal(t *testing.T) {
	s := startStore(t, startEtcd(t))
	in := topic("__consumer_offsets", []int32{0})
	in.ID = [16]byte{1, 2, 3}
	in.Internal = true
	_, err := s.CreateTopic(ctx(t), in)
	require.NoError(t, err)
	got, ok := s.Topic("__consumer_offsets")
	require.True(t, ok)
	assert.Equal(t, in.ID, got.ID)
	assert.True(t, got.Internal)
	assert.Nil(t, got.Configs)
}

func TestCreateTopicTwiceFails(t *testing.T) {
	s := startStore(t, startEtcd(t))
	first, err := s.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err)
	_, err = s.CreateTopic(ctx(t), topic("t", []int32{1}, []int32{1}))
	require.ErrorIs(t, err, ErrTopicExists)
	got, _ := s.Topic("t")
	assert.Equal(t, first.ID, got.ID)
	assert.Len(t, got.Partitions, 1)
}

func TestCreateTopicRejectsInvalid(t *testing.T) {
	s := startStore(t, startEtcd(t))
	withState := func(edit func(*PartitionState)) Topic {
		tp := topic("t", []int32{1, 2})
		edit(&tp.Partitions[0])
		return tp
	}
	cases := []struct {
		name string
		in   Topic
		want error
	}{
		{"bad name", topic("a/b", []int32{1}), ErrInvalidTopic},
		{"no partitions", Topic{Name: "t"}, ErrInvalidPartition},
		{"wrong numbering", withState(func(p *PartitionState) { p.Partition = 3 }), ErrInvalidPartition},
		{"no replicas", withState(func(p *PartitionState) { p.Replicas = nil; p.ISR = nil; p.Leader = -1 }), ErrInvalidPartition},
		{"duplicate replica", withState(func(p *PartitionState) { p.Replicas = []int32{1, 1} }), ErrInvalidPartition},
		{"negative replica", withState(func(p *PartitionState) { p.Replicas = []int32{-2, 1} }), ErrInvalidPartition},
		{"leader not a replica", withState(func(p *PartitionState) { p.Leader = 7 }), ErrInvalidPartition},
		{"isr not replicas", withState(func(p *PartitionState) { p.ISR = []int32{1, 7} }), ErrInvalidPartition},
		{"negative epoch", withState(func(p *PartitionState) { p.LeaderEpoch = -1 }), ErrInvalidPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateTopic(ctx(t), tc.in)
			require.ErrorIs(t, err, tc.want)
		})
	}
	assert.Empty(t, s.Topics())

	_, err := s.CreateTopic(ctx(t), withState(func(p *PartitionState) { p.Leader = -1; p.ISR = nil }))
	require.NoError(t, err, "a leaderless partition with an empty ISR is valid")
}

func TestDeleteAndRecreateGetsNewIDAndFreshState(t *testing.T) {
	s := startStore(t, startEtcd(t))
	old, err := s.CreateTopic(ctx(t), topic("t", []int32{1, 2}))
	require.NoError(t, err)
	p0 := old.Partitions[0]
	moved := p0
	moved.Leader, moved.LeaderEpoch, moved.ISR = 2, 1, []int32{2}
	_, err = s.SetPartitionState(ctx(t), "t", p0, moved)
	require.NoError(t, err)

	require.NoError(t, s.DeleteTopic(ctx(t), "t"))
	_, ok := s.Topic("t")
	assert.False(t, ok, "the cache has the deletion when DeleteTopic returns")
	_, ok = s.TopicByID(old.ID)
	assert.False(t, ok)
	require.ErrorIs(t, s.DeleteTopic(ctx(t), "t"), ErrTopicNotFound)

	again, err := s.CreateTopic(ctx(t), topic("t", []int32{1, 2}))
	require.NoError(t, err)
	assert.NotEqual(t, old.ID, again.ID)
	got, _ := s.Topic("t")
	assert.Equal(t, p0, got.Partitions[0], "the old partition state went with the old topic")
}

func TestAddPartitions(t *testing.T) {
	s := startStore(t, startEtcd(t))
	created, err := s.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err)

	grown, err := s.AddPartitions(ctx(t), "t", []PartitionState{
		{Partition: 1, Replicas: []int32{2}, Leader: 2, ISR: []int32{2}},
		{Partition: 2, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}},
	})
	require.NoError(t, err)
	assert.Equal(t, created.ID, grown.ID)
	require.Len(t, grown.Partitions, 3)
	assert.Equal(t, []int32{2}, grown.Partitions[1].Replicas)
	got, _ := s.Topic("t")
	assert.Equal(t, grown, got)

	_, err = s.AddPartitions(ctx(t), "t", []PartitionState{{Partition: 1, Replicas: []int32{1}, Leader: 1}})
	require.ErrorIs(t, err, ErrInvalidPartition, "partition 1 exists already")
	_, err = s.AddPartitions(ctx(t), "t", nil)
	require.ErrorIs(t, err, ErrInvalidPartition)
	_, err = s.AddPartitions(ctx(t), "missing", []PartitionState{{Partition: 0, Replicas: []int32{1}, Leader: 1}})
	require.ErrorIs(t, err, ErrTopicNotFound)
}

func TestSetTopicConfigsReplacesTheSet(t *testing.T) {
	s := startStore(t, startEtcd(t))
	in := topic("t", []int32{1})
	in.Configs = map[string]string{"retention.ms": "1", "cleanup.policy": "delete"}
	_, err := s.CreateTopic(ctx(t), in)
	require.NoError(t, err)

	updated, err := s.SetTopicConfigs(ctx(t), "t", map[string]string{"segment.bytes": "1024"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"segment.bytes": "1024"}, updated.Configs)
	got, _ := s.Topic("t")
	assert.Equal(t, updated.Configs, got.Configs)

	cleared, err := s.SetTopicConfigs(ctx(t), "t", map[string]string{})
	require.NoError(t, err)
	assert.Nil(t, cleared.Configs)

	_, err = s.SetTopicConfigs(ctx(t), "missing", nil)
	require.ErrorIs(t, err, ErrTopicNotFound)
}

func TestSetPartitionStateIsCompareAndSwap(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	created, err := a.CreateTopic(ctx(t), topic("t", []int32{1, 2, 3}, []int32{2, 3, 1}))
	require.NoError(t, err)
	p0 := created.Partitions[0]

	shrunk := p0
	shrunk.ISR = []int32{1, 2}
	got, err := a.SetPartitionState(ctx(t), "t", p0, shrunk)
	require.NoError(t, err)
	assert.Equal(t, []int32{1, 2}, got.Partitions[0].ISR)
	assert.Equal(t, created.Partitions[1], got.Partitions[1], "other partitions untouched")

	// b has seen the topic but not necessarily a's write; either its cache
	// check or etcd's compare refuses the stale expectation.
	require.Eventually(t, func() bool { _, ok := b.Topic("t"); return ok }, waitFor, tick)
	_, err = b.SetPartitionState(ctx(t), "t", p0, shrunk)
	require.ErrorIs(t, err, ErrConflict)

	require.Eventually(t, func() bool {
		tp, _ := b.Topic("t")
		return len(tp.Partitions[0].ISR) == 2
	}, waitFor, tick)
	newLeader := shrunk
	newLeader.Leader, newLeader.LeaderEpoch = 2, 1
	got, err = b.SetPartitionState(ctx(t), "t", shrunk, newLeader)
	require.NoError(t, err)
	assert.Equal(t, int32(2), got.Partitions[0].Leader)
	assert.Equal(t, p0.Replicas, got.Partitions[0].Replicas)

	// Growing the topic does not undo partition state.
	grown, err := a.AddPartitions(ctx(t), "t", []PartitionState{{Partition: 2, Replicas: []int32{3}, Leader: 3, ISR: []int32{3}}})
	require.NoError(t, err)
	assert.Equal(t, int32(2), grown.Partitions[0].Leader)

	bad := newLeader
	bad.Leader = 9
	_, err = b.SetPartitionState(ctx(t), "t", newLeader, bad)
	require.ErrorIs(t, err, ErrInvalidPartition)
	_, err = b.SetPartitionState(ctx(t), "t", PartitionState{Partition: 7}, PartitionState{Partition: 7})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.SetPartitionState(ctx(t), "missing", p0, p0)
	require.ErrorIs(t, err, ErrTopicNotFound)
}

func TestPartitionOfAndEachTopic(t *testing.T) {
	s := startStore(t, startEtcd(t))
	created, err := s.CreateTopic(ctx(t), topic("t", []int32{1, 2}, []int32{2, 1}, []int32{1}))
	require.NoError(t, err)

	p, ok := s.PartitionOf("t", func(n int) int32 { return int32(n - 2) })
	require.True(t, ok)
	assert.Equal(t, created.Partitions[1], p)
	p.ISR[0] = 99 // a copy
	again, _ := s.PartitionOf("t", func(int) int32 { return 1 })
	assert.Equal(t, created.Partitions[1], again)
	_, ok = s.PartitionOf("t", func(n int) int32 { return int32(n) })
	assert.False(t, ok, "out of range")
	_, ok = s.PartitionOf("missing", func(int) int32 { return 0 })
	assert.False(t, ok)

	seen := map[string]int{}
	s.EachTopic(func(name string, id [16]byte, partitions int) {
		assert.Equal(t, created.ID, id)
		seen[name] = partitions
	})
	assert.Equal(t, map[string]int{"t": 3}, seen)
}
