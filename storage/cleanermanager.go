package storage

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkad/kafkad/internal/safe"
)

// cleanerState is the manager's side of the log cleaner: which logs are
// being cleaned or failed, and the signals that wake the cleaner.
// Lock order: mu before Manager.mu and any Log lock.
type cleanerState struct {
	mu          sync.Mutex
	inProgress  map[*Log]bool
	uncleanable map[*Log]bool
	wake        chan struct{} // closed and replaced by CleanNow
	changed     chan struct{} // closed and replaced by SetCleanerConfig
	threads     atomic.Int32  // cleaner threads running

	throttler throttler
}

// signal returns the channel to wait on for ch (creating it), and with
// fire=true closes it first so current waiters wake.
func (c *cleanerState) signal(ch *chan struct{}, fire bool) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fire && *ch != nil {
		close(*ch)
		*ch = nil
	}
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// CleanNow wakes the cleaner threads for a pass over the logs at once,
// instead of after log.cleaner.backoff.ms.
func (m *Manager) CleanNow() { m.cleaner.signal(&m.cleaner.wake, true) }

// RunCleaner runs the log cleaner until ctx is done: a supervisor keeping
// log.cleaner.threads cleaner threads (none while log.cleaner.enable is
// false), resized when SetCleanerConfig changes the count. Each thread
// picks the dirtiest compacted log (Kafka's grabFilthiestCompactedLog),
// cleans it, and sleeps log.cleaner.backoff.ms when none qualifies.
// Logs whose cleanup.policy has delete as well are also trimmed by Run's
// retention. The caller owns the goroutine; RunCleaner returns once every
// thread stopped.
func (m *Manager) RunCleaner(ctx context.Context) {
	var wg sync.WaitGroup
	var workers []context.CancelFunc
	defer func() {
		for _, cancel := range workers {
			cancel()
		}
		wg.Wait()
		m.cleaner.threads.Store(0)
	}()
	for {
		changed := m.cleaner.signal(&m.cleaner.changed, false)
		cfg := m.CleanerConfig()
		want := 0
		if cfg.Enable {
			want = max(cfg.Threads, 0)
		}
		if want != len(workers) {
			m.logger.Info().Int("threads", want).Int("previous_threads", len(workers)).Msg("log cleaner threads")
		}
		for len(workers) < want {
			wctx, cancel := context.WithCancel(ctx)
			workers = append(workers, cancel)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A panic cleaning one partition restarts the thread after
				// a second rather than stopping log compaction for good.
				for safe.Run(m.logger, "log cleaner thread", func() { m.cleanerThread(wctx) }) {
					select {
					case <-wctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
			}()
		}
		for len(workers) > want {
			workers[len(workers)-1]()
			workers = workers[:len(workers)-1]
		}
		m.cleaner.threads.Store(int32(len(workers)))
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (m *Manager) cleanerThread(ctx context.Context) {
	offsets := newOffsetMap()
	for ctx.Err() == nil {
		wake := m.cleaner.signal(&m.cleaner.wake, false)
		changed := m.cleaner.signal(&m.cleaner.changed, false)
		if m.cleanFilthiest(ctx, time.Now(), offsets) {
			continue
		}
		backoff := time.Duration(max(m.CleanerConfig().BackoffMs, 1)) * time.Millisecond
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-changed: // a new log.cleaner.backoff.ms applies now
		case <-t.C:
		}
		t.Stop()
	}
}

// cleanFilthiest cleans the compacted log with the largest dirty ratio
// above its min.cleanable.dirty.ratio (or any cleanable bytes once
// max.compaction.lag.ms passed); false when no log qualifies.
func (m *Manager) cleanFilthiest(ctx context.Context, now time.Time, offsets *offsetMap) bool {
	cfg := m.CleanerConfig()
	var best *Log
	var bestTP TopicPartition
	bestRatio := -1.0
	m.cleaner.mu.Lock()
	m.forEach(func(tp TopicPartition, l *Log) {
		lc := l.cfg.Load().eff
		if !lc.Compact || m.cleaner.inProgress[l] || m.cleaner.uncleanable[l] {
			return
		}
		c, err := l.cleanableInfo(now)
		if err != nil || c.cleanBytes+c.cleanableBytes == 0 {
			return
		}
		ratio := c.ratio()
		if !(c.needNow && c.cleanableBytes > 0) && !(ratio > lc.MinCleanableDirtyRatio) {
			return
		}
		if ratio > bestRatio {
			best, bestTP, bestRatio = l, tp, ratio
		}
	})
	if best != nil {
		if m.cleaner.inProgress == nil {
			m.cleaner.inProgress = map[*Log]bool{}
		}
		m.cleaner.inProgress[best] = true
	}
	m.cleaner.mu.Unlock()
	if best == nil {
		return false
	}
	defer func() {
		m.cleaner.mu.Lock()
		delete(m.cleaner.inProgress, best)
		m.cleaner.mu.Unlock()
	}()
	threads := int64(max(cfg.Threads, 1))
	_, err := best.Clean(now, CleanOptions{
		DedupeBufferSize: cfg.DedupeBufferSize / threads,
		LoadFactor:       cfg.IOBufferLoadFactor,
		IOBufferSize:     int(int64(cfg.IOBufferSize) / threads / 2),
		ctx:              ctx,
		offsets:          offsets,
		throttle: func(ctx context.Context, n int) error {
			return m.cleaner.throttler.throttle(ctx, m.CleanerConfig().IOMaxBytesPerSecond, n)
		},
	})
	switch {
	case err == nil, errors.Is(err, errCleaningAborted), errors.Is(err, ErrClosed), ctx.Err() != nil, best.closed.Load():
	default:
		// Kafka marks the partition uncleanable until restart.
		m.logger.Warn().Err(err).Str("topic", bestTP.Topic).Int32("partition", bestTP.Partition).Msg("log cleaning failed, marking the partition uncleanable")
		m.cleaner.mu.Lock()
		if m.cleaner.uncleanable == nil {
			m.cleaner.uncleanable = map[*Log]bool{}
		}
		m.cleaner.uncleanable[best] = true
		m.cleaner.mu.Unlock()
	}
	return true
}

// throttler is Kafka's Throttler for log.cleaner.io.max.bytes.per.second,
// shared by all cleaner threads: over each check interval it compares
// the bytes seen with the rate and sleeps off the excess. The rate is
// passed at each call, so a changed setting applies at once.
type throttler struct {
	mu          sync.Mutex
	periodStart time.Time
	observed    float64
}

const throttleCheckInterval = 300 * time.Millisecond

func (t *throttler) throttle(ctx context.Context, rate float64, n int) error {
	if err := ctx.Err(); err != nil {
		return errors.Join(errCleaningAborted, err)
	}
	if rate <= 0 || rate >= math.MaxFloat64/2 || math.IsInf(rate, 1) || math.IsNaN(rate) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.periodStart.IsZero() {
		t.periodStart = now
	}
	t.observed += float64(n)
	elapsed := now.Sub(t.periodStart)
	if elapsed < throttleCheckInterval {
		return nil
	}
	want := time.Duration(t.observed / rate * float64(time.Second))
	if sleep := want - elapsed; sleep > 0 {
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(errCleaningAborted, ctx.Err())
		case <-timer.C:
		}
	}
	t.periodStart, t.observed = time.Now(), 0
	return nil
}
