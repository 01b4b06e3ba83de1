package broker

// Heartbeat, versions 0-4.
//
// v3: instance id (KIP-345). v4+: flexible. REBALANCE_IN_PROGRESS tells a
// member to rejoin; ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID that it was
// left behind.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleHeartbeat(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.HeartbeatRequest)
	resp := kmsg.NewPtrHeartbeatResponse()
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	if err := b.coord.Heartbeat(ctx, req); err != nil {
		resp.ErrorCode = err.Code
	}
	return resp
}
