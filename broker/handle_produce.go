package broker

// Produce, versions 3-13.
//
// v3 is the KIP-896 floor and the first with record batch v2 only (magic
// 0/1 batches are refused with UNSUPPORTED_FOR_MESSAGE_FORMAT). v5:
// LogStartOffset in the answer. v8: per-partition error messages and the
// refused records (KIP-467).
// v9+: flexible. v10+: CurrentLeader/NodeEndpoints tags for
// NOT_LEADER_OR_FOLLOWER (KIP-951; left empty: clients refresh metadata).
// v13: topics named by id (KIP-516), unknown ids get UNKNOWN_TOPIC_ID.
//
// Requests are appended in arrival order, which is what keeps an
// idempotent producer's pipelined batches in sequence. acks=0 gets no
// answer; acks=1 and acks=-1 are answered once the leader's log has the
// batch, since this broker is the whole ISR. acks=-1 first checks
// min.insync.replicas against the ISR (NOT_ENOUGH_REPLICAS).
//
// The partition's log applies the topic's configs to each batch, as
// Kafka's LogValidator: compression.type recompresses batches in another
// codec, CreateTime timestamps outside message.timestamp.before/after.max.ms
// are refused with INVALID_TIMESTAMP, and a record without a key in a
// compacted topic with INVALID_RECORD; the refused records are listed.
//
// Transactional batches open (or continue) the producer's transaction on
// the partition (storage). From v12 on (transactions v2, KIP-890 part 2)
// the client does not add partitions to its transaction itself: before
// the first transactional batch of a transaction reaches a partition,
// this broker adds the partition through the transaction coordinator.
// Before v12 the client has added it, and this broker verifies that with
// the coordinator (KIP-890 part 1). Coordinator errors a retry can cure
// are answered NOT_ENOUGH_REPLICAS, as Kafka does.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

func (b *Broker) handleProduce(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	var reqErr error
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		reqErr = errInvalidRequiredAcks
	}
	var added map[txn.TopicPartition]error
	if reqErr == nil && req.TransactionID != nil {
		added = b.addProducedToTxn(ctx, req, req.Version < 12)
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
				err = added[txn.TopicPartition{Topic: topic, Partition: rp.Partition}]
			}
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
	b.requestGoroutine(ctx, "produce acks=-1 wait", func() {
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
	// v8+ (KIP-467): which records of the batch were refused, so a
	// client can tell them from the rest.
	var refused *storage.RecordsRefusedError
	if errors.As(err, &refused) {
		for _, r := range refused.Records {
			re := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			re.RelativeOffset, re.ErrorMessage = r.Index, strPtr(r.Message)
			sp.ErrorRecords = append(sp.ErrorRecords, re)
		}
	}
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

// addProducedToTxn adds to the producer's transaction (transactions v2)
// the partitions of req this broker leads whose first batch is
// transactional and that the coordinator has not added to that
// producer's open transaction yet, in one coordinator call; with verifyOnly (transactions v1, whose
// clients add partitions themselves) it checks that the coordinator has
// them (KIP-890 part 1), so a batch the coordinator does not know of
// cannot leave a transaction open forever. It returns the partitions that
// failed with the error to answer them.
func (b *Broker) addProducedToTxn(ctx context.Context, req *kmsg.ProduceRequest, verifyOnly bool) map[txn.TopicPartition]error {
	var parts []txn.TopicPartition
	var leaders []*partition
	var pid int64 = -1
	var epoch int16
	for i := range req.Topics {
		rt := &req.Topics[i]
		topic, err := b.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		if err != nil {
			continue
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			bpid, bepoch, ok := storage.TransactionalProducer(rp.Records)
			if !ok {
				continue
			}
			part, err := b.leaderPartition(topic, rp.Partition)
			if err != nil {
				continue
			}
			// A v1 client added the partition itself before producing, so
			// an open transaction at its epoch is the current one; under
			// v2 only this broker's own add says so (partition.txnAdded).
			if (verifyOnly && part.log.HasOngoingTxn(bpid, bepoch)) || (!verifyOnly && part.inTxn(bpid, bepoch)) {
				continue
			}
			pid, epoch = bpid, bepoch
			parts = append(parts, txn.TopicPartition{Topic: topic, Partition: rp.Partition})
			leaders = append(leaders, part)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	kerrr := b.addToTxn(ctx, *req.TransactionID, pid, epoch, parts, verifyOnly)
	if kerrr == nil {
		if !verifyOnly {
			for _, part := range leaders {
				part.addedToTxn(pid, epoch)
			}
		}
		return nil
	}
	b.log.Debug().Str("transactional_id", *req.TransactionID).Int64("producer_id", pid).Int16("epoch", epoch).
		Str("error", kerrr.Message).Msg("partitions not added to transaction")
	switch kerrr {
	case kerr.CoordinatorNotAvailable, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions:
		kerrr = kerr.NotEnoughReplicas
	}
	out := make(map[txn.TopicPartition]error, len(parts))
	for _, p := range parts {
		out[p] = kerrr
	}
	return out
}
