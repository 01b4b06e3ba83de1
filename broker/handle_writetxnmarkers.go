package broker

// WriteTxnMarkers, versions 0-1.
//
// Sent by a transaction coordinator (or kafka-transactions.sh abort) to a
// partition leader: write a commit or abort marker for a producer on each
// partition, answered once the ISR has it (Kafka appends markers with
// acks=all). A marker on __consumer_offsets completes the groups'
// transactional offsets instead. v1+: flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.WriteTxnMarkersRequest)
	// Waiting for replication must not hold up the connection.
	b.requestGoroutine(ctx, "write txn markers", func() {
		resp := kmsg.NewPtrWriteTxnMarkersResponse()
		for _, m := range req.Markers {
			var parts []txn.TopicPartition
			for _, t := range m.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, txn.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
			res := b.writeMarkersLocal(ctx, txn.Marker{
				ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch,
			}, parts)
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					if err := res[txn.TopicPartition{Topic: t.Topic, Partition: p}]; err != nil {
						rp.ErrorCode = errorCode(err)
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		r.Respond(resp)
	})
}
