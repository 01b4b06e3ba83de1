package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// partition is one partition this broker hosts a replica of: its log, the
// state the metadata store gives it, the high watermark, and (while this
// broker leads it) what each follower has fetched.
//
// Lock order: partition.mu before the log's own lock (the log never calls
// back into the partition).
type partition struct {
	tp      storage.TopicPartition
	topicID [16]byte
	log     *storage.Log
	self    int32 // this broker's id
	// throttled holds whether the topic's throttled replicas lists name
	// this replica (throttle.go), set from the topic's configs.
	throttled atomic.Pointer[replicaThrottling]

	mu        sync.Mutex
	state     metastore.PartitionState
	minInsync int32
	// txnAdded is, per producer, the epoch at which the transaction
	// coordinator last confirmed adding this partition on the producer's
	// behalf (transactions v2). Only such a confirmation lets a later
	// batch skip the coordinator: an open transaction at the same epoch
	// may be the previous one, ended without an epoch bump (v1) and still
	// waiting for its marker.
	txnAdded map[int64]int16
	appended chan struct{} // closed and replaced after every append and high watermark move
	deleted  bool

	// hw is the high watermark: on the leader the smallest log end offset
	// in the ISR, on a follower the leader's as last fetched (capped by
	// its own log end).
	hw         int64
	followers  map[int32]*follower // leader only: every other replica
	isrWriting bool                // an ISR change is being written to the store
	// truncate is set when this replica becomes a follower: before its
	// first fetch it truncates to where its log and the leader's agree.
	truncate bool
}

// follower is the leader's view of one follower replica (Kafka's
// "replica state" kept by the leader).
type follower struct {
	leo           int64     // its log end offset: the offset of its last fetch
	caughtUpAt    time.Time // the last time it had everything the leader had
	lastFetchAt   time.Time
	lastFetchLeoL int64 // the leader's log end offset at its last fetch
}

// newFollower is a follower not heard from yet, counted as caught up now
// so that it is not dropped from the ISR before it had a chance to fetch.
func newFollower(now time.Time) *follower {
	return &follower{leo: -1, caughtUpAt: now, lastFetchAt: now}
}

func newPartition(tp storage.TopicPartition, topicID [16]byte, log *storage.Log, self int32) *partition {
	// The log cleaner stays below the high watermark, unknown until the
	// ISR or the leader says.
	log.SetHighWatermark(log.LogStartOffset())
	return &partition{tp: tp, topicID: topicID, log: log, self: self, appended: make(chan struct{}), hw: log.LogStartOffset()}
}

// waitAppend returns a channel closed by the next append or high
// watermark move.
func (p *partition) waitAppend() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appended
}

// notifyAppend wakes every fetch waiting on this partition.
func (p *partition) notifyAppend() {
	p.mu.Lock()
	p.wakeLocked()
	p.mu.Unlock()
}

func (p *partition) wakeLocked() {
	close(p.appended)
	p.appended = make(chan struct{})
}

func (p *partition) snapshot() (metastore.PartitionState, int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.minInsync
}

// setState applies the store's view of the partition. Becoming leader
// starts tracking the followers (as caught up now, so none is dropped
// from the ISR before it had a chance to fetch); becoming a follower asks
// for a truncation check before fetching.
func (p *partition) setState(st metastore.PartitionState, minInsync int32) (becameLeader, becameFollower bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.state
	p.state, p.minInsync = st, minInsync
	leaderChanged := was.Leader != st.Leader || was.LeaderEpoch != st.LeaderEpoch
	switch {
	case st.Leader == p.self && (leaderChanged || p.followers == nil):
		now := time.Now()
		p.followers = map[int32]*follower{}
		for _, r := range st.Replicas {
			if r != p.self {
				p.followers[r] = newFollower(now)
			}
		}
		p.hw = min(max(p.hw, p.log.LogStartOffset()), p.log.LogEndOffset())
		becameLeader = true
	case st.Leader == p.self:
		// Still leading: replicas a reassignment adds or removes.
		now := time.Now()
		for _, r := range st.Replicas {
			if _, ok := p.followers[r]; !ok && r != p.self {
				p.followers[r] = newFollower(now)
			}
		}
		for r := range p.followers {
			if !slices.Contains(st.Replicas, r) {
				delete(p.followers, r)
			}
		}
	case st.Leader != p.self && slices.Contains(st.Replicas, p.self) && (leaderChanged || p.followers != nil):
		p.followers = nil
		p.truncate = true
		becameFollower = true
	}
	p.advanceHWLocked()
	p.wakeLocked()
	return becameLeader, becameFollower
}

// addedToTxn records that the coordinator added this partition to pid's
// transaction at epoch.
func (p *partition) addedToTxn(pid int64, epoch int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.txnAdded == nil {
		p.txnAdded = map[int64]int16{}
	}
	p.txnAdded[pid] = epoch
}

// inTxn reports whether a batch of pid at epoch belongs to a transaction
// the coordinator added this partition to, still open here.
func (p *partition) inTxn(pid int64, epoch int16) bool {
	p.mu.Lock()
	added, ok := p.txnAdded[pid]
	p.mu.Unlock()
	return ok && added == epoch && p.log.HasOngoingTxn(pid, epoch)
}

// lastStableOffset is what read_committed consumers may read up to (see
// storage's Log.LastStableOffset).
func (p *partition) lastStableOffset() int64 {
	return p.log.LastStableOffset(p.highWatermark())
}

// highWatermark is what consumers may read up to.
func (p *partition) highWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwLocked()
}

func (p *partition) hwLocked() int64 {
	if p.state.Leader == p.self && len(p.state.ISR) <= 1 {
		// The leader is the whole ISR: everything it has is committed.
		return p.log.LogEndOffset()
	}
	return max(p.hw, p.log.LogStartOffset())
}

// advanceHWLocked moves the leader's high watermark to the smallest log
// end offset in the ISR, and wakes waiters when it moves.
func (p *partition) advanceHWLocked() {
	if p.state.Leader != p.self {
		return
	}
	hw := p.log.LogEndOffset()
	for _, r := range p.state.ISR {
		if r == p.self {
			continue
		}
		f := p.followers[r]
		if f == nil || f.leo < 0 {
			return // not heard from since this broker became leader
		}
		hw = min(hw, f.leo)
	}
	if hw > p.hw {
		p.hw = hw
		p.log.LastStableOffset(hw) // forgets transactions the high watermark passed
		p.wakeLocked()
	}
	p.log.SetHighWatermark(p.hw)
}

// appendedLocal is called after the leader's own append.
func (p *partition) appendedLocal() {
	p.mu.Lock()
	p.advanceHWLocked()
	p.wakeLocked()
	p.mu.Unlock()
}

// isrChange is an ISR move the leader decided: from the state it was
// computed on (the compare-and-swap's expectation) to the next one.
type isrChange struct {
	from, to metastore.PartitionState
}

func (p *partition) isrChangeLocked(isr []int32) *isrChange {
	p.isrWriting = true
	next := p.state
	next.ISR = isr
	return &isrChange{from: p.state, to: next}
}

// followerFetched records a follower's fetch at offset (its log end) and
// returns the ISR change to make (nil: none) when the follower caught up
// enough to join the ISR.
func (p *partition) followerFetched(replica int32, offset int64, now time.Time) *isrChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.followers[replica]
	if f == nil || p.state.Leader != p.self {
		return nil
	}
	leo := p.log.LogEndOffset()
	switch {
	case offset >= leo:
		f.caughtUpAt = now
	case offset >= f.lastFetchLeoL:
		f.caughtUpAt = f.lastFetchAt
	}
	f.leo, f.lastFetchAt, f.lastFetchLeoL = offset, now, leo
	p.advanceHWLocked()
	if !slices.Contains(p.state.ISR, replica) && !p.isrWriting && offset >= p.hwLocked() {
		return p.isrChangeLocked(append(slices.Clone(p.state.ISR), replica))
	}
	return nil
}

// laggingISR returns the change that drops the followers that have not
// caught up for longer than lag (nil: none).
func (p *partition) laggingISR(now time.Time, lag time.Duration) *isrChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader != p.self || p.isrWriting {
		return nil
	}
	next := slices.DeleteFunc(slices.Clone(p.state.ISR), func(r int32) bool {
		f := p.followers[r]
		return r != p.self && f != nil && now.Sub(f.caughtUpAt) > lag
	})
	if len(next) == len(p.state.ISR) {
		return nil
	}
	return p.isrChangeLocked(next)
}

// isrWritten ends an ISR write.
func (p *partition) isrWritten() {
	p.mu.Lock()
	p.isrWriting = false
	p.mu.Unlock()
}

func (p *partition) needsTruncation() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.truncate
}

func (p *partition) markTruncation() {
	p.mu.Lock()
	p.truncate = true
	p.mu.Unlock()
}

func (p *partition) truncated() {
	p.mu.Lock()
	p.truncate = false
	p.mu.Unlock()
}

// followerHW sets a follower's high watermark from the leader's answer.
func (p *partition) followerHW(leaderHW int64) {
	p.mu.Lock()
	hw := min(leaderHW, p.log.LogEndOffset())
	if hw > p.hw {
		p.hw = hw
		p.log.LastStableOffset(hw) // forgets transactions the high watermark passed
		p.log.SetHighWatermark(hw)
	}
	p.mu.Unlock()
}

// waitCommitted waits until offset is below the high watermark (acks=-1):
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrinks below
// min.insync.replicas meanwhile, REQUEST_TIMED_OUT at the deadline.
func (p *partition) waitCommitted(ctx context.Context, offset int64, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		p.mu.Lock()
		hw, st, minIsr, ch, deleted := p.hwLocked(), p.state, p.minInsync, p.appended, p.deleted
		p.mu.Unlock()
		switch {
		case deleted:
			return fmt.Errorf("%w: %s-%d was deleted", errUnknownTopicOrPartition, p.tp.Topic, p.tp.Partition)
		case st.Leader != p.self:
			return fmt.Errorf("%w: %s-%d is now led by %d", errNotLeader, p.tp.Topic, p.tp.Partition, st.Leader)
		case hw >= offset && int32(len(st.ISR)) < minIsr:
			// Committed by a smaller ISR than the topic demands (Kafka's
			// rule: the check is made when the batch is committed).
			return fmt.Errorf("%w: %s-%d has %d in sync, min.insync.replicas is %d", errNotEnoughReplicasAfterAppend, p.tp.Topic, p.tp.Partition, len(st.ISR), minIsr)
		case hw >= offset:
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return fmt.Errorf("%w: %s-%d: not replicated to the ISR in time", errRequestTimedOut, p.tp.Topic, p.tp.Partition)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

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
