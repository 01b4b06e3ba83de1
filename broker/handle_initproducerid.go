package broker

// InitProducerID, versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id at
// epoch 0 on every call, as in Kafka: ids come from blocks reserved in the
// metadata store, so they are unique across brokers and restarts. v3+
// (KIP-360) lets a producer pass its current id and epoch to have the epoch
// bumped; for idempotent producers Kafka answers with a new id, and so does
// kafkad. v2+: flexible. Transactional ids are refused until transactions
// exist (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleInitProducerID(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = errorCode(errTransactionsUnsupported)
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
