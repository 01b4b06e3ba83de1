package coordinator

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tid is a test topic's id, made from its name.
func tid(name string) topicID {
	sum := sha256.Sum256([]byte(name))
	var id topicID
	copy(id[:], sum[:])
	return id
}

// parts builds an assignment from "topic" and partition lists.
func parts(kv ...any) assignment {
	a := assignment{}
	for i := 0; i < len(kv); i += 2 {
		for _, p := range kv[i+1].([]int32) {
			a.add(tid(kv[i].(string)), p)
		}
	}
	return a
}

func am(id string, topics []string, current assignment) assignorMember {
	m := assignorMember{id: id, current: current}
	for _, t := range topics {
		m.topics = append(m.topics, tid(t))
	}
	sortTopicIDs(m.topics)
	return m
}

// checkValid asserts that every partition of every subscribed topic is
// assigned exactly once, to a member subscribing to its topic.
func checkValid(t *testing.T, members []assignorMember, counts map[topicID]int32, out map[string]assignment) {
	t.Helper()
	owner := map[topicID]map[int32]string{}
	for _, m := range members {
		for tp, ps := range out[m.id] {
			require.True(t, m.subscribes(tp), "%s got a topic it does not subscribe to", m.id)
			require.True(t, slices.IsSorted(ps), "%s: partitions not sorted", m.id)
			for _, p := range ps {
				require.Less(t, p, counts[tp], "%s got a partition past the topic's end", m.id)
				if owner[tp] == nil {
					owner[tp] = map[int32]string{}
				}
				prev, dup := owner[tp][p]
				require.False(t, dup, "partition %d given to %s and %s", p, prev, m.id)
				owner[tp][p] = m.id
			}
		}
	}
	for tp, n := range counts {
		subscribed := slices.ContainsFunc(members, func(m assignorMember) bool { return m.subscribes(tp) })
		if subscribed {
			assert.Len(t, owner[tp], int(n), "every partition of a subscribed topic is assigned")
		}
	}
}

// subscribed is the partition counts of the topics members subscribe to.
func subscribed(members []assignorMember, counts map[topicID]int32) map[topicID]int32 {
	sub := map[topicID]int32{}
	for _, m := range members {
		for _, tp := range m.topics {
			sub[tp] = counts[tp]
		}
	}
	return sub
}

func loads(out map[string]assignment) map[string]int {
	l := map[string]int{}
	for id, a := range out {
		l[id] = a.count()
	}
	return l
}

func TestAssignUniform(t *testing.T) {
	counts := map[topicID]int32{tid("a"): 6, tid("b"): 3}
	tests := []struct {
		name    string
		members []assignorMember
		want    map[string]assignment // nil: only the loads are checked
		loads   map[string]int
		keeps   map[string]assignment // partitions that must stay put
		onlyOwn []string              // members that get nothing they did not have
	}{
		{
			name:    "one member takes everything",
			members: []assignorMember{am("m1", []string{"a", "b"}, nil)},
			want:    map[string]assignment{"m1": parts("a", []int32{0, 1, 2, 3, 4, 5}, "b", []int32{0, 1, 2})},
		},
		{
			name:    "two new members split evenly",
			members: []assignorMember{am("m1", []string{"a", "b"}, nil), am("m2", []string{"a", "b"}, nil)},
			loads:   map[string]int{"m1": 5, "m2": 4},
		},
		{
			name: "a joining member takes from the loaded one only what it needs",
			members: []assignorMember{
				am("m1", []string{"a", "b"}, parts("a", []int32{0, 1, 2, 3, 4, 5}, "b", []int32{0, 1, 2})),
				am("m2", []string{"a", "b"}, nil),
			},
			loads:   map[string]int{"m1": 5, "m2": 4},
			onlyOwn: []string{"m1"},
		},
		{
			name: "a leaver's partitions go to the others, who keep theirs",
			members: []assignorMember{
				am("m1", []string{"a", "b"}, parts("a", []int32{0, 1, 2})),
				am("m3", []string{"a", "b"}, parts("b", []int32{0, 1, 2})),
			},
			loads: map[string]int{"m1": 5, "m3": 4},
			keeps: map[string]assignment{"m1": parts("a", []int32{0, 1, 2}), "m3": parts("b", []int32{0, 1, 2})},
		},
		{
			name: "stale claims are dropped: gone partitions, unsubscribed topics, a partition claimed twice",
			members: []assignorMember{
				am("m1", []string{"a"}, parts("a", []int32{0, 9}, "b", []int32{0}, "zz", []int32{0})),
				am("m2", []string{"a", "b"}, parts("a", []int32{0, 1})),
			},
			loads: map[string]int{"m1": 5, "m2": 4},
			keeps: map[string]assignment{"m1": parts("a", []int32{0}), "m2": parts("a", []int32{1})},
		},
		{
			name: "different subscriptions balance within what each may take",
			members: []assignorMember{
				am("m1", []string{"a"}, nil),
				am("m2", []string{"a", "b"}, nil),
				am("m3", []string{"b"}, nil),
			},
			loads: map[string]int{"m1": 3, "m2": 3, "m3": 3},
		},
		{
			name:    "a member subscribing to nothing gets nothing",
			members: []assignorMember{am("m1", nil, nil), am("m2", []string{"b"}, nil)},
			want:    map[string]assignment{"m1": {}, "m2": parts("b", []int32{0, 1, 2})},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := subscribed(tc.members, counts)
			out := assignUniform(tc.members, sub)
			checkValid(t, tc.members, sub, out)
			if tc.want != nil {
				assert.Equal(t, tc.want, out)
			}
			if tc.loads != nil {
				assert.Equal(t, tc.loads, loads(out))
			}
			for _, m := range tc.members {
				if !slices.Contains(tc.onlyOwn, m.id) {
					continue
				}
				for tp, ps := range out[m.id] {
					for _, p := range ps {
						assert.True(t, m.current.has(tp, p), "%s got partition %d it did not have", m.id, p)
					}
				}
			}
			for id, keep := range tc.keeps {
				for tp, ps := range keep {
					for _, p := range ps {
						assert.True(t, out[id].has(tp, p), "%s keeps partition %d", id, p)
					}
				}
			}
			assert.Equal(t, out, assignUniform(tc.members, sub), "deterministic")
		})
	}
}

func TestAssignUniformManyMembersStaysBalancedAndSticky(t *testing.T) {
	counts := map[topicID]int32{tid("a"): 20, tid("b"): 7}
	var members []assignorMember
	prev := map[string]assignment{}
	for n := 1; n <= 9; n++ {
		members = append(members, am(fmt.Sprintf("m%d", n), []string{"a", "b"}, nil))
		for i := range members {
			members[i].current = prev[members[i].id]
		}
		out := assignUniform(members, counts)
		checkValid(t, members, counts, out)
		lo, hi := 1<<30, 0
		moved := 0
		for _, m := range members {
			c := out[m.id].count()
			lo, hi = min(lo, c), max(hi, c)
			for tp, ps := range prev[m.id] {
				for _, p := range ps {
					if !out[m.id].has(tp, p) {
						moved++
					}
				}
			}
		}
		assert.LessOrEqual(t, hi-lo, 1, "%d members: balanced", n)
		// Only what the newcomer needs moves: its fair share.
		assert.LessOrEqual(t, moved, 27/n+1, "%d members: sticky", n)
		prev = out
	}
}

func TestAssignRange(t *testing.T) {
	counts := map[topicID]int32{tid("a"): 3, tid("b"): 3, tid("c"): 5}
	tests := []struct {
		name    string
		members []assignorMember
		want    map[string]assignment
	}{
		{
			name:    "co-partitioned topics split the same way",
			members: []assignorMember{am("m1", []string{"a", "b"}, nil), am("m2", []string{"a", "b"}, nil)},
			want: map[string]assignment{
				"m1": parts("a", []int32{0, 1}, "b", []int32{0, 1}),
				"m2": parts("a", []int32{2}, "b", []int32{2}),
			},
		},
		{
			name: "each topic among its own subscribers, in member id order",
			members: []assignorMember{
				am("m1", []string{"c"}, nil),
				am("m2", []string{"a", "c"}, nil),
				am("m3", []string{"c"}, nil),
			},
			want: map[string]assignment{
				"m1": parts("c", []int32{0, 1}),
				"m2": parts("a", []int32{0, 1, 2}, "c", []int32{2, 3}),
				"m3": parts("c", []int32{4}),
			},
		},
		{
			name:    "more members than partitions",
			members: []assignorMember{am("m1", []string{"a"}, nil), am("m2", []string{"a"}, nil), am("m3", []string{"a"}, nil), am("m4", []string{"a"}, nil)},
			want: map[string]assignment{
				"m1": parts("a", []int32{0}), "m2": parts("a", []int32{1}), "m3": parts("a", []int32{2}), "m4": {},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := subscribed(tc.members, counts)
			out := assignRange(tc.members, sub)
			checkValid(t, tc.members, sub, out)
			assert.Equal(t, tc.want, out)
		})
	}
}

func TestTopicIDText(t *testing.T) {
	id := tid("x")
	text, err := id.MarshalText()
	require.NoError(t, err)
	var back topicID
	require.NoError(t, back.UnmarshalText(text))
	assert.Equal(t, id, back)
	assert.Error(t, back.UnmarshalText([]byte("short")))
}
