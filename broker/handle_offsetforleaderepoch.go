package broker

// OffsetForLeaderEpoch, versions 2-4 (KIP-101, KIP-279, KIP-320).
//
// For each partition: the largest leader epoch this leader's log knows
// that is at most the one asked for, and the offset where that epoch
// ends (the start of the next epoch, or the log end for the latest one);
// UNDEFINED (-1, -1) below the first epoch. Followers use it to find where
// to truncate after a leader change; consumers (KIP-320) to detect log
// truncation. v2 is the KIP-896 floor: current leader epoch fencing. v3:
// the replica id. v4+: flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			part, err := b.leaderPartition(rt.Topic, rp.Partition)
			if err == nil {
				state, _ := part.snapshot()
				err = checkLeaderEpoch(state.LeaderEpoch, rp.CurrentLeaderEpoch)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = part.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
