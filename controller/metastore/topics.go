package metastore

import (
	"context"
	"fmt"
	"slices"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// casAttempts bounds the retries of a read-modify-write on a topic record
// that keeps losing its compare-and-swap to concurrent writers.
const casAttempts = 10

// Topic returns the cached topic named name.
func (s *Store) Topic(name string) (Topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.cache.topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

// TopicByID returns the cached topic with this id.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name, ok := s.cache.byID[id]
	if !ok {
		return Topic{}, false
	}
	return s.cache.topics[name].clone(), true
}

// Topics returns every cached topic, sorted by name.
func (s *Store) Topics() []Topic {
	s.mu.RLock()
	out := make([]Topic, 0, len(s.cache.topics))
	for _, t := range s.cache.topics {
		out = append(out, t.clone())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TopicID returns the id of the cached topic name, copying nothing.
func (s *Store) TopicID(name string) ([16]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.cache.topics[name]
	return t.ID, ok
}

// PartitionOf returns the partition of the cached topic name that pick
// chooses from the topic's partition count, copying only that partition
// (group requests look up their coordinator shard this way).
func (s *Store) PartitionOf(name string, pick func(partitions int) int32) (PartitionState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.cache.topics[name]
	if !ok || len(t.Partitions) == 0 {
		return PartitionState{}, false
	}
	p := pick(len(t.Partitions))
	if p < 0 || int(p) >= len(t.Partitions) {
		return PartitionState{}, false
	}
	return t.Partitions[p].clone(), true
}

// EachTopic calls fn with the name, id and partition count of every
// cached topic, copying nothing. fn must not call into the store.
func (s *Store) EachTopic(fn func(name string, id [16]byte, partitions int)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for name, t := range s.cache.topics {
		fn(name, t.ID, len(t.Partitions))
	}
}

// CreateTopic stores a new topic, assigning a random id if t.ID is zero.
// It fails with ErrTopicExists if the name is taken, decided by etcd
// atomically, so two brokers creating the same topic cannot both win.
func (s *Store) CreateTopic(ctx context.Context, t Topic) (Topic, error) {
	if err := s.running(); err != nil {
		return Topic{}, err
	}
	if err := ValidateTopicName(t.Name); err != nil {
		return Topic{}, err
	}
	if len(t.Partitions) == 0 {
		return Topic{}, fmt.Errorf("%w: topic %s has no partitions", ErrInvalidPartition, t.Name)
	}
	if err := validatePartitions(t.Name, 0, t.Partitions); err != nil {
		return Topic{}, err
	}
	t = t.clone()
	if t.ID == ([16]byte{}) {
		t.ID = newUUID()
	}
	rec := topicRecord{ID: encodeUUID(t.ID), Configs: t.Configs, Internal: t.Internal}
	for _, p := range t.Partitions {
		rec.Partitions = append(rec.Partitions, toPartitionRecord(p))
	}
	key := s.keys.topic(t.Name)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, mustJSON(rec))).
		Commit()
	if err != nil {
		return Topic{}, fmt.Errorf("metastore: create topic %s: %w", t.Name, err)
	}
	if !resp.Succeeded {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicExists, t.Name)
	}
	if err := s.waitRev(ctx, resp.Header.Revision); err != nil {
		return Topic{}, err
	}
	s.log.Debug().Str("topic", t.Name).Str("topic_id", rec.ID).Int("partitions", len(t.Partitions)).Msg("topic stored")
	return t, nil
}

// DeleteTopic removes a topic and all its partition state in one
// transaction.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	if err := s.running(); err != nil {
		return err
	}
	key := s.keys.topic(name)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpDelete(key), clientv3.OpDelete(s.keys.partitionsOf(name), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return fmt.Errorf("metastore: delete topic %s: %w", name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s", ErrTopicNotFound, name)
	}
	return s.waitRev(ctx, resp.Header.Revision)
}

// AddPartitions appends parts to a topic; parts[i].Partition must be the
// topic's current partition count plus i. The topic record is rewritten
// under a compare-and-swap on its mod revision, so a concurrent change of
// the record is never lost.
func (s *Store) AddPartitions(ctx context.Context, name string, parts []PartitionState) (Topic, error) {
	if len(parts) == 0 {
		return Topic{}, fmt.Errorf("%w: no partitions to add to %s", ErrInvalidPartition, name)
	}
	return s.updateTopic(ctx, name, func(rec *topicRecord) error {
		if err := validatePartitions(name, int32(len(rec.Partitions)), parts); err != nil {
			return err
		}
		for _, p := range parts {
			rec.Partitions = append(rec.Partitions, toPartitionRecord(p))
		}
		return nil
	})
}

// SetTopicConfigs replaces the topic's whole set of config overrides.
func (s *Store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (Topic, error) {
	return s.updateTopic(ctx, name, func(rec *topicRecord) error {
		rec.Configs = cloneConfigs(configs)
		return nil
	})
}

// updateTopic rewrites a topic record with change, retrying when another
// writer changed the record between the read and the write.
func (s *Store) updateTopic(ctx context.Context, name string, change func(*topicRecord) error) (Topic, error) {
	if err := s.running(); err != nil {
		return Topic{}, err
	}
	key := s.keys.topic(name)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for range casAttempts {
		// Read from etcd, not the cache: the cache may lag, and a stale
		// base would only lose the compare-and-swap below.
		get, err := s.client.Get(ctx, key)
		if err != nil {
			return Topic{}, fmt.Errorf("metastore: read topic %s: %w", name, err)
		}
		if len(get.Kvs) == 0 {
			return Topic{}, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
		}
		kv := get.Kvs[0]
		rec, _, err := decodeTopic(kv.Value)
		if err != nil {
			return Topic{}, fmt.Errorf("metastore: topic %s: %w", name, err)
		}
		if err := change(&rec); err != nil {
			return Topic{}, err
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, mustJSON(rec))).
			Commit()
		if err != nil {
			return Topic{}, fmt.Errorf("metastore: update topic %s: %w", name, err)
		}
		if !resp.Succeeded {
			continue
		}
		if err := s.waitRev(ctx, resp.Header.Revision); err != nil {
			return Topic{}, err
		}
		t, ok := s.Topic(name)
		if !ok { // deleted right after our write
			return Topic{}, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
		}
		return t, nil
	}
	return Topic{}, fmt.Errorf("%w: topic %s kept changing; gave up after %d attempts", ErrConflict, name, casAttempts)
}

// SetPartitionState changes one partition's leader, leader epoch and ISR
// (next.Replicas is ignored: the assignment belongs to the topic record),
// if its current state still equals expected's. The check is a
// compare-and-swap on the partition's own key, and on the topic's creation
// revision so that a write meant for a deleted topic never lands on a new
// one of the same name. A lost race returns ErrConflict; re-read and retry.
func (s *Store) SetPartitionState(ctx context.Context, name string, expected, next PartitionState) (Topic, error) {
	if err := s.running(); err != nil {
		return Topic{}, err
	}
	w, err := s.prepareStateWrite(name, expected, next)
	if err != nil {
		return Topic{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Txn(ctx).
		If(w.topicCmp(), w.stateCmp()).
		Then(w.put()).
		Commit()
	if err != nil {
		return Topic{}, fmt.Errorf("metastore: set state of %s-%d: %w", name, w.partition, err)
	}
	if !resp.Succeeded {
		return Topic{}, fmt.Errorf("%w: %s-%d changed in etcd", ErrConflict, name, w.partition)
	}
	if err := s.waitRev(ctx, resp.Header.Revision); err != nil {
		return Topic{}, err
	}
	t, ok := s.Topic(name)
	if !ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
	}
	return t, nil
}

// stateWrite is a checked change of one partition's state, with the
// revisions its compare-and-swap holds etcd to.
type stateWrite struct {
	topic     string
	partition int32
	topicKey  string
	topicRev  int64 // create revision of the topic record
	key       string
	stateRev  int64 // mod revision of the state key, 0 while it has none
	value     string
}

// prepareStateWrite checks expected against the cached state and next for
// consistency, and notes the revisions of the cached state so that etcd
// refuses the write if that state is no longer current.
func (s *Store) prepareStateWrite(name string, expected, next PartitionState) (stateWrite, error) {
	p := next.Partition
	if expected.Partition != p {
		return stateWrite{}, fmt.Errorf("%w: expected state is for partition %d, the new one for %d", ErrInvalidPartition, expected.Partition, p)
	}
	s.mu.RLock()
	entry, ok := s.cache.records[name]
	t := s.cache.topics[name]
	stateRev := s.cache.stateModRev(name, p)
	s.mu.RUnlock()
	if !ok {
		return stateWrite{}, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
	}
	if p < 0 || int(p) >= len(t.Partitions) {
		return stateWrite{}, fmt.Errorf("%w: partition %d of topic %s (it has %d)", ErrNotFound, p, name, len(t.Partitions))
	}
	cur := t.Partitions[p]
	if cur.Leader != expected.Leader || cur.LeaderEpoch != expected.LeaderEpoch || !slices.Equal(cur.ISR, expected.ISR) ||
		!slices.Equal(cur.Replicas, expected.Replicas) || !slices.Equal(cur.Adding, expected.Adding) || !slices.Equal(cur.Removing, expected.Removing) {
		return stateWrite{}, fmt.Errorf("%w: %s-%d is at leader %d epoch %d isr %v replicas %v", ErrConflict, name, p, cur.Leader, cur.LeaderEpoch, cur.ISR, cur.Replicas)
	}
	if len(next.Replicas) == 0 {
		next.Replicas = cur.Replicas // only a reassignment changes replicas
	}
	if err := validatePartition(name, next); err != nil {
		return stateWrite{}, err
	}
	rec := toPartitionRecord(next).stateRecord
	rec.Assigned = slices.Clone(next.Replicas)
	rec.Adding, rec.Removing = slices.Clone(next.Adding), slices.Clone(next.Removing)
	return stateWrite{
		topic:     name,
		partition: p,
		topicKey:  s.keys.topic(name),
		topicRev:  entry.createRev,
		key:       s.keys.partition(name, p),
		stateRev:  stateRev,
		value:     mustJSON(rec),
	}, nil
}

// topicCmp holds the write to the topic incarnation it was decided for:
// a write meant for a deleted topic never lands on a new one of the same
// name.
func (w stateWrite) topicCmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(w.topicKey), "=", w.topicRev)
}

// stateCmp holds the write to the state it was decided from.
func (w stateWrite) stateCmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(w.key), "=", w.stateRev)
}

func (w stateWrite) put() clientv3.Op { return clientv3.OpPut(w.key, w.value) }

func toPartitionRecord(p PartitionState) partitionRecord {
	return partitionRecord{
		Replicas:    slices.Clone(p.Replicas),
		stateRecord: stateRecord{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, ISR: slices.Clone(p.ISR)},
	}
}

// validatePartitions checks parts are numbered from first on and each is
// consistent; the controller decides placement, the store refuses states
// no broker could act on.
func validatePartitions(topic string, first int32, parts []PartitionState) error {
	for i, p := range parts {
		if want := first + int32(i); p.Partition != want {
			return fmt.Errorf("%w: %s: got partition %d where %d comes next", ErrInvalidPartition, topic, p.Partition, want)
		}
		if err := validatePartition(topic, p); err != nil {
			return err
		}
	}
	return nil
}

func validatePartition(topic string, p PartitionState) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s-%d: %s", ErrInvalidPartition, topic, p.Partition, fmt.Sprintf(format, args...))
	}
	if len(p.Replicas) == 0 {
		return bad("no replicas")
	}
	seen := map[int32]bool{}
	for _, r := range p.Replicas {
		if r < 0 {
			return bad("replica %d is not a broker id", r)
		}
		if seen[r] {
			return bad("replica %d listed twice", r)
		}
		seen[r] = true
	}
	if p.Leader != -1 && !seen[p.Leader] {
		return bad("leader %d is not a replica", p.Leader)
	}
	if p.LeaderEpoch < 0 {
		return bad("negative leader epoch %d", p.LeaderEpoch)
	}
	for _, r := range append(slices.Clone(p.Adding), p.Removing...) {
		if !seen[r] {
			return bad("reassigned replica %d is not a replica", r)
		}
	}
	inISR := map[int32]bool{}
	for _, r := range p.ISR {
		if !seen[r] {
			return bad("in-sync replica %d is not a replica", r)
		}
		if inISR[r] {
			return bad("in-sync replica %d listed twice", r)
		}
		inISR[r] = true
	}
	return nil
}
