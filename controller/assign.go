package controller

import (
	"fmt"
	"sort"
)

// AssignReplicas places rf replicas for each of partitions new partitions,
// numbered from firstPartition, on brokers (ids). Like Kafka's rack-unaware
// assignment, leaders go round-robin from a start index derived from
// firstPartition, and followers are shifted so replica sets of consecutive
// partitions differ. It is a pure function: the same input gives the same
// placement.
func AssignReplicas(brokers []int32, firstPartition, partitions int32, rf int16) ([][]int32, error) {
	if rf < 1 {
		return nil, fmt.Errorf("%w: %d must be at least 1", ErrInvalidReplicationFactor, rf)
	}
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("%w: %d is larger than the %d available brokers", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d must be at least 1", ErrInvalidPartitions, partitions)
	}
	ids := append([]int32(nil), brokers...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	n := int32(len(ids))
	out := make([][]int32, partitions)
	for i := range partitions {
		p := firstPartition + i
		leader := p % n
		// Followers sit at distinct offsets 1..n-1 from the leader; the
		// starting offset rotates every n partitions so that the same
		// brokers do not always share partitions.
		shift := (p / n) % max(n-1, 1)
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, ids[leader])
		for r := int32(1); r < int32(rf); r++ {
			replicas = append(replicas, ids[(leader+1+(shift+r-1)%max(n-1, 1))%n])
		}
		out[i] = replicas
	}
	return out, nil
}

// checkAssignment validates a manual assignment: every partition has the
// same replica count, no duplicates, and only known brokers.
func checkAssignment(assignment [][]int32, brokers []int32) error {
	known := make(map[int32]bool, len(brokers))
	for _, b := range brokers {
		known[b] = true
	}
	for p, replicas := range assignment {
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, p)
		}
		if len(replicas) != len(assignment[0]) {
			return fmt.Errorf("%w: partition %d has %d replicas, partition 0 has %d", ErrInvalidReplicaAssignment, p, len(replicas), len(assignment[0]))
		}
		seen := make(map[int32]bool, len(replicas))
		for _, r := range replicas {
			if seen[r] {
				return fmt.Errorf("%w: partition %d lists broker %d twice", ErrInvalidReplicaAssignment, p, r)
			}
			if !known[r] {
				return fmt.Errorf("%w: partition %d names unknown broker %d", ErrInvalidReplicaAssignment, p, r)
			}
			seen[r] = true
		}
	}
	return nil
}
