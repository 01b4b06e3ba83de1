package metastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Controller election, as Kafka did it on ZooKeeper: P controller is
// created only if absent, under a lease the winner keeps alive, and names
// the controller; P controller_epoch counts elections and is advanced in
// the same transaction, so every controllership has a larger epoch than
// any before it. The create revision of P controller identifies one
// controllership; the controller's writes compare it, so a broker that
// lost its lease (and perhaps does not know yet) cannot overwrite what the
// next controller decides.

// maxTxnOps is etcd's default limit on the compares (and, separately, the
// operations) of one transaction.
const maxTxnOps = 128

// Controller returns the current controller as the cache last saw it;
// id is -1 and ok false while there is none.
func (s *Store) Controller() (id int32, epoch int64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.cache.controller; c != nil {
		return c.rec.BrokerID, c.rec.Epoch, true
	}
	return -1, 0, false
}

// Controllership is this broker's term as controller. It ends when Resign
// is called, when its lease cannot be kept alive, or when its key is
// deleted or replaced; Lost is closed then. Call Resign in every case, to
// stop renewing the lease, and before closing the etcd client.
type Controllership struct {
	store     *Store
	broker    int32
	epoch     int64
	createRev int64 // of the controller key this term wrote
	session   *concurrency.Session

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed by Resign: ends watchSession
	done     chan struct{} // watchSession ended

	resignOnce sync.Once
	resignErr  error
}

// CampaignController blocks until brokerID is controller and returns its
// controllership, or until ctx ends or the store closes. ttl (rounded up
// to whole seconds) is how long the controllership outlives a broker that
// stops renewing its lease. Transient etcd errors are retried.
func (s *Store) CampaignController(ctx context.Context, brokerID int32, ttl time.Duration) (*Controllership, error) {
	if err := s.running(); err != nil {
		return nil, err
	}
	if brokerID < 0 {
		return nil, fmt.Errorf("metastore: broker id %d is negative", brokerID)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("metastore: controller session ttl %s must be positive", ttl)
	}
	cp := &campaign{store: s, broker: brokerID, ttl: int(math.Ceil(ttl.Seconds()))}
	defer cp.closeSession() // a no-op once a won controllership owns it
	backoff := minBackoff
	for {
		if err := s.running(); err != nil {
			return nil, err
		}
		c, err := cp.attempt(ctx)
		switch {
		case c != nil:
			return c, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("metastore: broker %d campaign for controller: %w", brokerID, ctx.Err())
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotRunning), errors.Is(err, ErrCacheBehind):
			return nil, err
		case err != nil:
			s.log.Warn().Err(err).Int32("broker", brokerID).Dur("retry_in", backoff).Msg("controller campaign failed; retrying")
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, maxBackoff)
		default:
			backoff = minBackoff
		}
	}
}

// campaign is one broker's run for controller. Its session (a lease kept
// alive) is made when the controller key is first found vacant and passes
// to the controllership that wins.
type campaign struct {
	store   *Store
	broker  int32
	ttl     int // seconds
	session *concurrency.Session
}

// attempt waits for the controller key to be vacant and tries to create
// it. No controllership and no error means: look again.
func (cp *campaign) attempt(ctx context.Context) (*Controllership, error) {
	s := cp.store
	ctrlKey, epochKey := s.keys.controller(), s.keys.controllerEpoch()
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	read, err := s.client.Txn(opCtx).Then(clientv3.OpGet(ctrlKey), clientv3.OpGet(epochKey)).Commit()
	if err != nil {
		return nil, fmt.Errorf("metastore: read controller: %w", err)
	}
	if kvs := read.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		kv := kvs[0]
		if cp.session != nil && clientv3.LeaseID(kv.Lease) == cp.session.Lease() {
			// Our own key: an earlier create whose reply was lost did
			// commit.
			rec, err := decodeController(kv.Value)
			if err != nil {
				return nil, err
			}
			return cp.won(ctx, rec, kv.CreateRevision)
		}
		return nil, cp.awaitVacancy(ctx, read.Header.Revision)
	}
	var epoch, epochRev int64 // 0, 0: no controller was ever elected
	if kvs := read.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
		if epoch, err = decodeControllerEpoch(kvs[0].Value); err != nil {
			return nil, err
		}
		epochRev = kvs[0].ModRevision
	}
	lease, err := cp.lease(opCtx)
	if err != nil {
		return nil, err
	}
	rec := controllerRecord{BrokerID: cp.broker, Epoch: epoch + 1}
	resp, err := s.client.Txn(opCtx).
		If(
			clientv3.Compare(clientv3.CreateRevision(ctrlKey), "=", 0),
			clientv3.Compare(clientv3.ModRevision(epochKey), "=", epochRev),
		).
		Then(
			clientv3.OpPut(epochKey, mustJSON(controllerEpochRecord{Epoch: rec.Epoch})),
			clientv3.OpPut(ctrlKey, mustJSON(rec), clientv3.WithLease(lease)),
		).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("metastore: create controller key: %w", err)
	}
	if !resp.Succeeded {
		return nil, nil // another broker won in between; wait for its key to go
	}
	return cp.won(ctx, rec, resp.Header.Revision)
}

// awaitVacancy returns once the controller key, present at rev, is
// deleted, or with an error if the watch ends first.
func (cp *campaign) awaitVacancy(ctx context.Context, rev int64) error {
	s := cp.store
	s.mu.RLock()
	storeCtx := s.watchCtx
	s.mu.RUnlock()
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// Closing the store cancels its watch context; stop waiting then too.
	defer context.AfterFunc(storeCtx, cancel)()
	for resp := range s.client.Watch(wctx, s.keys.controller(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("metastore: watch controller key: %w", err)
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
	}
	if err := s.running(); err != nil {
		return err
	}
	return fmt.Errorf("metastore: watch of the controller key ended: %w", wctx.Err())
}

// lease returns the campaign's lease, granting it (again, if the last one
// was lost) as needed.
func (cp *campaign) lease(ctx context.Context) (clientv3.LeaseID, error) {
	if cp.session != nil {
		select {
		case <-cp.session.Done():
			cp.closeSession()
		default:
			return cp.session.Lease(), nil
		}
	}
	s := cp.store
	g, err := s.client.Grant(ctx, int64(cp.ttl))
	if err != nil {
		return 0, fmt.Errorf("metastore: controller campaign: grant lease: %w", err)
	}
	sess, err := concurrency.NewSession(s.client, concurrency.WithLease(g.ID), concurrency.WithTTL(cp.ttl))
	if err != nil {
		s.revoke(g.ID)
		return 0, fmt.Errorf("metastore: controller campaign: keep lease alive: %w", err)
	}
	cp.session = sess
	return g.ID, nil
}

// closeSession drops a session that did not win.
func (cp *campaign) closeSession() {
	if cp.session == nil {
		return
	}
	cp.session.Orphan()
	if cp.store.client.Ctx().Err() == nil {
		cp.store.revoke(cp.session.Lease())
	}
	cp.session = nil
}

// won turns the created key into a controllership, once the cache has
// seen it.
func (cp *campaign) won(ctx context.Context, rec controllerRecord, createRev int64) (*Controllership, error) {
	s := cp.store
	c := &Controllership{
		store:     s,
		broker:    rec.BrokerID,
		epoch:     rec.Epoch,
		createRev: createRev,
		session:   cp.session,
		lost:      make(chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	cp.session = nil
	go c.watchSession()
	if err := s.waitRev(ctx, createRev); err != nil {
		_ = c.Resign(context.Background())
		return nil, err
	}
	// Registered only now: until the cache holds the key, the fence
	// would take its absence for a loss. A deletion applied in between
	// is caught by the fence here.
	s.mu.Lock()
	if s.closed {
		c.markLost("metadata store closed")
	} else {
		s.ctrls[c] = struct{}{}
		s.fenceControllerships()
	}
	s.mu.Unlock()
	s.log.Info().Int32("broker", c.broker).Int64("controller_epoch", c.epoch).Msg("elected controller")
	return c, nil
}

// fenceControllerships ends every controllership whose key the cache no
// longer holds. Callers hold s.mu.
func (s *Store) fenceControllerships() {
	for c := range s.ctrls {
		if cur := s.cache.controller; cur == nil || cur.createRev != c.createRev {
			c.markLost("controller key deleted or replaced")
			delete(s.ctrls, c)
		}
	}
}

func (s *Store) dropControllership(c *Controllership) {
	s.mu.Lock()
	delete(s.ctrls, c)
	s.mu.Unlock()
}

// watchSession ends the controllership when its lease cannot be renewed.
func (c *Controllership) watchSession() {
	defer close(c.done)
	select {
	case <-c.session.Done():
		c.store.dropControllership(c)
		c.markLost("lease could not be kept alive")
	case <-c.stop:
	}
}

// markLost closes Lost, logging why unless the reason is a resignation.
func (c *Controllership) markLost(reason string) {
	c.lostOnce.Do(func() {
		if reason != "" {
			c.store.log.Warn().Int32("broker", c.broker).Int64("controller_epoch", c.epoch).Str("reason", reason).Msg("controllership lost")
		}
		close(c.lost)
	})
}

// BrokerID is the broker this controllership belongs to.
func (c *Controllership) BrokerID() int32 { return c.broker }

// Epoch is the controller epoch of this term: larger than that of every
// earlier controllership of the cluster.
func (c *Controllership) Epoch() int64 { return c.epoch }

// Lost is closed once the controllership has ended for any reason,
// Resign included; the controller must stop acting then. It may close
// late (a lease expiry is seen when the cache or the keepalive sees it),
// which is why writes are also fenced by etcd.
func (c *Controllership) Lost() <-chan struct{} { return c.lost }

func (c *Controllership) ended() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

func (c *Controllership) notController() error {
	return fmt.Errorf("%w: broker %d's controllership of epoch %d has ended", ErrNotController, c.broker, c.epoch)
}

// Resign ends the controllership: it stops renewing the lease and revokes
// it, which deletes the controller key at once, so another broker can win
// without waiting out the ttl. Calling it again returns the first result.
func (c *Controllership) Resign(ctx context.Context) error {
	c.resignOnce.Do(func() {
		close(c.stop)
		<-c.done
		s := c.store
		s.dropControllership(c)
		c.markLost("")
		c.session.Orphan()
		if err := s.client.Ctx().Err(); err != nil {
			c.resignErr = fmt.Errorf("metastore: resign controller epoch %d: etcd client closed (the lease expires by itself): %w", c.epoch, err)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		resp, err := s.client.Revoke(ctx, c.session.Lease())
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			// Already expired: the key is gone either way.
		case err != nil:
			c.resignErr = fmt.Errorf("metastore: resign controller epoch %d: %w", c.epoch, err)
			return
		default:
			// Let Controller() reflect the resignation for the caller.
			if err := s.waitRev(ctx, resp.Header.Revision); err != nil && !errors.Is(err, ErrNotRunning) {
				c.resignErr = err
				return
			}
		}
		s.log.Info().Int32("broker", c.broker).Int64("controller_epoch", c.epoch).Msg("resigned as controller")
	})
	return c.resignErr
}

// SetPartitionStates writes changes as this controller, each only if its
// Expected state is still current (ErrConflict otherwise: a leader may
// have changed the ISR meanwhile; re-read and decide again), and only
// while this controllership lasts (ErrNotController otherwise). etcd
// checks both at the moment of the write, so a controller that lost its
// lease without knowing it changes nothing.
//
// Changes go in as few transactions as etcd's limits allow (up to 126
// partitions of one topic each); each is all or nothing, and on an error
// the transactions before it have been applied. On success the cache
// holds every change.
func (c *Controllership) SetPartitionStates(ctx context.Context, changes []PartitionChange) error {
	s := c.store
	if err := s.running(); err != nil {
		return err
	}
	if c.ended() {
		return c.notController()
	}
	type tp struct {
		topic string
		p     int32
	}
	seen := make(map[tp]bool, len(changes))
	writes := make([]stateWrite, 0, len(changes))
	for _, ch := range changes {
		k := tp{ch.Topic, ch.Next.Partition}
		if seen[k] {
			return fmt.Errorf("%w: %s-%d changed twice in one write", ErrInvalidPartition, ch.Topic, ch.Next.Partition)
		}
		seen[k] = true
		w, err := s.prepareStateWrite(ch.Topic, ch.Expected, ch.Next)
		if err != nil {
			return err
		}
		writes = append(writes, w)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for len(writes) > 0 {
		n := txnBatch(writes)
		if err := c.commit(ctx, writes[:n]); err != nil {
			return err
		}
		writes = writes[n:]
	}
	return nil
}

// txnBatch returns how many of writes fit in one transaction: its
// compares are one for the controller key, one per topic and one per
// partition.
func txnBatch(writes []stateWrite) int {
	cmps := 1
	topics := map[string]bool{}
	for i, w := range writes {
		need := 1
		if !topics[w.topic] {
			need++
		}
		if cmps+need > maxTxnOps {
			return i
		}
		cmps += need
		topics[w.topic] = true
	}
	return len(writes)
}

// commit writes one batch, fenced by the controller key's create
// revision, and waits for the cache to apply it.
func (c *Controllership) commit(ctx context.Context, writes []stateWrite) error {
	s := c.store
	ctrlKey := s.keys.controller()
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(ctrlKey), "=", c.createRev)}
	ops := make([]clientv3.Op, 0, len(writes))
	topics := map[string]bool{}
	for _, w := range writes {
		if !topics[w.topic] {
			topics[w.topic] = true
			cmps = append(cmps, w.topicCmp())
		}
		cmps = append(cmps, w.stateCmp())
		ops = append(ops, w.put())
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(ctrlKey)).Commit()
	if err != nil {
		return fmt.Errorf("metastore: controller epoch %d: write %d partition states: %w", c.epoch, len(writes), err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 || kvs[0].CreateRevision != c.createRev {
			s.dropControllership(c)
			c.markLost("controller key deleted or replaced")
			return c.notController()
		}
		return fmt.Errorf("%w: a topic or partition state among %d (from %s-%d) changed in etcd", ErrConflict, len(writes), writes[0].topic, writes[0].partition)
	}
	return s.waitRev(ctx, resp.Header.Revision)
}
