package broker

// ListOffsets, versions 1-11.
//
// v1 is the floor (one offset per partition). v2: isolation level
// (read_committed's latest offset is the last stable offset, as Fetch
// computes it). v4: CurrentLeaderEpoch fencing and the
// leader epoch in the answer (KIP-320). v6+: flexible. v7: -3, the offset
// of the largest timestamp (KIP-734). v8: -4, earliest local offset
// (KIP-405; the log start here, as nothing is tiered). v9: -5, earliest
// pending upload (KIP-1005; nothing is tiered, so -1). v10: timeout only
// matters for remote storage. v11: -6 latest tiered (KIP-1023; -1).
// Other timestamps find the first record at or after them.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

// Special ListOffsets timestamps.
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestamp           = -3
	earliestLocalTimestamp = -4
	earliestPendingUpload  = -5
	latestTieredTimestamp  = -6
)

func (b *Broker) handleListOffsets(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := kmsg.NewPtrListOffsetsResponse()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if err := b.listOffset(rt.Topic, rp, req.IsolationLevel == 1, &sp); err != nil {
				sp.ErrorCode = errorCode(err)
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) listOffset(topic string, rp *kmsg.ListOffsetsRequestTopicPartition, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	part, err := b.leaderPartition(topic, rp.Partition)
	if err != nil {
		return err
	}
	st, _ := part.snapshot()
	if err := checkLeaderEpoch(st.LeaderEpoch, rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	sp.LeaderEpoch = st.LeaderEpoch
	sp.Timestamp = -1
	switch rp.Timestamp {
	case latestTimestamp:
		sp.Offset = part.highWatermark()
		if readCommitted {
			sp.Offset = part.lastStableOffset()
		}
	case earliestTimestamp, earliestLocalTimestamp:
		sp.Offset = part.log.LogStartOffset()
	case earliestPendingUpload, latestTieredTimestamp:
		sp.Offset = -1
	case maxTimestamp:
		off, ts, err := part.log.MaxTimestamp()
		if err != nil {
			return err
		}
		sp.Offset, sp.Timestamp = off, ts
	default:
		off, ts, found, err := part.log.OffsetForTimestamp(rp.Timestamp)
		if err != nil {
			return err
		}
		if found {
			sp.Offset, sp.Timestamp = off, ts
		} else {
			sp.Offset = -1
		}
	}
	return nil
}
