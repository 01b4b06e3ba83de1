package broker

// AddPartitionsToTxn, versions 0-5.
//
// v0-3 come from producers: one transaction, its partitions added before
// the producer writes to them (KIP-98). v2+: PRODUCER_FENCED. v3+:
// flexible. v4+ come from brokers (KIP-890): several transactions per
// request, each either VerifyOnly (are these partitions in the
// transaction?) or, under transactions v2, an add made by a partition
// leader on a producer's behalf. v5: TRANSACTION_ABORTABLE. Every
// partition of a transaction gets the transaction's one answer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleAddPartitionsToTxn(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	if req.Version < 4 {
		parts, topics := txnPartitions(req.Topics, func(t kmsg.AddPartitionsToTxnRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
		err := b.addPartitionsChecked(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, false)
		code := int16(0)
		if err != nil {
			code = fencedCode(err, req.Version >= 2)
		}
		resp.Topics = addPartitionsTopics(topics, code)
		return resp
	}
	for _, t := range req.Transactions {
		parts, topics := txnPartitions(t.Topics, func(t kmsg.AddPartitionsToTxnRequestTransactionTopic) (string, []int32) { return t.Topic, t.Partitions })
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = t.TransactionalID
		code := int16(0)
		if err := b.addPartitionsChecked(ctx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, t.VerifyOnly); err != nil {
			code = err.Code
		}
		for _, top := range addPartitionsTopics(topics, code) {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = top.Topic
			for _, p := range top.Partitions {
				tt.Partitions = append(tt.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
			}
			rt.Topics = append(rt.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp
}

// addPartitionsChecked refuses partitions of unknown topics before the
// coordinator sees them.
func (b *Broker) addPartitionsChecked(ctx context.Context, id string, pid int64, epoch int16, parts []txn.TopicPartition, verifyOnly bool) *kerr.Error {
	for _, p := range parts {
		t, _ := b.store.Topic(p.Topic)
		if !t.HasPartition(p.Partition) {
			return kerr.UnknownTopicOrPartition
		}
	}
	return b.txn.AddPartitions(ctx, id, pid, epoch, parts, verifyOnly)
}

func txnPartitions[T any](topics []T, get func(T) (string, []int32)) ([]txn.TopicPartition, []txnTopic) {
	var parts []txn.TopicPartition
	var out []txnTopic
	for _, t := range topics {
		name, ps := get(t)
		out = append(out, txnTopic{name, ps})
		for _, p := range ps {
			parts = append(parts, txn.TopicPartition{Topic: name, Partition: p})
		}
	}
	return parts, out
}

type txnTopic struct {
	name  string
	parts []int32
}

// byTopic groups partitions by topic, topics in first-seen order.
func byTopic(parts []txn.TopicPartition) []txnTopic {
	var out []txnTopic
	idx := map[string]int{}
	for _, p := range parts {
		i, ok := idx[p.Topic]
		if !ok {
			i = len(out)
			idx[p.Topic] = i
			out = append(out, txnTopic{name: p.Topic})
		}
		out[i].parts = append(out[i].parts, p.Partition)
	}
	return out
}

func addPartitionsTopics(topics []txnTopic, code int16) []kmsg.AddPartitionsToTxnResponseTopic {
	var out []kmsg.AddPartitionsToTxnResponseTopic
	for _, t := range topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.name
		for _, p := range t.parts {
			rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: code})
		}
		out = append(out, rt)
	}
	return out
}
