package storage

import (
	"errors"
	"fmt"
)

// Sentinels the broker maps to Kafka error codes; match with errors.Is.
var (
	// ErrCorruptMessage: bad CRC, bad lengths, truncated batch, record
	// framing that does not add up (CORRUPT_MESSAGE).
	ErrCorruptMessage = errors.New("storage: corrupt message")
	// ErrUnsupportedMagic: a magic 0 or 1 batch (UNSUPPORTED_FOR_MESSAGE_FORMAT).
	ErrUnsupportedMagic = errors.New("storage: unsupported message format magic")
	// ErrMessageTooLarge: one batch exceeds max.message.bytes (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("storage: message too large")
	// ErrRecordListTooLarge: the batches of one append exceed
	// segment.bytes, so no segment could hold them (RECORD_LIST_TOO_LARGE).
	ErrRecordListTooLarge = errors.New("storage: record list too large")
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

// ErrInvalidTimestamp: a CreateTime record timestamp outside
// message.timestamp.before.max.ms / message.timestamp.after.max.ms of the
// leader's clock (INVALID_TIMESTAMP).
var ErrInvalidTimestamp = errors.New("storage: invalid timestamp")

// RecordError is one record refused in a batch, as Kafka's produce
// response lists it (KIP-467).
type RecordError struct {
	Index   int32 // the record's position in its batch
	Message string
}

// RecordsRefusedError is a batch refused for records breaking a rule of
// the log (a record without a key in a compacted topic, a timestamp out
// of range). It unwraps to ErrInvalidTimestamp when any record's
// timestamp was refused, else to ErrInvalidRecord, as Kafka answers.
type RecordsRefusedError struct {
	Err     error
	Records []RecordError
}

func (e *RecordsRefusedError) Error() string {
	if e.Err == ErrInvalidTimestamp {
		return "storage: one or more records have been rejected due to invalid timestamp"
	}
	n := min(len(e.Records), 3)
	return fmt.Sprintf("storage: one or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: %v",
		len(e.Records), e.Records[:n])
}

func (e *RecordsRefusedError) Unwrap() error { return e.Err }

// add records one refused record, creating e on the first.
func (e *RecordsRefusedError) add(err error, index int32, msg string) *RecordsRefusedError {
	if e == nil {
		e = &RecordsRefusedError{Err: err}
	}
	if err == ErrInvalidTimestamp {
		e.Err = err
	}
	e.Records = append(e.Records, RecordError{Index: index, Message: msg})
	return e
}

func (r RecordError) String() string {
	return fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", r.Index, r.Message)
}
