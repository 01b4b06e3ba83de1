package broker

// Produce, versions 3-13.
//
// v3 is the KIP-896 floor and the first with record batch v2 only (magic
// 0/1 batches are refused with UNSUPPORTED_FOR_MESSAGE_FORMAT). v5:
// LogStartOffset in the answer. v8: per-partition error messages (KIP-467).
// v9+: flexible. v10+: CurrentLeader/NodeEndpoints tags for
// NOT_LEADER_OR_FOLLOWER (KIP-951; left empty: clients refresh metadata).
// v13: topics named by id (KIP-516), unknown ids get UNKNOWN_TOPIC_ID.
//
// Requests are appended in arrival order, which is what keeps an
// idempotent producer's pipelined batches in sequence. acks=0 gets no
// answer; acks=1 and acks=-1 are answered once the leader's log has the
// batch, since this broker is the whole ISR. acks=-1 first checks
// min.insync.replicas against the ISR (NOT_ENOUGH_REPLICAS).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

func (b *Broker) handleProduce(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	var reqErr error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = errInvalidRequiredAcks
	case req.TransactionID != nil:
		reqErr = errTransactionsUnsupported
	}
	now := time.Now()
	var waits []commitWait
	for i := range req.Topics {
		rt := &req.Topics[i]
		topic, topicErr := b.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			err := reqErr
			if err == nil {
				err = topicErr
			}
			var part *partition
			var end int64
			if err == nil {
				part, end, err = b.produceTo(topic, rp, req.Acks, now, &sp)
			}
			if err != nil {
				failProduce(&sp, err)
				b.log.Debug().Err(err).Str("topic", topic).Int32("partition", rp.Partition).Msg("produce refused")
			} else if req.Acks == -1 && part.highWatermark() < end {
				waits = append(waits, commitWait{part, end, len(resp.Topics), len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		r.Respond(nil)
		return
	}
	if len(waits) == 0 {
		r.Respond(resp)
		return
	}
	// acks=-1 with followers in the ISR: answer once every partition's
	// batch is below its high watermark, without holding up the
	// connection's other requests.
	deadline := now.Add(time.Duration(req.TimeoutMillis) * time.Millisecond)
	b.goroutine(func() {
		for _, w := range waits {
			if err := w.part.waitCommitted(ctx, w.end, deadline); err != nil {
				failProduce(&resp.Topics[w.topic].Partitions[w.partition], err)
			}
		}
		r.Respond(resp)
	})
}

// commitWait is a partition of an acks=-1 produce waiting for replication.
type commitWait struct {
	part             *partition
	end              int64 // the high watermark that commits the batch
	topic, partition int   // its place in the answer
}

func failProduce(sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = errorCode(err)
	sp.ErrorMessage = errorMessage(err)
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
}

// produceTo appends one partition's batches and fills in the answer; it
// returns the partition and the offset after the batch (what the high
// watermark must reach for acks=-1).
func (b *Broker) produceTo(topic string, rp *kmsg.ProduceRequestTopicPartition, acks int16, now time.Time, sp *kmsg.ProduceResponseTopicPartition) (*partition, int64, error) {
	part, err := b.leaderPartition(topic, rp.Partition)
	if err != nil {
		return nil, 0, err
	}
	st, minInsync := part.snapshot()
	if acks == -1 && int32(len(st.ISR)) < minInsync {
		return nil, 0, errNotEnoughReplicas
	}
	res, err := part.log.Append(rp.Records, storage.AppendOptions{LeaderEpoch: st.LeaderEpoch, Now: now})
	if err != nil {
		return nil, 0, err
	}
	if !res.Duplicate {
		part.appendedLocal()
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	return part, res.LastOffset + 1, nil
}
