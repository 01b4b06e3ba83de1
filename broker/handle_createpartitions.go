package broker

// CreatePartitions, versions 0-3.
//
// Grows a topic to Count partitions (never shrinks: INVALID_PARTITIONS),
// placing new replicas like topic creation or as the request's assignment
// says. v1 is identical; v2+ flexible; v3 identical. ValidateOnly checks
// without writing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleCreatePartitions(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	// The new partitions of the whole request count against Kafka's
	// per-request record bound; over it every topic fails.
	var budget recordBudget
	for _, rt := range req.Topics {
		if t, ok := b.store.Topic(rt.Topic); ok && rt.Count > int32(len(t.Partitions)) {
			budget.add(int64(rt.Count) - int64(len(t.Partitions)))
		}
	}
	overBudget := !budget.add(0)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if overBudget {
			st.ErrorCode = errorCode(errExcessiveBatch)
			st.ErrorMessage = errorMessage(errExcessiveBatch)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var assignment [][]int32
		for _, a := range rt.Assignment {
			assignment = append(assignment, a.Replicas)
		}
		_, err := b.ctrl.CreatePartitions(ctx, rt.Topic, rt.Count, assignment, req.ValidateOnly)
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
