package metastore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTxnOffsetsPastEtcdOpLimit: pending transactional offsets spanning
// more topics than etcd allows operations in one transaction (128) are
// stored, listed and completed, and an abort drops them.
func TestTxnOffsetsPastEtcdOpLimit(t *testing.T) {
	s := startStore(t, startEtcd(t))
	c := ctx(t)
	offsets := map[string]map[int32]CommittedOffset{}
	for i := range 300 {
		offsets[fmt.Sprintf("topic-%03d", i)] = map[int32]CommittedOffset{0: {Offset: int64(i), LeaderEpoch: 1, CommitMs: 5}}
	}
	require.NoError(t, s.StorePendingTxnOffsets(c, 3, PendingTxnOffsets{ProducerID: 42, Group: "g/1", Offsets: offsets}, Ownership{}))
	require.NoError(t, s.StorePendingTxnOffsets(c, 3, PendingTxnOffsets{ProducerID: 43, Group: "other", Offsets: offsets}, Ownership{}))

	pending, err := s.LoadPendingTxnOffsets(c, 3, 42)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, "g/1", pending[0].Group)
	assert.Equal(t, offsets, pending[0].Offsets)
	all, err := s.LoadPendingTxnOffsets(c, 3, -1)
	require.NoError(t, err)
	assert.Len(t, all, 2)

	require.NoError(t, s.CompleteTxnOffsets(c, 3, 42, "g/1", offsets, Ownership{}))
	got, err := s.LoadGroupOffsets(c, "g/1")
	require.NoError(t, err)
	assert.Equal(t, offsets, got, "every topic committed")
	require.NoError(t, s.CompleteTxnOffsets(c, 3, 43, "other", nil, Ownership{}))
	got, err = s.LoadGroupOffsets(c, "other")
	require.NoError(t, err)
	assert.Empty(t, got, "aborted: nothing committed")
	left, err := s.LoadPendingTxnOffsets(c, 3, -1)
	require.NoError(t, err)
	assert.Empty(t, left)

	// A plain commit of as many topics goes through too.
	require.NoError(t, s.StoreGroupOffsets(c, "plain", offsets, Ownership{}))
	got, err = s.LoadGroupOffsets(c, "plain")
	require.NoError(t, err)
	assert.Len(t, got, 300)
}

func TestTxnDocuments(t *testing.T) {
	s := startStore(t, startEtcd(t))
	c := ctx(t)
	require.NoError(t, s.SaveTxn(c, 7, "app/x y", []byte(`{"a":1}`), Ownership{}))
	require.NoError(t, s.SaveTxn(c, 7, "b", []byte(`{"b":2}`), Ownership{}))
	require.NoError(t, s.SaveTxn(c, 8, "elsewhere", []byte(`{}`), Ownership{}))
	docs, err := s.LoadTxns(c, 7)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"app/x y": []byte(`{"a":1}`), "b": []byte(`{"b":2}`)}, docs)
	require.NoError(t, s.DeleteTxn(c, 7, "b", Ownership{}))
	docs, err = s.LoadTxns(c, 7)
	require.NoError(t, err)
	assert.Len(t, docs, 1)
	assert.ErrorIs(t, s.SaveTxn(c, 7, "b", nil, Ownership{Leader: -1}), ErrFenced, "no ownership")
}
