package broker

// InitProducerID, versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id at
// epoch 0 on every call, as in Kafka: ids come from blocks reserved in the
// metadata store, so they are unique across brokers and restarts. v3+
// (KIP-360) lets a producer pass its current id and epoch to have the epoch
// bumped; for idempotent producers Kafka answers with a new id, and so does
// kafkad. v2+: flexible. v4+: PRODUCER_FENCED (older versions get
// INVALID_PRODUCER_EPOCH instead).
//
// A transactional id goes to the transaction coordinator (coordinator/txn):
// this broker must lead the id's shard of __transaction_state
// (NOT_COORDINATOR otherwise). The timeout is checked against
// transaction.max.timeout.ms; an open transaction of a previous instance
// is aborted (CONCURRENT_TRANSACTIONS until that is done).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleInitProducerID(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		pid, epoch, err := b.txn.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
		if err != nil {
			resp.ErrorCode = fencedCode(err, req.Version >= 4)
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp
	}
	id, err := b.pids.allocate(ctx)
	if err != nil {
		b.log.Error().Err(err).Msg("cannot allocate producer id")
		resp.ErrorCode = errorCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// fencedCode is err's code for a request version that may or may not
// know PRODUCER_FENCED (KIP-588); older versions get INVALID_PRODUCER_EPOCH.
func fencedCode(err *kerr.Error, knowsFenced bool) int16 {
	if err == kerr.ProducerFenced && !knowsFenced {
		return kerr.InvalidProducerEpoch.Code
	}
	return err.Code
}
