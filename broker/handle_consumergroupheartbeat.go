package broker

// ConsumerGroupHeartbeat, versions 0-1 (KIP-848, the consumer group
// protocol).
//
// One request joins (member epoch 0), heartbeats, reports the partitions
// the member owns, and leaves (epoch -1, or -2 for a static member that
// comes back). The coordinator answers with the member's epoch and, when
// it changed or the request was a full one, its assignment by topic id;
// the server assignors are "uniform" and "range" (ServerAssignor,
// group.consumer.assignors). v0: the coordinator names a member joining
// with no member id. v1: the client names itself (member id required),
// and SubscribedTopicRegex subscribes by RE2/J regex resolved here
// against every topic. Group state is stored in etcd on every change.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
		resp.ErrorCode = err.Code
		return resp
	}
	return b.coord.ConsumerGroupHeartbeat(ctx, req, r.Header.ClientID, clientHost(ctx))
}

// consumerGroupTopics lists the cluster's topics for consumer group
// subscriptions (coordinator.SetTopics).
func (b *Broker) consumerGroupTopics() []coordinator.TopicInfo {
	var out []coordinator.TopicInfo
	b.store.EachTopic(func(name string, id [16]byte, partitions int) {
		out = append(out, coordinator.TopicInfo{Name: name, ID: id, Partitions: int32(partitions)})
	})
	return out
}
