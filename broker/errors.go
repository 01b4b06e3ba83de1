package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/storage"
)

// Broker-level failures; all end up as wire codes through errorCode.
var (
	errUnknownTopicOrPartition = errors.New("broker: unknown topic or partition")
	errUnknownTopicID          = errors.New("broker: unknown topic id")
	errNotLeader               = errors.New("broker: not the leader for this partition")
	errTopicDeletionDisabled   = errors.New("broker: topic deletion is disabled (delete.topic.enable=false)")
	errInvalidRequest          = errors.New("broker: invalid request")
	errInvalidRequiredAcks     = errors.New("broker: acks must be -1, 0 or 1")
	errNotEnoughReplicas       = errors.New("broker: not enough in-sync replicas")
	// errNotEnoughReplicasAfterAppend: the batch is in the leader's log but
	// the ISR shrank below min.insync.replicas before it was replicated.
	errNotEnoughReplicasAfterAppend = errors.New("broker: not enough in-sync replicas after append")
	errRequestTimedOut              = errors.New("broker: request timed out")
	errFencedLeaderEpoch            = errors.New("broker: leader epoch older than the current one")
	errUnknownLeaderEpoch           = errors.New("broker: leader epoch newer than the current one")
	errUnsupportedVersion           = errors.New("broker: unsupported version")
)

// errorTable maps internal errors to Kafka wire errors, first match wins.
// It is the one place where that mapping lives.
var errorTable = []struct {
	err  error
	wire *kerr.Error
}{
	{errUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{metastore.ErrTopicNotFound, kerr.UnknownTopicOrPartition},
	{errUnknownTopicID, kerr.UnknownTopicID},
	{errNotLeader, kerr.NotLeaderForPartition},
	{errTopicDeletionDisabled, kerr.TopicDeletionDisabled},
	{errInvalidRequest, kerr.InvalidRequest},
	{errInvalidRequiredAcks, kerr.InvalidRequiredAcks},
	{errNotEnoughReplicas, kerr.NotEnoughReplicas},
	{errNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{errRequestTimedOut, kerr.RequestTimedOut},
	{errNoReassignment, kerr.NoReassignmentInProgress},
	{metastore.ErrConflict, kerr.NotController}, // decided on a stale state: retry
	{errFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{errUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{errUnsupportedVersion, kerr.UnsupportedVersion},
	{txn.ErrPartitionGone, kerr.UnknownTopicOrPartition},
	{storage.ErrInvalidTxnState, kerr.InvalidTxnState},
	{storage.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{errInvalidConfig, kerr.InvalidConfig},
	{metastore.ErrTopicExists, kerr.TopicAlreadyExists},
	{metastore.ErrInvalidTopic, kerr.InvalidTopicException},
	{controller.ErrInvalidPartitions, kerr.InvalidPartitions},
	{controller.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{controller.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{storage.ErrCorruptMessage, kerr.CorruptMessage},
	{storage.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{storage.ErrMessageTooLarge, kerr.MessageTooLarge},
	{storage.ErrRecordListTooLarge, kerr.RecordListTooLarge},
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{storage.ErrInvalidRecord, kerr.InvalidRecord},
	{storage.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{storage.ErrClosed, kerr.NotLeaderForPartition},
	{storage.ErrLogDirNotFound, kerr.LogDirNotFound},
	{storage.ErrReplicaNotAvailable, kerr.ReplicaNotAvailable},
}

// errorCode returns the Kafka error code for err (0 for nil). Anything not
// in the table is UNKNOWN_SERVER_ERROR; callers log those.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.wire.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the text for responses that carry one (nil for success).
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
