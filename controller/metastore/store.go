package metastore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// cacheWait bounds how long a write waits for the cache to apply it.
	cacheWait = 10 * time.Second
	// progressInterval is how often a waiting write asks the watch for a
	// progress notification, for writes that produce no event under the
	// prefix.
	progressInterval = 100 * time.Millisecond
	// opTimeout bounds every etcd call the store makes for a caller, so
	// that an unreachable etcd turns into an error rather than a hang.
	opTimeout = 15 * time.Second
	// Backoff between attempts to re-establish a failed watch.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Store is the typed metadata store: a cache of the etcd keys under one
// prefix kept current by a watch, and the writes that change them. It is
// safe for concurrent use.
//
// Lock order: Store.mu before subscriber.mu.
type Store struct {
	client *clientv3.Client
	keys   keys
	log    zerolog.Logger

	mu        sync.RWMutex
	cache     *cache
	rev       int64         // every event up to rev has been applied
	revCh     chan struct{} // closed, and replaced, whenever rev advances
	subs      map[*subscriber]struct{}
	cfgSubs   map[chan struct{}]struct{}   // SubscribeBrokerConfigs
	ctrls     map[*Controllership]struct{} // won here, not yet ended
	started   bool
	closed    bool
	clusterID string

	// watchCtx carries the metadata of the watch stream; progress
	// requests must use it to reach that stream.
	watchCtx context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a store for the keys under prefix (DefaultPrefix if empty;
// a trailing '/' is added if missing). Call Start before using it.
func New(client *clientv3.Client, prefix string, logger zerolog.Logger) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	log := logger.With().Str("component", "metastore").Logger()
	k := keys{prefix: prefix}
	return &Store{
		client:  client,
		keys:    k,
		log:     log,
		cache:   newCache(k, log),
		revCh:   make(chan struct{}),
		subs:    map[*subscriber]struct{}{},
		cfgSubs: map[chan struct{}]struct{}{},
		ctrls:   map[*Controllership]struct{}{},
	}
}

// Start loads every topic and broker into the cache and starts the watch
// that keeps it current. ctx bounds the initial load only.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: Start called twice or after Close", ErrNotRunning)
	}
	s.started = true
	s.mu.Unlock()

	if err := s.load(ctx); err != nil {
		s.mu.Lock()
		s.started = false
		s.mu.Unlock()
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.closed { // Close ran during the load
		s.mu.Unlock()
		cancel()
		return ErrNotRunning
	}
	s.watchCtx = clientv3.WithRequireLeader(runCtx)
	s.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch()
	}()
	s.log.Info().Str("prefix", s.keys.prefix).Int("topics", len(s.Topics())).Msg("metadata store started")
	return nil
}

// Close stops the watch and every subscription and waits for their
// goroutines. Writes waiting for the cache fail with ErrNotRunning.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for sub := range s.subs {
		sub.stopOnce.Do(func() { close(sub.stop) })
	}
	clear(s.subs)
	// Without the watch nothing would notice the controller key go.
	for c := range s.ctrls {
		c.markLost("metadata store closed")
	}
	clear(s.ctrls)
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	close(s.revCh) // wakes waiting writers, which then see closed
	s.mu.Unlock()
}

// load reads every key under the prefix and replaces the cache with them,
// telling subscribers about every topic that may differ.
func (s *Store) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Get(ctx, s.keys.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("metastore: load %s: %w", s.keys.prefix, err)
	}
	fresh := newCache(s.keys, s.log)
	t := touched{}
	for _, kv := range resp.Kvs {
		fresh.apply(kv, false, t)
	}
	for name := range t {
		fresh.rebuild(name)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	changed := touched{}
	for name, old := range s.cache.topics {
		now, ok := fresh.topics[name]
		changed.add(name, !ok || now.ID != old.ID)
	}
	for name := range fresh.topics {
		changed.add(name, false)
	}
	s.cache = fresh
	s.advance(resp.Header.Revision)
	s.notify(changed)
	s.notifyBrokerConfigs(true)
	s.fenceControllerships()
	return nil
}

// watch keeps the cache current until Close. A watch that ends (no leader,
// connection trouble) is resumed from the last applied revision; one whose
// revision was compacted away forces a full reload.
func (s *Store) watch() {
	backoff := minBackoff
	reload := false
	for {
		if reload {
			if err := s.load(s.watchCtx); err != nil {
				if !s.sleep(&backoff, err, "cannot reload metadata after compaction") {
					return
				}
				continue
			}
			reload = false
		}
		progressed, err := s.watchOnce()
		if progressed {
			backoff = minBackoff
		}
		if errors.Is(err, errCompacted) {
			reload = true
		}
		if !s.sleep(&backoff, err, "etcd watch ended; resuming") {
			return
		}
	}
}

// sleep waits out the backoff, doubling it for next time; false means the
// store is closing.
func (s *Store) sleep(backoff *time.Duration, err error, msg string) bool {
	if s.watchCtx.Err() != nil {
		return false
	}
	s.log.Warn().Err(err).Dur("retry_in", *backoff).Msg(msg)
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(2**backoff, maxBackoff)
	select {
	case <-t.C:
		return true
	case <-s.watchCtx.Done():
		return false
	}
}

// errCompacted marks a watch that must reload; it never leaves the package.
var errCompacted = errors.New("metastore: watch revision compacted")

// watchOnce runs one watch until it ends; progressed tells whether it
// delivered anything, which resets the backoff.
func (s *Store) watchOnce() (progressed bool, err error) {
	ctx, cancel := context.WithCancel(s.watchCtx)
	defer cancel()
	s.mu.RLock()
	from := s.rev + 1
	s.mu.RUnlock()
	wch := s.client.Watch(ctx, s.keys.prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return progressed, errCompacted
		}
		if err := resp.Err(); err != nil {
			return progressed, err
		}
		if resp.Created {
			// The creation header's revision is the store's, not what
			// this watch has delivered yet.
			continue
		}
		// A response (events or a progress notification) at revision R
		// means every event up to R has been delivered.
		s.applyBatch(resp.Events, resp.Header.Revision)
		progressed = true
	}
	return progressed, errors.New("metastore: watch channel closed")
}

// applyBatch applies one watch response: all events of a revision arrive
// together, so a topic and its partition keys change at once.
func (s *Store) applyBatch(events []*clientv3.Event, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := touched{}
	for _, ev := range events {
		s.cache.apply(ev.Kv, ev.Type == clientv3.EventTypeDelete, t)
	}
	for name := range t {
		s.cache.rebuild(name)
	}
	s.advance(rev)
	s.notify(t)
	s.notifyBrokerConfigs(false)
	s.fenceControllerships()
}

// advance records that the cache has applied everything up to rev and
// wakes writers waiting for it. Callers hold s.mu.
func (s *Store) advance(rev int64) {
	if rev <= s.rev {
		return
	}
	s.rev = rev
	if !s.closed {
		close(s.revCh)
		s.revCh = make(chan struct{})
	}
}

// waitRev returns once the cache has applied rev, so a write's caller
// reads its own write from the cache.
// Sync waits until the cache holds every change etcd had committed when
// it was called: a linearizable read gives the current revision. A broker
// answering Metadata after Sync shows what any other broker's write that
// finished before the request did (read-your-writes across brokers).
func (s *Store) Sync(ctx context.Context) error {
	if err := s.running(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Get(ctx, s.keys.clusterID(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("metastore: sync: %w", err)
	}
	return s.waitRev(ctx, resp.Header.Revision)
}

func (s *Store) waitRev(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithTimeout(ctx, cacheWait)
	defer cancel()
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		s.mu.RLock()
		cur, ch, closed, watchCtx := s.rev, s.revCh, s.closed, s.watchCtx
		s.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		if closed || watchCtx == nil {
			return fmt.Errorf("%w: write at revision %d done, cache at %d", ErrNotRunning, rev, cur)
		}
		select {
		case <-ch:
		case <-tick.C:
			// Harmless if it fails: the next tick asks again.
			_ = s.client.RequestProgress(watchCtx)
		case <-ctx.Done():
			return fmt.Errorf("%w: write at revision %d done, cache at %d: %w", ErrCacheBehind, rev, cur, ctx.Err())
		}
	}
}

// running fails if the store is not started or already closed; writes
// check it first, as they could not wait for their revision otherwise.
func (s *Store) running() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.started || s.closed || s.watchCtx == nil {
		return ErrNotRunning
	}
	return nil
}
