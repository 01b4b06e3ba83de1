package controller

import (
	"fmt"
	"slices"

	"github.com/kafkad/kafkad/controller/metastore"
)

// Partition reassignment (KIP-455) as pure decisions. A reassignment runs
// in two steps: StartReassignment makes the replicas the union of the old
// and the target ones (the new ones start following and join the ISR as
// they catch up); CompleteReassignment, once every target replica is in
// sync, drops the old ones, moving leadership to a target replica if the
// leader is leaving. CancelReassignment goes back to the old replicas.

// original returns the replicas before the running reassignment.
func original(st metastore.PartitionState) []int32 {
	return filter(st.Replicas, func(r int32) bool { return !slices.Contains(st.Adding, r) })
}

// target returns the replicas the running reassignment moves to.
func target(st metastore.PartitionState) []int32 {
	return filter(st.Replicas, func(r int32) bool { return !slices.Contains(st.Removing, r) })
}

// StartReassignment moves a partition towards the target replicas; a
// reassignment already running is replaced (from the original replicas).
func StartReassignment(st metastore.PartitionState, to []int32) (next metastore.PartitionState, err error) {
	if len(to) == 0 {
		return st, fmt.Errorf("%w: no target replicas", ErrInvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, r := range to {
		if r < 0 || seen[r] {
			return st, fmt.Errorf("%w: replica %d is invalid or listed twice", ErrInvalidReplicaAssignment, r)
		}
		seen[r] = true
	}
	from := original(st)
	next = clonePartition(st)
	next.Adding = filter(to, func(r int32) bool { return !slices.Contains(from, r) })
	next.Removing = filter(from, func(r int32) bool { return !slices.Contains(to, r) })
	// Target replicas first, in the order asked (the first is the
	// preferred leader), then the ones leaving.
	next.Replicas = append(slices.Clone(to), next.Removing...)
	next.ISR = filter(st.ISR, func(r int32) bool { return slices.Contains(next.Replicas, r) })
	if len(next.Adding) == 0 && len(next.Removing) == 0 {
		next.Replicas = slices.Clone(to) // only the order changes
	}
	return next, nil
}

// CompleteReassignment ends a running reassignment once every target
// replica is in the ISR (ok false until then).
func CompleteReassignment(st metastore.PartitionState, live func(int32) bool) (next metastore.PartitionState, ok bool) {
	if !st.Reassigning() {
		return st, false
	}
	to := target(st)
	for _, r := range to {
		if !slices.Contains(st.ISR, r) {
			return st, false
		}
	}
	next = clonePartition(st)
	next.Replicas, next.Adding, next.Removing = to, nil, nil
	next.ISR = filter(st.ISR, func(r int32) bool { return slices.Contains(to, r) })
	if !slices.Contains(to, st.Leader) {
		leader, found := firstReplica(next, func(r int32) bool { return live(r) && slices.Contains(next.ISR, r) })
		if !found {
			return st, false
		}
		next.Leader = leader
		next.LeaderEpoch = st.LeaderEpoch + 1
	}
	return next, true
}

// CancelReassignment goes back to the replicas before the reassignment.
func CancelReassignment(st metastore.PartitionState, live func(int32) bool) (next metastore.PartitionState, ok bool) {
	if !st.Reassigning() {
		return st, false
	}
	from := original(st)
	next = clonePartition(st)
	next.Replicas, next.Adding, next.Removing = from, nil, nil
	next.ISR = filter(st.ISR, func(r int32) bool { return slices.Contains(from, r) })
	if !slices.Contains(from, st.Leader) {
		leader, found := firstReplica(next, func(r int32) bool { return live(r) && slices.Contains(next.ISR, r) })
		if !found {
			leader = noLeader
		}
		next.Leader = leader
		next.LeaderEpoch = st.LeaderEpoch + 1
	}
	return next, true
}

// ReassignmentChanges completes every reassignment whose target replicas
// are all in sync.
func ReassignmentChanges(topics []metastore.Topic, live func(int32) bool) []metastore.PartitionChange {
	var out []metastore.PartitionChange
	for _, t := range topics {
		for _, p := range t.Partitions {
			if next, ok := CompleteReassignment(p, live); ok {
				out = append(out, metastore.PartitionChange{Topic: t.Name, Expected: p, Next: next})
			}
		}
	}
	return out
}
