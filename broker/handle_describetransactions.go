package broker

// DescribeTransactions, version 0 (KIP-664).
//
// The state of transactional ids this broker coordinates: state, timeout,
// start time of the open transaction, producer id and epoch, and the
// partitions in the transaction. Ids coordinated elsewhere get
// NOT_COORDINATOR, unknown ones TRANSACTIONAL_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeTransactions(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = id
		m, err := b.txn.Describe(id)
		if err != nil {
			ts.ErrorCode = err.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis, ts.StartTimestamp = m.State.String(), m.TimeoutMs, m.StartMs
		ts.ProducerID, ts.ProducerEpoch = m.ProducerID, m.Epoch
		for _, p := range m.Partitions {
			if n := len(ts.Topics); n == 0 || ts.Topics[n-1].Topic != p.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = p.Topic
				ts.Topics = append(ts.Topics, t)
			}
			t := &ts.Topics[len(ts.Topics)-1]
			t.Partitions = append(t.Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
