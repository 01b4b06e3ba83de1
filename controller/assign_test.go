package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAssignReplicas(t *testing.T) {
	t.Run("single broker", func(t *testing.T) {
		got, err := AssignReplicas([]int32{1}, 0, 3, 1)
		require.NoError(t, err)
		assert.Equal(t, [][]int32{{1}, {1}, {1}}, got)
	})
	t.Run("leaders spread evenly and replicas distinct", func(t *testing.T) {
		got, err := AssignReplicas([]int32{3, 1, 2}, 0, 6, 3)
		require.NoError(t, err)
		leaders := map[int32]int{}
		for _, r := range got {
			require.Len(t, r, 3)
			assert.ElementsMatch(t, []int32{1, 2, 3}, r)
			leaders[r[0]]++
		}
		assert.Equal(t, map[int32]int{1: 2, 2: 2, 3: 2}, leaders)
	})
	t.Run("deterministic", func(t *testing.T) {
		a, _ := AssignReplicas([]int32{1, 2, 3, 4}, 2, 5, 2)
		b, _ := AssignReplicas([]int32{4, 3, 2, 1}, 2, 5, 2)
		assert.Equal(t, a, b)
	})
	t.Run("rf above brokers", func(t *testing.T) {
		_, err := AssignReplicas([]int32{1}, 0, 1, 2)
		require.ErrorIs(t, err, ErrInvalidReplicationFactor)
	})
	t.Run("rf zero", func(t *testing.T) {
		_, err := AssignReplicas([]int32{1}, 0, 1, 0)
		require.ErrorIs(t, err, ErrInvalidReplicationFactor)
	})
	t.Run("no partitions", func(t *testing.T) {
		_, err := AssignReplicas([]int32{1}, 0, 0, 1)
		require.ErrorIs(t, err, ErrInvalidPartitions)
	})
}

func TestCheckAssignment(t *testing.T) {
	brokers := []int32{1, 2}
	tests := []struct {
		name string
		in   [][]int32
		ok   bool
	}{
		{"valid", [][]int32{{1, 2}, {2, 1}}, true},
		{"empty partition", [][]int32{{}}, false},
		{"uneven", [][]int32{{1, 2}, {1}}, false},
		{"duplicate broker", [][]int32{{1, 1}}, false},
		{"unknown broker", [][]int32{{7}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAssignment(tc.in, brokers)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidReplicaAssignment)
			}
		})
	}
}

func TestAssignReplicasRacks(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	ids := []int32{1, 2, 3, 4, 5, 6}
	got, err := AssignReplicasRacks(ids, racks, 0, 12, 3)
	require.NoError(t, err)
	leaders := map[int32]int{}
	for p, r := range got {
		require.Len(t, r, 3)
		seen := map[string]bool{}
		for _, id := range r {
			assert.False(t, seen[racks[id]], "partition %d: %v puts two replicas on rack %s", p, r, racks[id])
			seen[racks[id]] = true
		}
		leaders[r[0]]++
	}
	assert.Equal(t, map[int32]int{1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2}, leaders, "leaders spread evenly")

	// More replicas than racks: racks are covered, then replicas repeat racks.
	two, err := AssignReplicasRacks([]int32{1, 2, 3, 4}, map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}, 0, 4, 3)
	require.NoError(t, err)
	for _, r := range two {
		assert.Len(t, r, 3)
		assert.ElementsMatch(t, []string{"a", "b"}, uniqueRacks(r, map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}))
	}

	plain, err := AssignReplicasRacks(ids, nil, 3, 7, 2)
	require.NoError(t, err)
	old, err := AssignReplicas(ids, 3, 7, 2)
	require.NoError(t, err)
	assert.Equal(t, old, plain, "no racks: the rack-unaware placement")

	_, err = AssignReplicasRacks(ids, map[int32]string{1: "a"}, 0, 1, 1)
	require.ErrorIs(t, err, ErrInvalidReplicaAssignment, "some brokers without a rack")
}

func uniqueRacks(ids []int32, racks map[int32]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[racks[id]] {
			seen[racks[id]] = true
			out = append(out, racks[id])
		}
	}
	return out
}
