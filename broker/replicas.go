package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// liveBrokers reports whether a broker is registered now.
func (b *Broker) liveBrokers() func(int32) bool {
	live := map[int32]bool{}
	for _, bi := range b.store.Brokers() {
		live[bi.ID] = true
	}
	return func(id int32) bool { return live[id] }
}

// requestTopic names the topic a request refers to: by id when byID (the
// versions of KIP-516), else by the name given.
func (b *Broker) requestTopic(byID bool, name string, id [16]byte) (string, error) {
	if !byID {
		return name, nil
	}
	t, ok := b.store.TopicByID(id)
	if !ok {
		return "", errUnknownTopicID
	}
	return t.Name, nil
}

// leaderPartition returns partition p of topic when this broker leads it.
// The partition map is the fast path; the metadata store is consulted for a
// partition not yet opened here (a topic created a moment ago, before its
// watch event arrived).
func (b *Broker) leaderPartition(topic string, p int32) (*partition, error) {
	part, err := b.leaderPartitionCached(topic, p)
	if err == nil || !errors.Is(err, errUnknownTopicOrPartition) {
		return part, err
	}
	// The client may know of a topic this broker's cache has not seen
	// yet (it was just created, and Metadata catches up with etcd before
	// answering): catch up once before refusing, or an acks=0 producer
	// loses its first records to a topic that exists.
	ctx, cancel := context.WithTimeout(b.ctx, metadataSyncTimeout)
	defer cancel()
	if b.store.Sync(ctx) != nil {
		return nil, err
	}
	return b.leaderPartitionCached(topic, p)
}

func (b *Broker) leaderPartitionCached(topic string, p int32) (*partition, error) {
	tp := storage.TopicPartition{Topic: topic, Partition: p}
	b.mu.RLock()
	part := b.parts[tp]
	b.mu.RUnlock()
	if part == nil {
		t, _ := b.store.Topic(topic)
		if !t.HasPartition(p) {
			return nil, fmt.Errorf("%w: %s-%d", errUnknownTopicOrPartition, topic, p)
		}
		if !slices.Contains(t.Partitions[p].Replicas, b.cfg.BrokerID) {
			return nil, fmt.Errorf("%w: %s-%d", errNotLeader, topic, p)
		}
		var err error
		if part, err = b.openPartition(t, t.Partitions[p]); err != nil {
			return nil, err
		}
	}
	st, _ := part.snapshot()
	if st.Leader != b.cfg.BrokerID {
		return nil, fmt.Errorf("%w: %s-%d is led by %d", errNotLeader, topic, p, st.Leader)
	}
	return part, nil
}

// openPartition opens (or creates) the local log of a partition this broker
// is a replica of, replacing a log left by an older topic of the same name.
// t may be a snapshot older than a deletion (a watch event handled late):
// a topic the store no longer has under t's id is not opened again, and
// as dropTopic removes partitions under b.mu after the store dropped the
// topic, a partition is never opened after its topic's deletion.
func (b *Broker) openPartition(t metastore.Topic, st metastore.PartitionState) (*partition, error) {
	tp := storage.TopicPartition{Topic: t.Name, Partition: st.Partition}
	b.mu.Lock()
	defer b.mu.Unlock()
	if id, ok := b.store.TopicID(t.Name); !ok || id != t.ID {
		return nil, fmt.Errorf("%w: %s-%d (topic deleted)", errUnknownTopicOrPartition, tp.Topic, tp.Partition)
	}
	if part := b.parts[tp]; part != nil {
		if part.topicID == t.ID {
			b.updatePartition(part, t, st)
			return part, nil
		}
		delete(b.parts, tp)
	}
	if id, ok := b.logs.TopicID(tp); ok && id != t.ID {
		b.log.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("deleting log of a deleted topic with the same name")
		if err := b.logs.Delete(tp); err != nil {
			return nil, err
		}
	}
	log, err := b.logs.GetOrCreate(tp, t.ID, b.liveConfig().logConfig(t.Configs))
	if err != nil {
		return nil, fmt.Errorf("broker: open %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	part := newPartition(tp, t.ID, log, b.cfg.BrokerID)
	b.updatePartition(part, t, st)
	b.parts[tp] = part
	return part, nil
}

// updatePartition applies the store's view of a partition and its topic's
// configs to an open partition.
func (b *Broker) updatePartition(part *partition, t metastore.Topic, st metastore.PartitionState) {
	becameLeader, becameFollower := part.setState(st, b.liveConfig().minInsync(t.Configs))
	setThrottling(part, t.Configs)
	if lc := b.liveConfig().logConfig(t.Configs); lc != part.log.Config() {
		part.log.SetConfig(lc)
	}
	switch {
	case becameLeader:
		b.log.Info().Str("topic", t.Name).Int32("partition", st.Partition).Int32("leader_epoch", st.LeaderEpoch).
			Ints32("isr", st.ISR).Msg("leading partition")
	case becameFollower:
		b.log.Info().Str("topic", t.Name).Int32("partition", st.Partition).Int32("leader", st.Leader).
			Int32("leader_epoch", st.LeaderEpoch).Msg("following partition")
	}
	b.fetchers.follow(part, st)
}

// reconcileTopic makes the local partitions of t match the store.
func (b *Broker) reconcileTopic(t metastore.Topic) {
	for _, st := range t.Partitions {
		if !slices.Contains(st.Replicas, b.cfg.BrokerID) {
			b.dropReplica(t, st.Partition)
			continue
		}
		if _, err := b.openPartition(t, st); errors.Is(err, errUnknownTopicOrPartition) {
			return // deleted since this snapshot of it was taken
		} else if err != nil {
			b.log.Error().Err(err).Str("topic", t.Name).Int32("partition", st.Partition).Msg("cannot open partition")
		}
	}
}

// dropTopic deletes every local partition of a deleted topic. Partitions of
// a topic created again under the same name (the store knows it with their
// topic id) are kept: a late deletion event must not remove them.
func (b *Broker) dropTopic(name string) {
	cur, exists := b.store.Topic(name)
	b.mu.Lock()
	var doomed []storage.TopicPartition
	for tp, part := range b.parts {
		if tp.Topic == name && !(exists && part.topicID == cur.ID) {
			part.mu.Lock()
			part.deleted = true
			part.mu.Unlock()
			delete(b.parts, tp)
			doomed = append(doomed, tp)
		}
	}
	b.mu.Unlock()
	for _, tp := range doomed {
		b.fetchers.drop(tp)
		if err := b.logs.Delete(tp); err != nil {
			b.log.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("cannot delete partition log")
		}
	}
	if len(doomed) > 0 {
		b.log.Info().Str("topic", name).Int("partitions", len(doomed)).Msg("deleted local logs of deleted topic")
	}
}

// dropReplica deletes the local replica of a partition this broker is no
// longer assigned (a completed reassignment moved it away).
func (b *Broker) dropReplica(t metastore.Topic, p int32) {
	tp := storage.TopicPartition{Topic: t.Name, Partition: p}
	b.mu.Lock()
	part := b.parts[tp]
	if part == nil || part.topicID != t.ID {
		b.mu.Unlock()
		return
	}
	part.mu.Lock()
	part.deleted = true
	part.mu.Unlock()
	delete(b.parts, tp)
	b.mu.Unlock()
	b.fetchers.drop(tp)
	if err := b.logs.Delete(tp); err != nil {
		b.log.Error().Err(err).Str("topic", tp.Topic).Int32("partition", p).Msg("cannot delete moved replica")
		return
	}
	b.log.Info().Str("topic", tp.Topic).Int32("partition", p).Msg("replica moved away: local log deleted")
}

// reconcileAll opens every partition the store assigns here and deletes
// local logs whose topic no longer exists (stray logs).
func (b *Broker) reconcileAll() {
	for _, t := range b.store.Topics() {
		b.reconcileTopic(t)
	}
	for _, tp := range b.logs.Partitions() {
		t, ok := b.store.Topic(tp.Topic)
		id, _ := b.logs.TopicID(tp)
		if ok && id == t.ID && int(tp.Partition) < len(t.Partitions) && slices.Contains(t.Partitions[tp.Partition].Replicas, b.cfg.BrokerID) {
			continue
		}
		b.log.Warn().Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("deleting stray log: its topic is not in the metadata store")
		if err := b.logs.Delete(tp); err != nil {
			b.log.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("cannot delete stray log")
		}
	}
}

func (b *Broker) watchTopics(events <-chan metastore.TopicEvent) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Deleted {
				b.dropTopic(ev.Name)
			} else {
				b.reconcileTopic(ev.Topic)
			}
		case <-b.ctx.Done():
			return
		}
	}
}

// producerIDBlock is how many producer ids one etcd write reserves.
const producerIDBlock = 1000

// producerIDs hands out producer ids from blocks reserved in the metadata
// store, so no two brokers ever give out the same id.
type producerIDs struct {
	store     *metastore.Store
	mu        sync.Mutex
	next, end int64
}

func newProducerIDs(store *metastore.Store) *producerIDs { return &producerIDs{store: store} }

func (p *producerIDs) allocate(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, err := p.store.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return 0, err
		}
		p.next, p.end = first, first+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}
