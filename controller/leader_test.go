package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/controller/metastore"
)

// liveSet is a live function answering for the given brokers.
func liveSet(ids ...int32) func(int32) bool {
	set := map[int32]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return func(id int32) bool { return set[id] }
}

// part is partition 0 with replicas 1, 2, 3 in that order.
func part(leader, epoch int32, isr ...int32) metastore.PartitionState {
	return metastore.PartitionState{Replicas: []int32{1, 2, 3}, Leader: leader, LeaderEpoch: epoch, ISR: isr}
}

func TestElectLeader(t *testing.T) {
	cases := []struct {
		name    string
		st      metastore.PartitionState
		live    []int32
		unclean bool
		want    metastore.PartitionState
		ok      bool
	}{
		{"leader live: unchanged, dead followers too", part(1, 4, 1, 2, 3), []int32{1}, false, part(1, 4, 1, 2, 3), false},
		{"next in replica order", part(1, 4, 1, 3, 2), []int32{2, 3}, false, part(2, 5, 3, 2), true},
		{"skips live replicas outside the ISR", part(1, 4, 1, 3), []int32{2, 3}, false, part(3, 5, 3), true},
		{"ISR keeps live members only", part(1, 4, 1, 2, 3), []int32{3}, false, part(3, 5, 3), true},
		{"no live ISR member: offline, ISR kept", part(1, 4, 1, 2), []int32{3}, false, part(-1, 5, 1, 2), true},
		{"already offline and still no candidate", part(-1, 5, 1, 2), []int32{3}, false, part(-1, 5, 1, 2), false},
		{"already offline, an ISR member returns", part(-1, 5, 1, 2), []int32{2, 3}, false, part(2, 6, 2), true},
		{"unclean takes the first live replica", part(1, 4, 1, 2), []int32{3}, true, part(3, 5, 3), true},
		{"unclean prefers a clean candidate", part(1, 4, 1, 3), []int32{2, 3}, true, part(3, 5, 3), true},
		{"unclean with nothing live", part(1, 4, 1, 2), nil, true, part(-1, 5, 1, 2), true},
		{"nothing live", part(1, 4, 1, 2, 3), nil, false, part(-1, 5, 1, 2, 3), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isrBefore := append([]int32(nil), tc.st.ISR...)
			got, ok := ElectLeader(tc.st, liveSet(tc.live...), tc.unclean)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, isrBefore, tc.st.ISR, "input untouched")
			if got.Leader != -1 {
				assert.Contains(t, got.ISR, got.Leader, "a leader is always in sync")
			}
		})
	}
}

func TestElectLeaderDoesNotAlias(t *testing.T) {
	st := part(1, 0, 1, 2)
	got, ok := ElectLeader(st, liveSet(2), false)
	require.True(t, ok)
	got.ISR[0] = 9
	got.Replicas[0] = 9
	assert.Equal(t, part(1, 0, 1, 2), st)
}

func TestPreferredLeader(t *testing.T) {
	cases := []struct {
		name string
		st   metastore.PartitionState
		live []int32
		want metastore.PartitionState
		ok   bool
	}{
		{"moves back", part(2, 3, 2, 1), []int32{1, 2}, part(1, 4, 2, 1), true},
		{"already preferred", part(1, 3, 1, 2), []int32{1, 2}, part(1, 3, 1, 2), false},
		{"preferred not live", part(2, 3, 2, 1), []int32{2}, part(2, 3, 2, 1), false},
		{"preferred not in sync", part(2, 3, 2), []int32{1, 2}, part(2, 3, 2), false},
		{"from no leader", part(-1, 3, 1), []int32{1}, part(1, 4, 1), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PreferredLeader(tc.st, liveSet(tc.live...))
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestShrinkISR(t *testing.T) {
	cases := []struct {
		name string
		st   metastore.PartitionState
		live []int32
		want metastore.PartitionState
		ok   bool
	}{
		{"drops dead followers, keeps epoch", part(2, 3, 1, 2, 3), []int32{2, 3}, part(2, 3, 2, 3), true},
		{"all live", part(2, 3, 1, 2), []int32{1, 2, 3}, part(2, 3, 1, 2), false},
		{"leader dead: ElectLeader's", part(2, 3, 1, 2), []int32{1}, part(2, 3, 1, 2), false},
		{"no leader", part(-1, 3, 1), []int32{2}, part(-1, 3, 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ShrinkISR(tc.st, liveSet(tc.live...))
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestShutdownLeader(t *testing.T) {
	single := metastore.PartitionState{Replicas: []int32{1}, Leader: 1, ISR: []int32{1}}
	cases := []struct {
		name      string
		st        metastore.PartitionState
		live      []int32
		want      metastore.PartitionState
		changed   bool
		remaining bool
	}{
		{"led: moves to the next live ISR member", part(1, 2, 1, 2, 3), []int32{1, 2, 3}, part(2, 3, 2, 3), true, false},
		{"led: skips dead ISR members", part(1, 2, 1, 2, 3), []int32{1, 3}, part(3, 3, 2, 3), true, false},
		{"led: broker counts as going even if live", part(1, 2, 1), []int32{1, 2, 3}, part(1, 2, 1), false, true},
		{"led: no other live ISR member", part(1, 2, 1, 2), []int32{1, 3}, part(1, 2, 1, 2), false, true},
		{"followed: leaves the ISR, epoch kept", part(2, 2, 2, 1, 3), []int32{1, 2, 3}, part(2, 2, 2, 3), true, false},
		{"followed, not in sync: unchanged", part(2, 2, 2, 3), []int32{1, 2, 3}, part(2, 2, 2, 3), false, false},
		{"not a replica of it", metastore.PartitionState{Replicas: []int32{2, 3}, Leader: 2, ISR: []int32{2, 3}}, []int32{1, 2, 3},
			metastore.PartitionState{Replicas: []int32{2, 3}, Leader: 2, ISR: []int32{2, 3}}, false, false},
		{"no leader: ISR kept", part(-1, 2, 1), []int32{1, 2, 3}, part(-1, 2, 1), false, false},
		{"single replica: skipped", single, []int32{1}, single, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, remaining := ShutdownLeader(tc.st, 1, liveSet(tc.live...))
			assert.Equal(t, tc.changed, changed)
			assert.Equal(t, tc.remaining, remaining)
			assert.Equal(t, tc.want, got)
		})
	}
}

func topicOf(name string, parts ...metastore.PartitionState) metastore.Topic {
	for i := range parts {
		parts[i].Partition = int32(i)
	}
	return metastore.Topic{Name: name, Partitions: parts}
}

func TestLeaderChanges(t *testing.T) {
	topics := []metastore.Topic{
		topicOf("a", part(1, 0, 1, 2, 3), part(2, 0, 2, 3, 1), part(3, 0, 3)),
		topicOf("b", part(3, 0, 3)),
	}
	uncleanB := func(t metastore.Topic) bool { return t.Name == "b" }
	// Broker 3 died, broker 1 is alive, 2 too.
	got := LeaderChanges(topics, liveSet(1, 2), uncleanB)
	next := func(tp metastore.Topic, p int32, st metastore.PartitionState) metastore.PartitionChange {
		st.Partition = p
		return metastore.PartitionChange{Topic: tp.Name, Expected: tp.Partitions[p], Next: st}
	}
	assert.Equal(t, []metastore.PartitionChange{
		next(topics[0], 0, part(1, 0, 1, 2)), // 3 leaves the ISR
		next(topics[0], 1, part(2, 0, 2, 1)), // likewise
		next(topics[0], 2, part(-1, 1, 3)),   // offline: clean election only
		next(topics[1], 0, part(1, 1, 1)),    // unclean: first live replica
	}, got)
	assert.Empty(t, LeaderChanges(topics, liveSet(1, 2, 3), uncleanB), "nothing to do")
}

func TestShutdownLeaders(t *testing.T) {
	topics := []metastore.Topic{
		topicOf("a", part(1, 0, 1, 2), part(2, 0, 2, 1), part(1, 0, 1)),
		topicOf("b", part(3, 0, 3)),
	}
	changes, remaining := ShutdownLeaders(topics, 1, liveSet(1, 2, 3))
	require.Len(t, changes, 2)
	assert.Equal(t, "a", changes[0].Topic)
	assert.Equal(t, int32(2), changes[0].Next.Leader)
	assert.Equal(t, []int32{2}, changes[0].Next.ISR)
	assert.Equal(t, int32(1), changes[1].Next.Partition)
	assert.Equal(t, []int32{2}, changes[1].Next.ISR)
	assert.Equal(t, []TopicPartition{{Topic: "a", Partition: 2}}, remaining)
}
