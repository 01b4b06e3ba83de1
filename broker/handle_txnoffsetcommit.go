package broker

// TxnOffsetCommit, versions 0-5.
//
// A transactional producer commits a consumer group's offsets inside its
// transaction: they are stored as pending and become the group's offsets
// only when the commit marker reaches the group's coordinator
// (coordinator/txnoffsets.go). v2: leader epoch. v3+: flexible, and the
// group member's id, instance id and generation, checked as OffsetCommit
// checks them (KIP-447). v4: TRANSACTION_ABORTABLE. v5 (transactions v2,
// KIP-890): the client skips AddOffsetsToTxn and this broker adds the
// group's __consumer_offsets partition to the transaction itself.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	var commits []coordinator.OffsetCommit
	for _, rt := range req.Topics {
		t, _ := b.store.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			oc := coordinator.OffsetCommit{Topic: rt.Topic, Partition: rp.Partition, Offset: rp.Offset, Epoch: rp.LeaderEpoch, Metadata: rp.Metadata}
			if !t.HasPartition(rp.Partition) {
				oc.Err = kerr.UnknownTopicOrPartition
			}
			if req.Version < 2 {
				oc.Epoch = -1
			}
			commits = append(commits, oc)
		}
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version < 3 {
		generation, memberID = -1, ""
	}
	reqErr := b.checkGroupOwner(req.Group)
	if reqErr == nil && req.Version >= 5 {
		own := b.groupOwnership(req.Group)
		reqErr = b.addToTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch,
			[]txn.TopicPartition{{Topic: offsetsTopic, Partition: own.Partition}}, false)
	}
	if reqErr == nil {
		reqErr = b.coord.TxnCommit(ctx, req.Group, req.ProducerID, memberID, req.InstanceID, generation, commits)
	}
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			err := reqErr
			if err == nil {
				err = commits[i].Err
			}
			if err != nil {
				sp.ErrorCode = fencedCode(err, req.Version >= 3)
			}
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// addToTxn adds partitions to a transaction on the producer's behalf
// (transactions v2), or with verifyOnly checks they are in it, through
// this broker's coordinator or the one that leads the id's shard.
func (b *Broker) addToTxn(ctx context.Context, id string, pid int64, epoch int16, parts []txn.TopicPartition, verifyOnly bool) *kerr.Error {
	coord := b.txnCoordinatorOf(id)
	switch coord {
	case -1:
		return kerr.CoordinatorNotAvailable
	case b.cfg.BrokerID:
		return b.txn.AddPartitions(ctx, id, pid, epoch, parts, verifyOnly)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = id, pid, epoch, verifyOnly
	for _, bt := range byTopic(parts) {
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = bt.name, bt.parts
		t.Topics = append(t.Topics, tt)
	}
	req.Transactions = append(req.Transactions, t)
	resp, err := b.peerRequest(ctx, coord, req)
	if err != nil {
		b.log.Debug().Err(err).Int32("coordinator", coord).Msg("cannot reach transaction coordinator")
		return kerr.CoordinatorNotAvailable
	}
	for _, rt := range resp.(*kmsg.AddPartitionsToTxnResponse).Transactions {
		for _, tt := range rt.Topics {
			for _, tp := range tt.Partitions {
				if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
					if ke, ok := err.(*kerr.Error); ok {
						return ke
					}
					return kerr.UnknownServerError
				}
			}
		}
	}
	if r := resp.(*kmsg.AddPartitionsToTxnResponse); r.ErrorCode != 0 {
		if ke, ok := kerr.ErrorForCode(r.ErrorCode).(*kerr.Error); ok {
			return ke
		}
	}
	return nil
}
