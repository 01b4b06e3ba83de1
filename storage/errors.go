package storage

import "errors"

// Sentinels the broker maps to Kafka error codes; match with errors.Is.
var (
	// ErrCorruptMessage: bad CRC, bad lengths, truncated batch, record
	// framing that does not add up (CORRUPT_MESSAGE).
	ErrCorruptMessage = errors.New("storage: corrupt message")
	// ErrUnsupportedMagic: a magic 0 or 1 batch (UNSUPPORTED_FOR_MESSAGE_FORMAT).
	ErrUnsupportedMagic = errors.New("storage: unsupported message format magic")
	// ErrMessageTooLarge: one batch exceeds max.message.bytes (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("storage: message too large")
	// ErrOffsetOutOfRange: offset outside [log start, log end] (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrOutOfOrderSequence: idempotent sequence gap (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidProducerEpoch: a fenced, older producer epoch (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrInvalidRecord: well-formed bytes breaking a rule, such as mixed
	// producer ids in one append or inconsistent offset deltas (INVALID_RECORD).
	ErrInvalidRecord = errors.New("storage: invalid record")
	// ErrInvalidTxnState: a non-transactional batch from a producer whose
	// transaction is open (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("storage: invalid transaction state")
	// ErrTransactionCoordinatorFenced: a marker from a coordinator older
	// than one already seen for the producer (TRANSACTION_COORDINATOR_FENCED).
	ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")
	// ErrClosed: the log or manager was closed.
	ErrClosed = errors.New("storage: closed")
	// ErrInconsistentTopicID: a partition directory holds another topic id
	// than the caller expects (INCONSISTENT_TOPIC_ID).
	ErrInconsistentTopicID = errors.New("storage: inconsistent topic id")
)
