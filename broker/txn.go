package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/internal/safe"
	"github.com/kafkad/kafkad/storage"
)

// Transactional ids are sharded as groups are (groupowner.go): an id
// belongs to partition abs(hashCode(id)) mod N of __transaction_state,
// whose leader coordinates it (coordinator/txn). This file is the
// coordinator's view of the cluster: shard leadership, producer ids, and
// the markers it asks partition leaders to write, locally or through
// WriteTxnMarkers to another broker.

// txnStateTopic is Kafka's internal topic of transaction state; kafkad
// keeps the state in etcd and uses the partitions to elect coordinators.
const txnStateTopic = "__transaction_state"

// txnCluster implements txn.Cluster over the broker.
type txnCluster struct{ b *Broker }

func (c txnCluster) Shard(id string) (int32, bool) {
	t, ok := c.b.store.Topic(txnStateTopic)
	if !ok || len(t.Partitions) == 0 {
		return 0, false
	}
	return groupShard(id, len(t.Partitions)), true
}

func (c txnCluster) Shards() int {
	t, ok := c.b.store.Topic(txnStateTopic)
	if !ok {
		return 0
	}
	return len(t.Partitions)
}

func (c txnCluster) Ownership(shard int32) metastore.Ownership {
	p, ok := c.b.store.PartitionOf(txnStateTopic, func(int) int32 { return shard })
	if !ok {
		return metastore.Ownership{Leader: -1}
	}
	return metastore.Ownership{Topic: txnStateTopic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
}

func (c txnCluster) Self() int32 { return c.b.cfg.BrokerID }

func (c txnCluster) AllocateProducerID(ctx context.Context) (int64, error) {
	return c.b.pids.allocate(ctx)
}

func (c txnCluster) OffsetsPartition(group string) (txn.TopicPartition, bool) {
	own := c.b.groupOwnership(group)
	if own.Topic == "" {
		return txn.TopicPartition{}, false
	}
	return txn.TopicPartition{Topic: offsetsTopic, Partition: own.Partition}, true
}

// markerTimeout bounds one round of marker writes.
const markerTimeout = 30 * time.Second

func (c txnCluster) WriteMarkers(ctx context.Context, m txn.Marker) map[txn.TopicPartition]error {
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	out := make(map[txn.TopicPartition]error, len(m.Partitions))
	byLeader := map[int32][]txn.TopicPartition{}
	for _, p := range m.Partitions {
		st, ok := c.b.store.PartitionOf(p.Topic, func(int) int32 { return p.Partition })
		switch {
		case !ok:
			out[p] = txn.ErrPartitionGone
		case st.Leader < 0:
			out[p] = errNotLeader
		default:
			byLeader[st.Leader] = append(byLeader[st.Leader], p)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, parts := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res map[txn.TopicPartition]error
			// After a panic res is empty: the coordinator retries the
			// partitions it has no answer for.
			safe.Run(c.b.log, "transaction marker write", func() {
				if leader == c.b.cfg.BrokerID {
					res = c.b.writeMarkersLocal(ctx, m, parts)
				} else {
					res = c.b.writeMarkersRemote(ctx, leader, m, parts)
				}
			})
			mu.Lock()
			for p, err := range res {
				out[p] = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// writeMarkersLocal writes a marker on partitions this broker leads and
// waits until the ISR has it, as Kafka appends markers with acks=all.
// On __consumer_offsets the marker completes the groups' transactional
// offsets instead (those partitions hold no records here).
func (b *Broker) writeMarkersLocal(ctx context.Context, m txn.Marker, parts []txn.TopicPartition) map[txn.TopicPartition]error {
	out := make(map[txn.TopicPartition]error, len(parts))
	deadline := time.Now().Add(markerTimeout)
	for _, p := range parts {
		if p.Topic == offsetsTopic {
			out[p] = b.coord.CompleteTxn(ctx, p.Partition, m.ProducerID, m.Commit)
			continue
		}
		part, err := b.leaderPartition(p.Topic, p.Partition)
		if errors.Is(err, errUnknownTopicOrPartition) {
			out[p] = txn.ErrPartitionGone
			continue
		}
		if err != nil {
			out[p] = err
			continue
		}
		st, _ := part.snapshot()
		res, err := part.log.AppendMarker(storage.Marker{
			ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch,
		}, storage.AppendOptions{LeaderEpoch: st.LeaderEpoch})
		if err != nil {
			out[p] = err
			continue
		}
		part.appendedLocal()
		out[p] = part.waitCommitted(ctx, res.LastOffset+1, deadline)
	}
	return out
}

// writeMarkersRemote sends WriteTxnMarkers to another partition leader.
func (b *Broker) writeMarkersRemote(ctx context.Context, leader int32, m txn.Marker, parts []txn.TopicPartition) map[txn.TopicPartition]error {
	out := make(map[txn.TopicPartition]error, len(parts))
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	wm := kmsg.NewWriteTxnMarkersRequestMarker()
	wm.ProducerID, wm.ProducerEpoch, wm.Committed, wm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	for _, tt := range byTopic(parts) {
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = tt.name, tt.parts
		wm.Topics = append(wm.Topics, t)
	}
	req.Markers = append(req.Markers, wm)
	resp, err := b.peerRequest(ctx, leader, req)
	if err != nil {
		for _, p := range parts {
			out[p] = err
		}
		return out
	}
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				p := txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
				switch err := kerr.ErrorForCode(rp.ErrorCode); {
				case err == nil:
					out[p] = nil
				case errors.Is(err, kerr.UnknownTopicOrPartition):
					out[p] = txn.ErrPartitionGone
				default:
					out[p] = err
				}
			}
		}
	}
	return out
}

// peers is the inter-broker client for coordinator traffic (markers to
// partition leaders, partitions added by leaders to transactions).
type peers struct {
	b  *Broker
	mu sync.Mutex
	cl *kgo.Client
}

// peerRequest sends req to broker id, found among the live brokers.
func (b *Broker) peerRequest(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := b.peers.client()
	if err != nil {
		return nil, err
	}
	return cl.Broker(int(id)).Request(ctx, req)
}

func (p *peers) client() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl != nil {
		return p.cl, nil
	}
	var seeds []string
	for _, bi := range p.b.store.Brokers() {
		seeds = append(seeds, fmt.Sprintf("%s:%d", bi.Host, bi.Port))
	}
	if len(seeds) == 0 {
		return nil, errors.New("broker: no live brokers")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(fmt.Sprintf("kafkad-broker-%d", p.b.cfg.BrokerID)),
		kgo.RequestRetries(0),
	}, p.b.interBrokerSASL()...)...)
	if err != nil {
		return nil, err
	}
	p.cl = cl
	return cl, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl != nil {
		p.cl.Close()
		p.cl = nil
	}
}

// ensureTxnStateTopic creates __transaction_state on first use, as Kafka
// does on the first FindCoordinator for a transactional id.
func (b *Broker) ensureTxnStateTopic() *kerr.Error {
	if _, ok := b.store.Topic(txnStateTopic); ok {
		return nil
	}
	rf := min(int(b.cfg.Txn.StateReplicaCount), len(b.store.Brokers()))
	minIsr := min(b.cfg.Txn.StateMinInsync, int32(max(rf, 1)))
	_, err := b.ctrl.CreateTopic(b.ctx, controller.TopicSpec{
		Name:              txnStateTopic,
		Partitions:        b.cfg.Txn.StatePartitions,
		ReplicationFactor: int16(max(rf, 1)),
		// The partitions only elect transaction coordinators: they hold
		// no records, so any live replica may lead.
		Configs: map[string]string{
			"cleanup.policy": "compact", "unclean.leader.election.enable": "true",
			"min.insync.replicas": fmt.Sprint(minIsr),
		},
		Internal: true,
	}, false)
	if err != nil && !errors.Is(err, metastore.ErrTopicExists) {
		b.log.Warn().Err(err).Msg("cannot create " + txnStateTopic)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// txnCoordinatorOf is the broker coordinating a transactional id, -1 if none.
func (b *Broker) txnCoordinatorOf(id string) int32 {
	c := txnCluster{b}
	s, ok := c.Shard(id)
	if !ok {
		return -1
	}
	return c.Ownership(s).Leader
}
