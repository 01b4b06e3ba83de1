package broker

// Limits that keep one request from costing the broker without bound.
//
// Kafka's controller builds every metadata change of one user operation
// in a list bounded at 10,000 records (QuorumController's
// MAX_RECORDS_PER_USER_OP) and refuses an operation that would overflow
// it with POLICY_VIOLATION, for the whole request. A CreateTopics asking
// for 2^31-1 partitions is refused that way before any replica is placed.

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// maxRecordsPerUserOp is Kafka's bound on the metadata records of one
// request: a topic costs one record, each partition one, each config one.
const maxRecordsPerUserOp = 10000

// errExcessiveBatch is Kafka's answer to a request over that bound.
var errExcessiveBatch error = &kafkaError{kerr.PolicyViolation, "Unable to perform excessively large batch operation."}

// recordBudget counts the records a request would write; it saturates
// instead of overflowing.
type recordBudget struct{ n int64 }

// add charges n records and reports whether the request is still within
// the bound.
func (rb *recordBudget) add(n int64) bool {
	if n > 0 {
		rb.n += min(n, maxRecordsPerUserOp+1)
	}
	return rb.n <= maxRecordsPerUserOp
}
