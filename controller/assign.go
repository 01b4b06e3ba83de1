package controller

import (
	"fmt"
	"slices"
	"sort"
)

// AssignReplicas places rf replicas for each of partitions new partitions,
// numbered from firstPartition, on brokers (ids), without rack
// information: AssignReplicasRacks with none.
func AssignReplicas(brokers []int32, firstPartition, partitions int32, rf int16) ([][]int32, error) {
	return AssignReplicasRacks(brokers, nil, firstPartition, partitions, rf)
}

// AssignReplicasRacks places rf replicas for each of partitions new
// partitions, numbered from firstPartition. Like Kafka's assignment,
// leaders go round-robin over the brokers (every broker leads as many
// partitions as any other, give or take one) and followers sit at offsets
// from the leader that rotate every len(brokers) partitions, so that the
// same brokers do not always share partitions. When brokers have racks
// (racks[id]), the brokers are ordered alternating between racks and each
// partition's followers are taken from racks it does not use yet first, so
// that with rf ≤ the number of racks every replica is on its own rack.
// Either every broker has a rack or none has (ErrInvalidReplicaAssignment
// otherwise, as Kafka refuses). It is a pure function: the same input
// gives the same placement.
func AssignReplicasRacks(brokers []int32, racks map[int32]string, firstPartition, partitions int32, rf int16) ([][]int32, error) {
	if rf < 1 {
		return nil, fmt.Errorf("%w: %d must be at least 1", ErrInvalidReplicationFactor, rf)
	}
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("%w: %d is larger than the %d available brokers", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d must be at least 1", ErrInvalidPartitions, partitions)
	}
	ids, err := rackOrder(brokers, racks)
	if err != nil {
		return nil, err
	}
	n := int32(len(ids))
	spread := max(n-1, 1)
	out := make([][]int32, partitions)
	for i := range partitions {
		p := firstPartition + i
		leader := p % n
		// Followers sit at distinct offsets 1..n-1 from the leader; the
		// starting offset rotates every n partitions.
		shift := (p / n) % spread
		candidates := make([]int32, 0, n-1)
		for r := int32(1); r < n; r++ {
			candidates = append(candidates, ids[(leader+1+(shift+r-1)%spread)%n])
		}
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, ids[leader])
		usedRacks := map[string]bool{racks[ids[leader]]: true}
		// Racks not used yet first, then whatever comes next.
		for _, c := range candidates {
			if len(replicas) < int(rf) && racks != nil && !usedRacks[racks[c]] {
				replicas = append(replicas, c)
				usedRacks[racks[c]] = true
			}
		}
		for _, c := range candidates {
			if len(replicas) < int(rf) && !slices.Contains(replicas, c) {
				replicas = append(replicas, c)
			}
		}
		out[i] = replicas
	}
	return out, nil
}

// rackOrder sorts broker ids, and with racks interleaves them rack by
// rack (r1's first, r2's first, ..., r1's second, ...), Kafka's
// rack-alternated order; racks is cleared to nil when no broker has one.
func rackOrder(brokers []int32, racks map[int32]string) ([]int32, error) {
	ids := append([]int32(nil), brokers...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	withRack := 0
	for _, id := range ids {
		if racks[id] != "" {
			withRack++
		}
	}
	switch {
	case withRack == 0:
		return ids, nil
	case withRack < len(ids):
		return nil, fmt.Errorf("%w: not all brokers have rack information (%d of %d do)", ErrInvalidReplicaAssignment, withRack, len(ids))
	}
	byRack := map[string][]int32{}
	var names []string
	for _, id := range ids {
		r := racks[id]
		if byRack[r] == nil {
			names = append(names, r)
		}
		byRack[r] = append(byRack[r], id)
	}
	sort.Strings(names)
	out := make([]int32, 0, len(ids))
	for round := 0; len(out) < len(ids); round++ {
		for _, r := range names {
			if round < len(byRack[r]) {
				out = append(out, byRack[r][round])
			}
		}
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
