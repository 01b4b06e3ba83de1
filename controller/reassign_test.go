package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkad/kafkad/controller/metastore"
)

func TestReassignmentSteps(t *testing.T) {
	all := func(int32) bool { return true }
	st := metastore.PartitionState{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}}

	started, err := StartReassignment(st, []int32{3, 2})
	require.NoError(t, err)
	assert.Equal(t, []int32{3, 2, 1}, started.Replicas, "target first, then the leaving replicas")
	assert.Equal(t, []int32{3}, started.Adding)
	assert.Equal(t, []int32{1}, started.Removing)
	assert.Equal(t, int32(1), started.Leader, "leadership stays until the target is in sync")
	assert.Equal(t, []int32{1, 2}, st.Replicas, "the input is not changed")

	_, ok := CompleteReassignment(started, all)
	assert.False(t, ok, "3 is not in sync yet")
	synced := started
	synced.ISR = []int32{1, 2, 3}
	done, ok := CompleteReassignment(synced, all)
	require.True(t, ok)
	assert.Equal(t, []int32{3, 2}, done.Replicas)
	assert.Equal(t, []int32{2, 3}, done.ISR)
	assert.Equal(t, int32(3), done.Leader, "the leader was leaving: the first target replica in sync leads")
	assert.Equal(t, int32(5), done.LeaderEpoch)
	assert.False(t, done.Reassigning())

	back, ok := CancelReassignment(started, all)
	require.True(t, ok)
	assert.Equal(t, []int32{2, 1}, back.Replicas)
	assert.Equal(t, int32(1), back.Leader)
	assert.Equal(t, int32(4), back.LeaderEpoch, "the leader stays: no new epoch")

	replaced, err := StartReassignment(started, []int32{2, 4})
	require.NoError(t, err)
	assert.Equal(t, []int32{4}, replaced.Adding, "replacing a reassignment starts from the original replicas")
	assert.Equal(t, []int32{1}, replaced.Removing)

	_, err = StartReassignment(st, []int32{2, 2})
	require.ErrorIs(t, err, ErrInvalidReplicaAssignment)
	_, err = StartReassignment(st, nil)
	require.ErrorIs(t, err, ErrInvalidReplicaAssignment)
}
