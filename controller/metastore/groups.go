package metastore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Committed offsets live under P groups/<group>/offsets/<topic>, one key
// per group and topic holding every partition's offset, so a commit of
// any number of partitions is one etcd transaction of one put per topic.
// The group id is path-escaped: group ids may hold any character.

// CommittedOffset is one partition's committed position.
type CommittedOffset struct {
	Offset      int64  `json:"o"`
	LeaderEpoch int32  `json:"e"`
	Metadata    string `json:"m,omitempty"`
	CommitMs    int64  `json:"t"`
}

func (k keys) groups() string { return k.prefix + "groups/" }
func (k keys) group(id string) string {
	return k.groups() + url.PathEscape(id) + "/"
}
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
		parts := make(map[int32]CommittedOffset, len(rec))
		for p, o := range rec {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: offsets of group %s topic %s: partition %q", ErrCorrupt, group, topic, p)
			}
			parts[int32(n)] = o
		}
		out[topic] = parts
	}
	return out, nil
}

// StoreGroupOffsets writes the full offset set of each given topic of a
// group (an empty set deletes the topic's key), all in one transaction.
// The caller owns the group and holds its complete offsets, so the topic
// documents are written whole rather than merged here.
func (s *Store) StoreGroupOffsets(ctx context.Context, group string, byTopic map[string]map[int32]CommittedOffset) error {
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
		rec := make(map[string]CommittedOffset, len(parts))
		for p, o := range parts {
			rec[strconv.FormatInt(int64(p), 10)] = o
		}
		ops = append(ops, clientv3.OpPut(key, mustJSON(rec)))
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("metastore: store offsets of group %s: %w", group, err)
	}
	return nil
}

// DeleteGroup removes everything stored for a group.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := s.client.Delete(ctx, s.keys.group(group), clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("metastore: delete group %s: %w", group, err)
	}
	return nil
}

// StoredGroups lists the groups that have something stored (committed
// offsets): after a restart they exist as empty groups.
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
