package metastore

import (
	"encoding/base64"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterIDIsCreatedOnceAndStable(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	var ids [2]string
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			id, err := s.ClusterID(ctx(t))
			assert.NoError(t, err)
			ids[i] = id
		})
	}
	wg.Wait()
	require.Len(t, ids[0], 22)
	assert.Equal(t, ids[0], ids[1])
	raw, err := base64.RawURLEncoding.DecodeString(ids[0])
	require.NoError(t, err)
	assert.Len(t, raw, 16)

	again, err := startStore(t, endpoints).ClusterID(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, ids[0], again)
}

func TestAllocateProducerIDsNeverOverlap(t *testing.T) {
	endpoints := startEtcd(t)
	stores := []*Store{startStore(t, endpoints), startStore(t, endpoints)}
	const perWorker, workers, size = 10, 4, 100
	var mu sync.Mutex
	var firsts []int64
	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for range perWorker {
				first, err := s.AllocateProducerIDs(ctx(t), size)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				firsts = append(firsts, first)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, firsts, perWorker*workers)
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for i, f := range firsts {
		assert.Equal(t, int64(i*size), f, "blocks are disjoint and contiguous")
	}

	_, err := stores[0].AllocateProducerIDs(ctx(t), 0)
	require.Error(t, err)
}
