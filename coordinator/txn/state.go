package txn

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// State is a transactional id's state, with Kafka's names (what
// ListTransactions and DescribeTransactions report).
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// ParseState reads a state name, case-insensitively as kafka-transactions
// filters are given.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, name) {
			return State(i), true
		}
	}
	return 0, false
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *State) UnmarshalText(b []byte) error {
	st, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("txn: unknown state %q", b)
	}
	*s = st
	return nil
}

func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }
func (s State) complete() bool  { return s == Empty || s == CompleteCommit || s == CompleteAbort }

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// Meta is a transactional id's stored state (Kafka's TransactionMetadata).
type Meta struct {
	ID         string `json:"id"`
	ProducerID int64  `json:"pid"`
	// PrevProducerID is the id before the last one was exhausted (-1): a
	// retried request of the old id is still recognized.
	PrevProducerID int64 `json:"prev_pid"`
	// NextProducerID is the id that replaces an exhausted one once the
	// transaction being ended completes (-1 otherwise).
	NextProducerID int64 `json:"next_pid"`
	Epoch          int16 `json:"epoch"`
	// LastEpoch is the epoch before the last bump (-1), so a retry of the
	// request that bumped it gets the same answer.
	LastEpoch  int16            `json:"last_epoch"`
	TimeoutMs  int32            `json:"timeout_ms"`
	State      State            `json:"state"`
	Partitions []TopicPartition `json:"partitions,omitempty"`
	StartMs    int64            `json:"start_ms"` // when the ongoing transaction began (-1)
	UpdateMs   int64            `json:"update_ms"`
}

func (m *Meta) clone() Meta {
	c := *m
	c.Partitions = slices.Clone(m.Partitions)
	return c
}

// has reports whether the transaction already holds p.
func (m *Meta) has(p TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(m.Partitions, p, compareTP)
	return ok
}

// add puts partitions into the transaction, kept sorted, and reports
// whether any was new.
func (m *Meta) add(ps []TopicPartition) bool {
	added := false
	for _, p := range ps {
		i, ok := slices.BinarySearchFunc(m.Partitions, p, compareTP)
		if !ok {
			m.Partitions = slices.Insert(m.Partitions, i, p)
			added = true
		}
	}
	return added
}

func encodeMeta(m *Meta) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("txn: encode %s: %v", m.ID, err)) // plain data: cannot fail
	}
	return b
}

func decodeMeta(id string, b []byte) (*Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("txn: malformed stored transaction %s: %w", id, err)
	}
	m.ID = id
	return &m, nil
}
