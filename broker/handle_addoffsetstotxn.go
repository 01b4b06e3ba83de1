package broker

// AddOffsetsToTxn, versions 0-4.
//
// Adds the group's partition of __consumer_offsets to the transaction, so
// the transaction's end also decides the offsets TxnOffsetCommit stores
// for it (KIP-98). v2+: PRODUCER_FENCED. v3+: flexible. v4:
// TRANSACTION_ABORTABLE. Under transactions v2 clients skip it and
// TxnOffsetCommit v5+ adds the partition itself.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleAddOffsetsToTxn(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	if kerrr := b.ensureOffsetsTopic(); kerrr != nil {
		resp.ErrorCode = kerrr.Code
		return resp
	}
	if err := b.txn.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); err != nil {
		resp.ErrorCode = fencedCode(err, req.Version >= 2)
	}
	return resp
}
