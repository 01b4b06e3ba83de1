package metastore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultBrokerEntity names the cluster-wide default broker configs: the
// empty resource name of DescribeConfigs and AlterConfigs, Kafka's
// --entity-default. Its key is P configs/brokers/default.
const DefaultBrokerEntity = ""

// brokerConfigsKeyName is the last element of entity's key.
func brokerConfigsKeyName(entity string) string {
	if entity == DefaultBrokerEntity {
		return "default"
	}
	return entity
}

func (k keys) brokerConfigs(entity string) string {
	return k.prefix + "configs/brokers/" + brokerConfigsKeyName(entity)
}

// parseBrokerConfigsKey maps the last key element back to an entity.
func parseBrokerConfigsKey(rest string) (string, bool) {
	if rest == "default" {
		return DefaultBrokerEntity, true
	}
	if _, ok := parseID(rest); ok {
		return rest, true
	}
	return "", false
}

// ValidBrokerEntity reports whether entity is "" or a canonical broker id.
func ValidBrokerEntity(entity string) bool {
	if entity == DefaultBrokerEntity {
		return true
	}
	_, ok := parseID(entity)
	return ok
}

// BrokerEntity is the entity name of broker id's own configs.
func BrokerEntity(id int32) string { return strconv.FormatInt(int64(id), 10) }

// BrokerConfigs returns the dynamic broker configs stored for entity (a
// broker id in decimal, or DefaultBrokerEntity), nil if none.
func (s *Store) BrokerConfigs(entity string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneConfigs(s.cache.brokerConfigs[entity])
}

// UpdateBrokerConfigs rewrites entity's dynamic configs with change, which
// gets the stored set (never nil) and returns the new one; an empty result
// deletes the key. It retries when another writer changed the key between
// the read and the write, and returns the set written.
func (s *Store) UpdateBrokerConfigs(ctx context.Context, entity string, change func(map[string]string) (map[string]string, error)) (map[string]string, error) {
	if !ValidBrokerEntity(entity) {
		return nil, fmt.Errorf("%w: broker config entity %q", ErrNotFound, entity)
	}
	if err := s.running(); err != nil {
		return nil, err
	}
	key := s.keys.brokerConfigs(entity)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for range casAttempts {
		get, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("metastore: read broker configs %q: %w", entity, err)
		}
		cur := map[string]string{}
		var modRev int64
		if len(get.Kvs) > 0 {
			modRev = get.Kvs[0].ModRevision
			if cur, err = decodeBrokerConfigs(get.Kvs[0].Value); err != nil {
				return nil, fmt.Errorf("metastore: broker configs %q: %w", entity, err)
			}
		}
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			op = clientv3.OpPut(key, mustJSON(next))
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(op).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("metastore: write broker configs %q: %w", entity, err)
		}
		if !resp.Succeeded {
			continue
		}
		if err := s.waitRev(ctx, resp.Header.Revision); err != nil {
			return nil, err
		}
		return cloneConfigs(next), nil
	}
	return nil, fmt.Errorf("%w: broker configs %q kept changing; gave up after %d attempts", ErrConflict, entity, casAttempts)
}

// SubscribeBrokerConfigs returns a channel that receives a value after
// any broker config key changed (and after a reload); the receiver reads
// the current sets with BrokerConfigs. Signals coalesce: the channel holds
// at most one. cancel stops them.
func (s *Store) SubscribeBrokerConfigs() (changed <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfgSubs[ch] = struct{}{}
	return ch, func() {
		s.mu.Lock()
		delete(s.cfgSubs, ch)
		s.mu.Unlock()
	}
}

// notifyBrokerConfigs signals every broker config subscriber if the cache
// saw a broker config change. Callers hold s.mu.
func (s *Store) notifyBrokerConfigs(force bool) {
	if !force && !s.cache.brokerConfigsChanged {
		return
	}
	s.cache.brokerConfigsChanged = false
	for ch := range s.cfgSubs {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

func decodeBrokerConfigs(v []byte) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("%w: broker configs: %v", ErrCorrupt, err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}
