package broker

// EndTxn, versions 0-5.
//
// Commits or aborts the producer's transaction: answered once
// PrepareCommit or PrepareAbort is stored, the markers follow
// (coordinator/txn). v2+: PRODUCER_FENCED. v3+: flexible. v4:
// TRANSACTION_ABORTABLE. v5 (KIP-890 part 2, transactions v2): the epoch
// is bumped at every end and the answer carries the producer id and epoch
// to use next.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleEndTxn(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.EndTxnRequest)
	resp := kmsg.NewPtrEndTxnResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	pid, epoch, err := b.txn.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 5)
	if err != nil {
		b.log.Debug().Str("transactional_id", req.TransactionalID).Int64("producer_id", req.ProducerID).Int16("epoch", req.ProducerEpoch).
			Bool("commit", req.Commit).Str("error", err.Message).Msg("EndTxn refused")
		resp.ErrorCode = fencedCode(err, req.Version >= 2)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return resp
}
