package txn

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Listed is one transactional id as ListTransactions shows it.
type Listed struct {
	ID         string
	ProducerID int64
	State      State
}

// List returns the transactional ids of the shards this broker leads,
// filtered as ListTransactions filters: by state names and producer ids
// (empty: all), and to transactions open longer than minDurationMs
// (negative: all).
func (c *Coordinator) List(states []string, pids []int64, minDurationMs int64) []Listed {
	now := c.now().UnixMilli()
	var out []Listed
	for _, e := range c.entries() {
		e.mu.Lock()
		m := e.meta
		if m != nil && m.State != Dead && c.owned(e.sh) &&
			(len(states) == 0 || slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, m.State.String()) })) &&
			(len(pids) == 0 || slices.Contains(pids, m.ProducerID)) &&
			(minDurationMs < 0 || (m.State == Ongoing && now-m.StartMs >= minDurationMs)) {
			out = append(out, Listed{ID: m.ID, ProducerID: m.ProducerID, State: m.State})
		}
		e.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Listed) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Describe returns a copy of id's state (DescribeTransactions).
func (c *Coordinator) Describe(id string) (Meta, *kerr.Error) {
	e, err := c.lookup(id, false)
	if err != nil {
		return Meta{}, err
	}
	if e == nil {
		return Meta{}, kerr.TransactionalIDNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta == nil || e.meta.State == Dead {
		return Meta{}, kerr.TransactionalIDNotFound
	}
	return e.meta.clone(), nil
}
