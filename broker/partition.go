package broker

import (
	"fmt"
	"sync"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// partition is one partition this broker hosts a replica of: its log, the
// state the metadata store gives it, and the wake-up channel for fetches
// waiting on new data.
type partition struct {
	tp      storage.TopicPartition
	topicID [16]byte
	log     *storage.Log

	mu        sync.Mutex
	state     metastore.PartitionState
	minInsync int32
	appended  chan struct{} // closed and replaced after every append
	deleted   bool
}

func newPartition(tp storage.TopicPartition, topicID [16]byte, log *storage.Log) *partition {
	return &partition{tp: tp, topicID: topicID, log: log, appended: make(chan struct{})}
}

// waitAppend returns a channel closed by the next append.
func (p *partition) waitAppend() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appended
}

// notifyAppend wakes every fetch waiting on this partition.
func (p *partition) notifyAppend() {
	p.mu.Lock()
	close(p.appended)
	p.appended = make(chan struct{})
	p.mu.Unlock()
}

func (p *partition) snapshot() (metastore.PartitionState, int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.minInsync
}

// highWatermark is what consumers may read up to. With every replica in
// sync on this broker alone it is the log end; replication will make it
// the smallest log end in the ISR.
func (p *partition) highWatermark() int64 { return p.log.LogEndOffset() }

// checkLeaderEpoch applies KIP-320's fencing to a client's view of the
// leader epoch (-1: the client does not know it).
func checkLeaderEpoch(current, client int32) error {
	switch {
	case client < 0 || client == current:
		return nil
	case client < current:
		return fmt.Errorf("%w: %d < %d", errFencedLeaderEpoch, client, current)
	default:
		return fmt.Errorf("%w: %d > %d", errUnknownLeaderEpoch, client, current)
	}
}
