package metastore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A group's state lives under P groups/<group>/ (the group id is
// path-escaped: group ids may hold any character):
//
//	state            the coordinator's serialized group (membership,
//	                 generation, assignments), opaque to the store
//	offsets/<topic>  every committed partition offset of one topic
//
// so a commit of any number of partitions is one etcd transaction of one
// put per topic. Every write is made under an Ownership: the leadership of
// the coordinator shard (a partition of __consumer_offsets) the writer
// held when it loaded the group. etcd refuses the write once that
// partition has another leader, so two brokers that both believe they
// coordinate a group cannot both write it.

// CommittedOffset is one partition's committed position.
type CommittedOffset struct {
	Offset      int64  `json:"o"`
	LeaderEpoch int32  `json:"e"`
	Metadata    string `json:"m,omitempty"`
	CommitMs    int64  `json:"t"`
}

// Ownership is the right to write a group: the leadership of partition
// Partition of Topic by Leader at LeaderEpoch. The zero Ownership fences
// nothing (for tools and tests that own every group); one without a topic
// and with a negative leader is no ownership (every write is ErrFenced).
type Ownership struct {
	Topic       string
	Partition   int32
	Leader      int32
	LeaderEpoch int32
}

func (k keys) groups() string { return k.prefix + "groups/" }
func (k keys) group(id string) string {
	return k.groups() + url.PathEscape(id) + "/"
}
func (k keys) groupState(id string) string   { return k.group(id) + "state" }
func (k keys) groupOffsets(id string) string { return k.group(id) + "offsets/" }
func (k keys) groupTopicOffsets(id, topic string) string {
	return k.groupOffsets(id) + topic
}

// LoadGroupOffsets returns every committed offset of a group, by topic and
// partition.
func (s *Store) LoadGroupOffsets(ctx context.Context, group string) (map[string]map[int32]CommittedOffset, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	prefix := s.keys.groupOffsets(group)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metastore: load offsets of group %s: %w", group, err)
	}
	out := make(map[string]map[int32]CommittedOffset, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		topic := strings.TrimPrefix(string(kv.Key), prefix)
		var rec map[string]CommittedOffset
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("%w: offsets of group %s topic %s: %v", ErrCorrupt, group, topic, err)
		}
		parts, err := decodeOffsets(rec)
		if err != nil {
			return nil, fmt.Errorf("%w: offsets of group %s topic %s: %v", ErrCorrupt, group, topic, err)
		}
		out[topic] = parts
	}
	return out, nil
}

// StoreGroupOffsets writes the full offset set of each given topic of a
// group (an empty set deletes the topic's key), all in one transaction.
// The caller owns the group and holds its complete offsets, so the topic
// documents are written whole rather than merged here.
func (s *Store) StoreGroupOffsets(ctx context.Context, group string, byTopic map[string]map[int32]CommittedOffset, own Ownership) error {
	if len(byTopic) == 0 {
		return nil
	}
	ops := make([]clientv3.Op, 0, len(byTopic))
	for topic, parts := range byTopic {
		key := s.keys.groupTopicOffsets(group, topic)
		if len(parts) == 0 {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		ops = append(ops, clientv3.OpPut(key, mustJSON(encodeOffsets(parts))))
	}
	if err := s.ownedTxns(ctx, own, ops); err != nil {
		return fmt.Errorf("metastore: store offsets of group %s: %w", group, err)
	}
	return nil
}

// ownedTxns commits ops under own in as few transactions as etcd's
// operation limit allows (one, unless a commit spans more than 127
// topics): each transaction is fenced on its own, so a split write is not
// atomic, only every part of it owned.
func (s *Store) ownedTxns(ctx context.Context, own Ownership, ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps-1)
		if err := s.ownedTxn(ctx, own, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// LoadGroup returns a group's stored state, nil if it has none.
func (s *Store) LoadGroup(ctx context.Context, group string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Get(ctx, s.keys.groupState(group))
	if err != nil {
		return nil, fmt.Errorf("metastore: load group %s: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// SaveGroup replaces a group's stored state.
func (s *Store) SaveGroup(ctx context.Context, group string, data []byte, own Ownership) error {
	if err := s.ownedTxn(ctx, own, []clientv3.Op{clientv3.OpPut(s.keys.groupState(group), string(data))}); err != nil {
		return fmt.Errorf("metastore: save group %s: %w", group, err)
	}
	return nil
}

// DeleteGroup removes everything stored for a group.
func (s *Store) DeleteGroup(ctx context.Context, group string, own Ownership) error {
	if err := s.ownedTxn(ctx, own, []clientv3.Op{clientv3.OpDelete(s.keys.group(group), clientv3.WithPrefix())}); err != nil {
		return fmt.Errorf("metastore: delete group %s: %w", group, err)
	}
	return nil
}

// ownedTxn commits ops if own still holds: the shard partition's state
// key must be at the revision the cache has for that state. When etcd
// refuses, the cache catches up with etcd: a change that kept the leader
// and epoch (an ISR change) is retried, anything else is ErrFenced.
func (s *Store) ownedTxn(ctx context.Context, own Ownership, ops []clientv3.Op) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if own.Topic == "" {
		if own.Leader < 0 {
			return ErrFenced
		}
		_, err := s.client.Txn(ctx).Then(ops...).Commit()
		return err
	}
	key := s.keys.partition(own.Topic, own.Partition)
	for range casAttempts {
		s.mu.RLock()
		t, ok := s.cache.topics[own.Topic]
		rev := s.cache.stateModRev(own.Topic, own.Partition)
		s.mu.RUnlock()
		if !ok || int(own.Partition) >= len(t.Partitions) {
			return ErrFenced
		}
		if cur := t.Partitions[own.Partition]; cur.Leader != own.Leader || cur.LeaderEpoch != own.LeaderEpoch {
			return ErrFenced
		}
		resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(ops...).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
		if err := s.Sync(ctx); err != nil {
			return err
		}
	}
	return ErrConflict
}

// StoredGroups lists the groups that have something stored (state or
// committed offsets).
func (s *Store) StoredGroups(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	prefix := s.keys.groups()
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("metastore: list groups: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range resp.Kvs {
		esc, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix), "/")
		id, err := url.PathUnescape(esc)
		if err != nil || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}
