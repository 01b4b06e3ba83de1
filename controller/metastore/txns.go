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

// Transactions live under P txns/<shard>/<transactional id> (the id is
// path-escaped), one document per transactional id, opaque to the store.
// <shard> is the id's partition of __transaction_state, so the broker
// that takes a shard over loads exactly its transactions with one range
// read. Writes are fenced like group writes (Ownership of that shard
// partition).
//
// Offsets committed inside a transaction (TxnOffsetCommit) wait under
// P txnoffsets/<shard>/<producer id>/<group> until the transaction ends;
// <shard> is the group's partition of __consumer_offsets, which is where
// the transaction coordinator sends the marker. A commit marker moves
// them into the group's offsets and deletes the pending document in one
// etcd transaction; an abort marker deletes it.

func (k keys) txns(shard int32) string {
	return k.prefix + "txns/" + strconv.FormatInt(int64(shard), 10) + "/"
}
func (k keys) txn(shard int32, id string) string { return k.txns(shard) + url.PathEscape(id) }
func (k keys) txnOffsetsShard(shard int32) string {
	return k.prefix + "txnoffsets/" + strconv.FormatInt(int64(shard), 10) + "/"
}
func (k keys) txnOffsetsProducer(shard int32, pid int64) string {
	return k.txnOffsetsShard(shard) + strconv.FormatInt(pid, 10) + "/"
}
func (k keys) txnOffsets(shard int32, pid int64, group string) string {
	return k.txnOffsetsProducer(shard, pid) + url.PathEscape(group)
}

// LoadTxns returns every transaction document of a shard by transactional id.
func (s *Store) LoadTxns(ctx context.Context, shard int32) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	prefix := s.keys.txns(shard)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metastore: load transactions of shard %d: %w", shard, err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id, err := url.PathUnescape(strings.TrimPrefix(string(kv.Key), prefix))
		if err != nil {
			return nil, fmt.Errorf("%w: transaction key %q", ErrCorrupt, kv.Key)
		}
		out[id] = kv.Value
	}
	return out, nil
}

// SaveTxn replaces a transactional id's document.
func (s *Store) SaveTxn(ctx context.Context, shard int32, id string, data []byte, own Ownership) error {
	if err := s.ownedTxn(ctx, own, []clientv3.Op{clientv3.OpPut(s.keys.txn(shard, id), string(data))}); err != nil {
		return fmt.Errorf("metastore: save transaction %s: %w", id, err)
	}
	return nil
}

// DeleteTxn removes a transactional id's document (the id expired).
func (s *Store) DeleteTxn(ctx context.Context, shard int32, id string, own Ownership) error {
	if err := s.ownedTxn(ctx, own, []clientv3.Op{clientv3.OpDelete(s.keys.txn(shard, id))}); err != nil {
		return fmt.Errorf("metastore: delete transaction %s: %w", id, err)
	}
	return nil
}

// PendingTxnOffsets is what one producer committed for one group inside
// its open transaction, by topic and partition.
type PendingTxnOffsets struct {
	ProducerID int64
	Group      string
	Offsets    map[string]map[int32]CommittedOffset
}

// LoadPendingTxnOffsets returns the pending transactional offsets of a
// __consumer_offsets shard, of one producer when pid >= 0 or of all.
func (s *Store) LoadPendingTxnOffsets(ctx context.Context, shard int32, pid int64) ([]PendingTxnOffsets, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	prefix := s.keys.txnOffsetsShard(shard)
	if pid >= 0 {
		prefix = s.keys.txnOffsetsProducer(shard, pid)
	}
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metastore: load transactional offsets of shard %d: %w", shard, err)
	}
	out := make([]PendingTxnOffsets, 0, len(resp.Kvs))
	base := s.keys.txnOffsetsShard(shard)
	for _, kv := range resp.Kvs {
		p, esc, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), base), "/")
		id, err1 := strconv.ParseInt(p, 10, 64)
		group, err2 := url.PathUnescape(esc)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: transactional offsets key %q", ErrCorrupt, kv.Key)
		}
		offsets, err := decodeTopicOffsets(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: transactional offsets of group %s: %v", ErrCorrupt, group, err)
		}
		out = append(out, PendingTxnOffsets{ProducerID: id, Group: group, Offsets: offsets})
	}
	return out, nil
}

// StorePendingTxnOffsets replaces what pid has committed for group inside
// its open transaction.
func (s *Store) StorePendingTxnOffsets(ctx context.Context, shard int32, p PendingTxnOffsets, own Ownership) error {
	op := clientv3.OpPut(s.keys.txnOffsets(shard, p.ProducerID, p.Group), mustJSON(encodeTopicOffsets(p.Offsets)))
	if err := s.ownedTxn(ctx, own, []clientv3.Op{op}); err != nil {
		return fmt.Errorf("metastore: store transactional offsets of group %s: %w", p.Group, err)
	}
	return nil
}

// CompleteTxnOffsets ends a producer's pending offsets for a group: the
// given topic documents (the group's full offsets of each topic the
// transaction touched, empty for an abort) are written and the pending
// document deleted, in one transaction (several past etcd's operation
// limit, the pending document's deletion last, so a retry after a
// partial write writes the same offsets again).
func (s *Store) CompleteTxnOffsets(ctx context.Context, shard int32, pid int64, group string, byTopic map[string]map[int32]CommittedOffset, own Ownership) error {
	ops := make([]clientv3.Op, 0, len(byTopic)+1)
	for topic, parts := range byTopic {
		ops = append(ops, clientv3.OpPut(s.keys.groupTopicOffsets(group, topic), mustJSON(encodeOffsets(parts))))
	}
	ops = append(ops, clientv3.OpDelete(s.keys.txnOffsets(shard, pid, group)))
	if err := s.ownedTxns(ctx, own, ops); err != nil {
		return fmt.Errorf("metastore: complete transactional offsets of group %s: %w", group, err)
	}
	return nil
}

func encodeOffsets(parts map[int32]CommittedOffset) map[string]CommittedOffset {
	rec := make(map[string]CommittedOffset, len(parts))
	for p, o := range parts {
		rec[strconv.FormatInt(int64(p), 10)] = o
	}
	return rec
}

func encodeTopicOffsets(byTopic map[string]map[int32]CommittedOffset) map[string]map[string]CommittedOffset {
	out := make(map[string]map[string]CommittedOffset, len(byTopic))
	for t, parts := range byTopic {
		out[t] = encodeOffsets(parts)
	}
	return out
}

func decodeOffsets(rec map[string]CommittedOffset) (map[int32]CommittedOffset, error) {
	parts := make(map[int32]CommittedOffset, len(rec))
	for p, o := range rec {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("partition %q", p)
		}
		parts[int32(n)] = o
	}
	return parts, nil
}

func decodeTopicOffsets(data []byte) (map[string]map[int32]CommittedOffset, error) {
	var rec map[string]map[string]CommittedOffset
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	out := make(map[string]map[int32]CommittedOffset, len(rec))
	for t, r := range rec {
		parts, err := decodeOffsets(r)
		if err != nil {
			return nil, err
		}
		out[t] = parts
	}
	return out, nil
}
