package controller

import (
	"slices"

	"github.com/kafkad/kafkad/controller/metastore"
)

// The leadership decisions of the controller, as pure functions of a
// partition's state and of which brokers are live. They never change
// Replicas, and they return ok (or changed) false when the state is to be
// left as it is, so that the caller writes only real changes; the state
// they return shares no slices with the one they were given.
//
// The leader epoch is bumped whenever the leader changes, to -1 included,
// so that a deposed leader and the clients of its epoch are fenced
// (KIP-320). A change of the ISR alone keeps the epoch: the store's
// compare-and-swap is what orders ISR changes.

// noLeader is Kafka's leader id of a partition without a leader.
const noLeader = -1

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectLeader elects a new leader for a partition whose leader is not live
// (or that has none): the first replica, in replica order, that is live
// and in the ISR, with the ISR reduced to its live members. When no ISR
// member is live, an unclean election takes the first live replica, which
// becomes the whole ISR (and may lack committed records); otherwise the
// partition is left without a leader and with its ISR, so that its last
// leader can take over when it returns. A partition whose leader is live
// is left alone.
func ElectLeader(st metastore.PartitionState, live func(int32) bool, unclean bool) (next metastore.PartitionState, ok bool) {
	if st.Leader != noLeader && live(st.Leader) {
		return st, false
	}
	next = clonePartition(st)
	liveInISR := func(r int32) bool { return live(r) && slices.Contains(st.ISR, r) }
	if leader, found := firstReplica(st, liveInISR); found {
		next.Leader = leader
		next.ISR = filter(st.ISR, live)
	} else if leader, found = firstReplica(st, live); found && unclean {
		next.Leader = leader
		next.ISR = []int32{leader}
	} else {
		next.Leader = noLeader
	}
	if next.Leader == st.Leader {
		return st, false // still without a leader
	}
	next.LeaderEpoch = st.LeaderEpoch + 1
	return next, true
}

// PreferredLeader moves leadership back to the preferred (first) replica
// when it is live and in the ISR, as Kafka's preferred leader election
// does to spread leaders as placement intended.
func PreferredLeader(st metastore.PartitionState, live func(int32) bool) (next metastore.PartitionState, ok bool) {
	if len(st.Replicas) == 0 {
		return st, false
	}
	preferred := st.Replicas[0]
	if st.Leader == preferred || !live(preferred) || !slices.Contains(st.ISR, preferred) {
		return st, false
	}
	next = clonePartition(st)
	next.Leader = preferred
	next.LeaderEpoch = st.LeaderEpoch + 1
	return next, true
}

// ShrinkISR drops the followers that are not live from the ISR of a
// partition whose leader is live, as Kafka's controller does when a broker
// fails, so that acks=all produce need not wait for the leader to notice.
// Partitions without a live leader are ElectLeader's.
func ShrinkISR(st metastore.PartitionState, live func(int32) bool) (next metastore.PartitionState, ok bool) {
	if st.Leader == noLeader || !live(st.Leader) {
		return st, false
	}
	isr := filter(st.ISR, func(r int32) bool { return r == st.Leader || live(r) })
	if len(isr) == len(st.ISR) {
		return st, false
	}
	next = clonePartition(st)
	next.ISR = isr
	return next, true
}

// ShutdownLeader decides what a controlled shutdown of broker means for
// one partition, as Kafka's controller does: a partition it leads moves
// to the first replica that is live and in the ISR, and one it follows
// drops it from the ISR; either way it leaves the ISR. A led partition
// with no other live ISR member stays put and is remaining: the broker
// should retry before stopping. Partitions with one replica are skipped,
// as nothing could take them over, and so are partitions without a
// leader, whose ISR must keep the replicas that may lead them again. broker counts as live until it stops, so
// it is excluded here whatever live says.
func ShutdownLeader(st metastore.PartitionState, broker int32, live func(int32) bool) (next metastore.PartitionState, changed, remaining bool) {
	if len(st.Replicas) < 2 || st.Leader == noLeader || (st.Leader != broker && !slices.Contains(st.ISR, broker)) {
		return st, false, false
	}
	others := filter(st.ISR, func(r int32) bool { return r != broker })
	next = clonePartition(st)
	if st.Leader == broker {
		leader, found := firstReplica(st, func(r int32) bool { return r != broker && live(r) && slices.Contains(others, r) })
		if !found {
			return st, false, true
		}
		next.Leader = leader
		next.LeaderEpoch = st.LeaderEpoch + 1
	}
	next.ISR = others
	return next, true, false
}

// LeaderChanges is what the controller writes after brokers failed (or
// came back to partitions left without a leader): for every partition,
// ElectLeader, or ShrinkISR where the leader is live. unclean tells
// whether a topic allows unclean leader election
// (unclean.leader.election.enable).
func LeaderChanges(topics []metastore.Topic, live func(int32) bool, unclean func(metastore.Topic) bool) []metastore.PartitionChange {
	var out []metastore.PartitionChange
	for _, t := range topics {
		allowUnclean := unclean(t)
		for _, p := range t.Partitions {
			next, ok := ElectLeader(p, live, allowUnclean)
			if !ok {
				next, ok = ShrinkISR(p, live)
			}
			if ok {
				out = append(out, metastore.PartitionChange{Topic: t.Name, Expected: p, Next: next})
			}
		}
	}
	return out
}

// ShutdownLeaders applies ShutdownLeader to every partition of topics:
// the changes to write, and the partitions broker still leads afterwards
// (Kafka's ControlledShutdown response lists them as remaining).
func ShutdownLeaders(topics []metastore.Topic, broker int32, live func(int32) bool) (changes []metastore.PartitionChange, remaining []TopicPartition) {
	for _, t := range topics {
		for _, p := range t.Partitions {
			next, changed, stuck := ShutdownLeader(p, broker, live)
			if changed {
				changes = append(changes, metastore.PartitionChange{Topic: t.Name, Expected: p, Next: next})
			}
			if stuck {
				remaining = append(remaining, TopicPartition{Topic: t.Name, Partition: p.Partition})
			}
		}
	}
	return changes, remaining
}

// firstReplica returns the first replica, in replica order, that ok
// accepts.
func firstReplica(st metastore.PartitionState, ok func(int32) bool) (int32, bool) {
	for _, r := range st.Replicas {
		if ok(r) {
			return r, true
		}
	}
	return noLeader, false
}

// filter returns the members of ids that keep accepts, in order, in a new
// slice.
func filter(ids []int32, keep func(int32) bool) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

func clonePartition(st metastore.PartitionState) metastore.PartitionState {
	st.Replicas = slices.Clone(st.Replicas)
	st.ISR = slices.Clone(st.ISR)
	st.Adding = slices.Clone(st.Adding)
	st.Removing = slices.Clone(st.Removing)
	return st
}
