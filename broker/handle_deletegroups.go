package broker

// DeleteGroups, versions 0-3.
//
// v2+: flexible. v3: error messages. Only a group without members can go
// (NON_EMPTY_GROUP); its committed offsets go with it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDeleteGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	resp := kmsg.NewPtrDeleteGroupsResponse()
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		err := b.checkGroupOwner(id)
		if err == nil {
			err = b.coord.Delete(ctx, id)
		}
		if err != nil {
			rg.ErrorCode = err.Code
			if req.Version >= 3 {
				rg.ErrorMessage = &err.Message
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
