package broker

// DescribeGroups, versions 0-6.
//
// v3: authorized operations (not computed). v4: instance ids. v5+:
// flexible. v6: GROUP_ID_NOT_FOUND for unknown groups, with a message
// (KIP-1043); older versions get state Dead and no error, as Kafka answers.
// A KIP-848 consumer group is answered the same way, as Kafka does
// (ConsumerGroupDescribe describes it).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	resp := kmsg.NewPtrDescribeGroupsResponse()
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.AuthorizedOperations = notComputed
		if notOwner := b.checkGroupOwner(id); notOwner != nil {
			rg.ErrorCode = notOwner.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		g, err := b.coord.Describe(ctx, id)
		switch {
		case errors.Is(err, coordinator.ErrGroupNotFound):
			rg.State = g.State
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				rg.ErrorMessage = errorMessage(err)
			}
		case err != nil:
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			rg.State, rg.ProtocolType, rg.Protocol, rg.Members = g.State, g.ProtocolType, g.Protocol, g.Members
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
