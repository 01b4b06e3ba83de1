package broker

// JoinGroup, versions 0-9.
//
// v1: rebalance timeout. v4: member id required round trip (KIP-394). v5:
// static members (KIP-345). v6+: flexible. v7: protocol type in the
// answer. v8: reason. v9: SkipAssignment (never set: the leader always
// assigns). The answer comes when the group's join phase ends, without
// holding up the connection's other requests.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleJoinGroup(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.JoinGroupRequest)
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.ErrorCode, resp.MemberID, resp.Generation = err.Code, req.MemberID, -1
		r.Respond(resp)
		return
	}
	b.coord.Join(ctx, req, r.Header.ClientID, clientHost(ctx), func(resp *kmsg.JoinGroupResponse) { r.Respond(resp) })
}
