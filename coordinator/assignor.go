package coordinator

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
)

// The server-side assignors of KIP-848 consumer groups. Each is a pure
// function from the members (their subscriptions and previous target
// assignment) and the subscribed topics' partition counts to the next
// target assignment; the group's state machine (consumer.go) calls it
// whenever the group epoch passes the assignment epoch.

// topicID is a topic's UUID. It is written as Kafka prints topic ids:
// URL-safe base64 without padding.
type topicID [16]byte

func (id topicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalText makes topic ids readable map keys in the stored group.
func (id topicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (id *topicID) UnmarshalText(b []byte) error {
	n, err := base64.RawURLEncoding.Decode(id[:], b)
	if err != nil || n != len(id) {
		return fmt.Errorf("coordinator: malformed topic id %q", b)
	}
	return nil
}

// assignment maps a topic to its partitions, sorted ascending.
type assignment map[topicID][]int32

// clone copies a, so that the copy can be changed on its own.
func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

// count is the number of partitions in a.
func (a assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// has reports whether partition p of topic t is in a.
func (a assignment) has(t topicID, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

// add puts partition p of topic t in a, keeping it sorted.
func (a assignment) add(t topicID, p int32) {
	i, ok := slices.BinarySearch(a[t], p)
	if !ok {
		a[t] = slices.Insert(a[t], i, p)
	}
}

// remove takes partition p of topic t out of a.
func (a assignment) remove(t topicID, p int32) {
	if i, ok := slices.BinarySearch(a[t], p); ok {
		a[t] = slices.Delete(a[t], i, i+1)
		if len(a[t]) == 0 {
			delete(a, t)
		}
	}
}

// equal reports whether a and b hold the same partitions.
func (a assignment) equal(b assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// sortedTopics returns a's topics in id order.
func (a assignment) sortedTopics() []topicID {
	out := make([]topicID, 0, len(a))
	for t := range a {
		out = append(out, t)
	}
	sortTopicIDs(out)
	return out
}

func sortTopicIDs(ids []topicID) {
	slices.SortFunc(ids, func(x, y topicID) int { return bytes.Compare(x[:], y[:]) })
}

// assignorMember is one member as an assignor sees it.
type assignorMember struct {
	id      string
	topics  []topicID  // subscribed topics that exist, sorted
	current assignment // the member's previous target assignment
}

// assignor computes a target assignment: every partition of every topic
// some member subscribes to goes to exactly one subscribed member. members
// are sorted by id; partitions gives each subscribed topic's partition
// count.
type assignor func(members []assignorMember, partitions map[topicID]int32) map[string]assignment

// assignors are the server assignors by the names clients ask for
// (ConsumerGroupHeartbeat ServerAssignor, group.consumer.assignors).
var assignors = map[string]assignor{
	"uniform": assignUniform,
	"range":   assignRange,
}

// subscribes reports whether m subscribes to topic t.
func (m *assignorMember) subscribes(t topicID) bool {
	_, ok := slices.BinarySearchFunc(m.topics, t, func(x, y topicID) int { return bytes.Compare(x[:], y[:]) })
	return ok
}

// assignUniform spreads the partitions as evenly as the subscriptions
// allow while moving as few as possible, as Kafka's UniformAssignor aims
// to: each member first keeps what it had that is still valid, free
// partitions go to the least loaded subscribed member, and then a member
// passes one partition at a time (directly, or along a chain of members
// each subscribed to what it receives) to a member holding at least two
// fewer, until none can. Every such shift lowers the sum of squared
// loads, so this ends; with identical subscriptions the loads end at most
// one apart.
func assignUniform(members []assignorMember, partitions map[topicID]int32) map[string]assignment {
	out := make([]assignment, len(members))
	load := make([]int, len(members))
	taken := map[topicID]map[int32]bool{}
	for t := range partitions {
		taken[t] = map[int32]bool{}
	}
	for i := range members {
		out[i] = assignment{}
		m := &members[i]
		for _, t := range m.current.sortedTopics() {
			n, ok := partitions[t]
			if !ok || !m.subscribes(t) {
				continue
			}
			for _, p := range m.current[t] {
				if p < n && !taken[t][p] {
					taken[t][p] = true
					out[i].add(t, p)
					load[i]++
				}
			}
		}
	}

	leastLoaded := func(t topicID) int {
		best := -1
		for i := range members {
			if members[i].subscribes(t) && (best < 0 || load[i] < load[best]) {
				best = i
			}
		}
		return best
	}
	topics := make([]topicID, 0, len(partitions))
	for t := range partitions {
		topics = append(topics, t)
	}
	sortTopicIDs(topics)
	for _, t := range topics {
		for p := range partitions[t] {
			if taken[t][p] {
				continue
			}
			if i := leastLoaded(t); i >= 0 {
				out[i].add(t, p)
				load[i]++
			}
		}
	}

	// Balance: the most loaded member that can shed a partition does,
	// along a chain of moves if need be (a member gives a partition of a
	// topic the next one subscribes to), to the least loaded member it
	// reaches holding at least two fewer.
	for shifted := true; shifted; {
		shifted = false
		order := make([]int, len(members))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(x, y int) bool { return load[order[x]] > load[order[y]] })
		for _, from := range order {
			if path := shedPath(members, out, load, from); path != nil {
				for i := 0; i+1 < len(path); i++ {
					move(members, out, path[i], path[i+1])
				}
				load[path[0]]--
				load[path[len(path)-1]]++
				shifted = true
				break
			}
		}
	}

	result := make(map[string]assignment, len(members))
	for i := range members {
		result[members[i].id] = out[i]
	}
	return result
}

// shedPath finds, breadth first, the chain of members along which from
// can pass one partition on to a member holding at least two fewer than
// it (the least loaded such, then the nearest): from, ..., that member.
// nil when there is none.
func shedPath(members []assignorMember, out []assignment, load []int, from int) []int {
	prev := make([]int, len(members))
	for i := range prev {
		prev[i] = -1
	}
	prev[from] = from
	queue := []int{from}
	best := -1
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if u != from && load[from]-load[u] >= 2 && (best < 0 || load[u] < load[best]) {
			best = u
		}
		for v := range members {
			if prev[v] < 0 && canGive(members, out, u, v) {
				prev[v] = u
				queue = append(queue, v)
			}
		}
	}
	if best < 0 {
		return nil
	}
	var path []int
	for v := best; v != from; v = prev[v] {
		path = append(path, v)
	}
	path = append(path, from)
	slices.Reverse(path)
	return path
}

// canGive reports whether member u holds a partition of a topic v
// subscribes to.
func canGive(members []assignorMember, out []assignment, u, v int) bool {
	for t := range out[u] {
		if members[v].subscribes(t) {
			return true
		}
	}
	return false
}

// move passes one partition from member u to member v: the highest of the
// last topic (in id order) that v subscribes to.
func move(members []assignorMember, out []assignment, u, v int) {
	for _, t := range slices.Backward(out[u].sortedTopics()) {
		if members[v].subscribes(t) {
			ps := out[u][t]
			p := ps[len(ps)-1]
			out[u].remove(t, p)
			out[v].add(t, p)
			return
		}
	}
}

// assignRange gives each member a contiguous range of every topic it
// subscribes to: the topic's subscribers in member id order split its
// partitions in order, the first ones taking one extra when they do not
// divide evenly. Members subscribing to the same topics with the same
// partition counts get the same partition numbers of each (co-partitioned
// topics stay together), as Kafka's RangeAssignor does.
func assignRange(members []assignorMember, partitions map[topicID]int32) map[string]assignment {
	result := make(map[string]assignment, len(members))
	for i := range members {
		result[members[i].id] = assignment{}
	}
	for t, n := range partitions {
		var subs []string
		for i := range members {
			if members[i].subscribes(t) {
				subs = append(subs, members[i].id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		quota, extra := int(n)/len(subs), int(n)%len(subs)
		next := int32(0)
		for i, id := range subs {
			k := quota
			if i < extra {
				k++
			}
			for range k {
				result[id].add(t, next)
				next++
			}
		}
	}
	return result
}
