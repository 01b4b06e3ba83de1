package broker

// Metadata, versions 0-13.
//
// v0: an empty topic list means every topic. v1+: null means every topic,
// empty means none; IsInternal and the controller id appear. v2: cluster
// id. v4: AllowAutoTopicCreation (before v4 auto-creation is implied). v5:
// offline replicas. v7: leader epochs (KIP-320). v8-v10: authorized
// operations (KIP-430; answered as "not computed"). v10+: topic ids
// (KIP-516), and v12+ lets the request name topics by id alone. v13:
// top-level error code (REBOOTSTRAP_REQUIRED, unused here).
//
// Auto-creation (auto.create.topics.enable) creates a missing topic with
// num.partitions and default.replication.factor and answers with it at
// once; kafkad needs no LEADER_NOT_AVAILABLE round.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
)

// metadataSyncTimeout bounds the wait for the store to catch up with etcd
// before answering Metadata.
const metadataSyncTimeout = 2 * time.Second

// notComputed is the authorized-operations value meaning "not requested".
const notComputed = -2147483648

func (b *Broker) handleMetadata(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := kmsg.NewPtrMetadataResponse()
	// Catch up with etcd first, so a topic another broker just created or
	// deleted is already seen here. On failure the cache answers.
	syncCtx, cancel := context.WithTimeout(ctx, metadataSyncTimeout)
	if err := b.store.Sync(syncCtx); err != nil {
		b.log.Debug().Err(err).Msg("metadata answered from a cache that may be behind")
	}
	cancel()
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = notComputed
	for _, bi := range b.store.Brokers() {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID = bi.ID
		rb.Host, rb.Port = listenerAddr(ctx, bi)
		if bi.Rack != "" {
			rack := bi.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}

	live := b.liveBrokers()
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.store.Topics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t, nil, live))
		}
		return resp
	}
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var (
			t   metastore.Topic
			ok  bool
			err error
		)
		switch {
		case rt.Topic != nil:
			t, ok = b.store.Topic(*rt.Topic)
			if !ok {
				t, err = b.autoCreate(ctx, *rt.Topic, autoCreate)
			}
		default:
			if t, ok = b.store.TopicByID(rt.TopicID); !ok {
				err = errUnknownTopicID
				t.ID = rt.TopicID
			}
		}
		if err != nil && rt.Topic != nil {
			t.Name = *rt.Topic
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t, err, live))
	}
	return resp
}

// autoCreate creates a topic a client asked metadata for, when allowed.
func (b *Broker) autoCreate(ctx context.Context, name string, allowed bool) (metastore.Topic, error) {
	if err := metastore.ValidateTopicName(name); err != nil {
		return metastore.Topic{}, err
	}
	if !allowed {
		return metastore.Topic{}, errUnknownTopicOrPartition
	}
	t, err := b.ctrl.CreateTopic(ctx, controller.TopicSpec{
		Name:              name,
		Partitions:        b.cfg.NumPartitions,
		ReplicationFactor: b.cfg.DefaultReplicationFactor,
	}, false)
	if errors.Is(err, metastore.ErrTopicExists) {
		// Another client's metadata request won the race.
		if existing, ok := b.store.Topic(name); ok {
			return existing, nil
		}
	}
	if err != nil {
		b.log.Warn().Err(err).Str("topic", name).Msg("auto-create failed")
	}
	return t, err
}

func (b *Broker) metadataTopic(t metastore.Topic, err error, live func(int32) bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = notComputed
	if err != nil {
		mt.ErrorCode = errorCode(err)
		return mt
	}
	for _, st := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = st.Partition
		mp.Leader = st.Leader
		mp.LeaderEpoch = st.LeaderEpoch
		mp.Replicas = st.Replicas
		mp.ISR = st.ISR
		mp.OfflineReplicas = []int32{}
		for _, r := range st.Replicas {
			if !live(r) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if st.Leader < 0 || !live(st.Leader) {
			// No leader, or one that died before the controller moved it:
			// clients retry after refreshing metadata.
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
