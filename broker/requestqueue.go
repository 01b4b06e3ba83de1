package broker

// queued.max.requests: Kafka's request channel holds at most that many
// requests read from the network and not yet taken by a handler; when it
// is full the network threads stop reading. kafkad's equivalent is a
// broker-wide semaphore a connection's reader takes before it hands a
// decoded request to its handler and gives back when the handler
// returns. A handler that parks its request (a long-polling fetch, a
// JoinGroup waiting for the rebalance) returns first, so parked requests
// hold no slot and cannot starve the requests that would release them.

import (
	"context"
	"sync/atomic"
	"time"
)

type requestQueue struct {
	slots chan struct{}
}

func newRequestQueue(n int32) *requestQueue {
	return &requestQueue{slots: make(chan struct{}, max(n, 1))}
}

// acquire waits for a slot; false when ctx ends first.
func (q *requestQueue) acquire(ctx context.Context) bool {
	select {
	case q.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case q.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (q *requestQueue) release() { <-q.slots }

// idleTracker closes a connection that has had no request and no pending
// answer for connections.max.idle.ms, like Kafka's Selector idle expiry.
// It runs on a timer, not in the read path: the reader and the writer
// only stamp the time and count pending answers.
type idleTracker struct {
	last    atomic.Int64 // unix nanoseconds of the last request or answer
	pending atomic.Int32 // requests read and not yet answered
	stopped atomic.Bool
	timer   *time.Timer
}

// start arms the tracker; onIdle runs once when the connection has been
// idle for d. d <= 0 disables it.
func (t *idleTracker) start(d time.Duration, onIdle func()) {
	t.touch()
	if d <= 0 {
		return
	}
	var check func()
	check = func() {
		if t.stopped.Load() {
			return
		}
		idle := time.Duration(time.Now().UnixNano() - t.last.Load())
		if t.pending.Load() == 0 && idle >= d {
			onIdle()
			return
		}
		t.timer.Reset(max(d-idle, time.Millisecond))
	}
	// Armed only once t.timer is set, so check never sees it nil.
	t.timer = time.AfterFunc(time.Hour, check)
	t.timer.Reset(d)
}

func (t *idleTracker) stop() {
	t.stopped.Store(true)
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *idleTracker) touch() { t.last.Store(time.Now().UnixNano()) }
