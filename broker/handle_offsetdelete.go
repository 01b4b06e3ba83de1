package broker

// OffsetDelete, version 0 (KIP-496).
//
// Removes a group's committed offsets for partitions of topics its
// members do not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleOffsetDelete(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	resp := kmsg.NewPtrOffsetDeleteResponse()
	topics := map[string][]int32{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			topics[rt.Topic] = append(topics[rt.Topic], rp.Partition)
		}
	}
	if err := b.checkGroupOwner(req.Group); err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	errs, err := b.coord.DeleteOffsets(ctx, req.Group, topics)
	if err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if e := errs[rt.Topic]; e != nil {
				sp.ErrorCode = e.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
