package broker

// SyncGroup, versions 0-5.
//
// v3: instance id (KIP-345). v4+: flexible. v5: protocol type and name,
// checked against the group's (INCONSISTENT_GROUP_PROTOCOL). Followers'
// answers wait for the leader's assignment.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleSyncGroup(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.SyncGroupRequest)
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = err.Code
		r.Respond(resp)
		return
	}
	b.coord.Sync(ctx, req, func(resp *kmsg.SyncGroupResponse) { r.Respond(resp) })
}
