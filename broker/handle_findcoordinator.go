package broker

// FindCoordinator, versions 0-6.
//
// v1: coordinator type (0 group, 1 transaction) and error messages. v3+:
// flexible. v4+: batched keys (KIP-699). v6: share-group keys (KIP-932).
// A group is coordinated by the leader of its partition of
// __consumer_offsets (created by the first FindCoordinator); a
// transactional id by the leader of its partition of __transaction_state
// (likewise created on first use). Share groups do not exist yet: their
// keys get INVALID_REQUEST.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleFindCoordinator(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := kmsg.NewPtrFindCoordinatorResponse()
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := b.findCoordinator(key, req.CoordinatorType)
		c.Host, c.Port = b.nodeAddrOn(ctx, c.NodeID, c.Host, c.Port)
		if req.Version < 4 {
			resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
			break
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}

// findCoordinator answers one key: a group's coordinator is the leader of
// its shard (groupowner.go).
func (b *Broker) findCoordinator(key string, typ int8) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID = key, -1
	var err *kerr.Error
	switch typ {
	case 0:
		if key == "" {
			err = kerr.InvalidGroupID
		}
	case 1:
		if key == "" {
			err = kerr.InvalidRequest
		}
	default:
		err = kerr.InvalidRequest
	}
	if err == nil && typ == 0 {
		err = b.ensureOffsetsTopic()
	}
	if err == nil && typ == 1 {
		err = b.ensureTxnStateTopic()
	}
	if err == nil {
		owner := b.groupOwner(key)
		if typ == 1 {
			owner = b.txnCoordinatorOf(key)
		}
		for _, bi := range b.store.Brokers() {
			if bi.ID == owner {
				c.NodeID, c.Host, c.Port = bi.ID, bi.Host, bi.Port
			}
		}
		if c.NodeID < 0 {
			err = kerr.CoordinatorNotAvailable
		}
	}
	if err != nil {
		c.ErrorCode, c.ErrorMessage = err.Code, &err.Message
	}
	return c
}

// offsetsTopic is Kafka's internal topic of committed offsets. kafkad keeps
// offsets in etcd, but clients and tools expect the topic to exist once
// groups are used (regex consumers skip it as internal), so, as Kafka
// does, the first FindCoordinator for a group creates it.
const offsetsTopic = "__consumer_offsets"

func (b *Broker) ensureOffsetsTopic() *kerr.Error {
	if _, ok := b.store.Topic(offsetsTopic); ok {
		return nil
	}
	rf := min(int(b.cfg.OffsetsTopicReplicationFactor), len(b.store.Brokers()))
	_, err := b.ctrl.CreateTopic(b.ctx, controller.TopicSpec{
		Name:              offsetsTopic,
		Partitions:        b.cfg.OffsetsTopicPartitions,
		ReplicationFactor: int16(max(rf, 1)),
		// The partitions only elect group coordinators: they hold no
		// records, so any live replica may lead.
		Configs:  map[string]string{"cleanup.policy": "compact", "unclean.leader.election.enable": "true"},
		Internal: true,
	}, false)
	if err != nil && !errors.Is(err, metastore.ErrTopicExists) {
		b.log.Warn().Err(err).Msg("cannot create " + offsetsTopic)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}
