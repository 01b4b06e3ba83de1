package broker

// ConsumerGroupDescribe, versions 0-1 (KIP-848).
//
// Each group with its epoch, assignment epoch, state (Empty, Assigning,
// Reconciling, Stable) and assignor, and each member with its epoch,
// subscriptions and current and target assignments. A group that is not
// a consumer group, or none, is GROUP_ID_NOT_FOUND. v1: the member type
// (always 1, consumer: classic members cannot join consumer groups here).
// Authorized operations are not computed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	for _, id := range req.Groups {
		var g kmsg.ConsumerGroupDescribeResponseGroup
		if err := b.checkGroupOwner(id); err != nil {
			g = kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = id, err.Code
		} else {
			g = b.coord.DescribeConsumerGroup(ctx, id)
		}
		g.AuthorizedOperations = notComputed
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
