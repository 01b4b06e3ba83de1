package broker

// ListTransactions, versions 0-2 (KIP-664).
//
// The transactional ids this broker coordinates (admin clients ask every
// broker), filtered by state names, producer ids, v1+ by how long the
// transaction has been open (KIP-994), v2+ by a regular expression on the
// id (KIP-1152). Unknown state names are echoed in UnknownStateFilters.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleListTransactions(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	resp := kmsg.NewPtrListTransactionsResponse()
	var states []string
	for _, s := range req.StateFilters {
		if _, ok := txn.ParseState(s); ok {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp // only unknown states: nothing can match
	}
	var pattern *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}
	for _, l := range b.txn.List(states, req.ProducerIDFilters, duration) {
		if pattern != nil && !pattern.MatchString(l.ID) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = l.ID, l.ProducerID, l.State.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
