package broker

// DeleteRecords, versions 0-2.
//
// Moves a partition's log start offset forward to Offset (-1: the high
// watermark); whole segments below it are deleted and reads below it get
// OFFSET_OUT_OF_RANGE. An offset past the high watermark is
// OFFSET_OUT_OF_RANGE. As in Kafka, a topic whose cleanup.policy lacks
// delete (compact alone) is POLICY_VIOLATION. The answer's low watermark
// is the new log start.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

func (b *Broker) handleDeleteRecords(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := kmsg.NewPtrDeleteRecordsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			low, err := b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			sp.LowWatermark, sp.ErrorCode = low, errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) deleteRecords(topic string, p int32, offset int64) (int64, error) {
	part, err := b.leaderPartition(topic, p)
	if err != nil {
		return -1, err
	}
	if part.log.Config().CompactOnly {
		return -1, fmt.Errorf("%w: records of %s-%d cannot be deleted: cleanup.policy has no delete", kerr.PolicyViolation, topic, p)
	}
	hw := part.highWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: %d is outside 0 to the high watermark %d", storage.ErrOffsetOutOfRange, offset, hw)
	}
	return part.log.DeleteRecordsBefore(offset)
}
