package broker

// LeaveGroup, versions 0-5.
//
// v0-2: one member id. v3+: a batch of members by id or instance id
// (KIP-345), each with its own error. v4+: flexible. v5: reasons.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleLeaveGroup(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	resp := kmsg.NewPtrLeaveGroupResponse()
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	if req.Version < 3 {
		if err := b.coord.Leave(ctx, req.Group, req.MemberID, nil); err != nil {
			resp.ErrorCode = err.Code
		}
		return resp
	}
	for _, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if err := b.coord.Leave(ctx, req.Group, m.MemberID, m.InstanceID); err != nil {
			rm.ErrorCode = err.Code
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
