package metastore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ClusterID returns the cluster's id, creating it on first use: 16 random
// bytes as 22 characters of base64url, as Kafka makes it. Every store on
// the same etcd and prefix gets the same id, forever.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	s.mu.RLock()
	id := s.clusterID
	s.mu.RUnlock()
	if id != "" {
		return id, nil
	}
	key := s.keys.clusterID()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	// Create if absent, else read, in one transaction: two brokers
	// starting together agree on whichever id etcd committed first.
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, mustJSON(clusterIDRecord{ID: encodeUUID(newUUID())})), clientv3.OpGet(key)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("metastore: cluster id: %w", err)
	}
	get := resp.Responses[len(resp.Responses)-1].GetResponseRange()
	if get == nil || len(get.Kvs) == 0 {
		return "", fmt.Errorf("%w: cluster id key %s vanished", ErrCorrupt, key)
	}
	var rec clusterIDRecord
	if err := json.Unmarshal(get.Kvs[0].Value, &rec); err != nil {
		return "", fmt.Errorf("%w: cluster id: %w", ErrCorrupt, err)
	}
	if _, err := decodeUUID(rec.ID); err != nil {
		return "", fmt.Errorf("metastore: cluster id: %w", err)
	}
	s.mu.Lock()
	s.clusterID = rec.ID
	s.mu.Unlock()
	return rec.ID, nil
}

// AllocateProducerIDs reserves size consecutive producer ids and returns
// the first. The block comes from one counter key advanced by
// compare-and-swap, so no other caller, on this broker or another, ever
// receives an id from it.
func (s *Store) AllocateProducerIDs(ctx context.Context, size int64) (first int64, err error) {
	if size <= 0 {
		return 0, fmt.Errorf("metastore: producer id block size %d must be positive", size)
	}
	key := s.keys.producerIDs()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for {
		get, err := s.client.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("metastore: allocate producer ids: %w", err)
		}
		var cur producerIDsRecord
		var modRev int64 // 0: the key does not exist yet
		if len(get.Kvs) > 0 {
			if err := json.Unmarshal(get.Kvs[0].Value, &cur); err != nil || cur.Next < 0 {
				return 0, fmt.Errorf("%w: producer id counter %q", ErrCorrupt, get.Kvs[0].Value)
			}
			modRev = get.Kvs[0].ModRevision
		}
		if cur.Next > math.MaxInt64-size {
			return 0, fmt.Errorf("metastore: producer ids exhausted at %d", cur.Next)
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, mustJSON(producerIDsRecord{Next: cur.Next + size}))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("metastore: allocate producer ids: %w", err)
		}
		if resp.Succeeded {
			return cur.Next, nil
		}
		// Another allocator won the race; read the counter again.
	}
}
