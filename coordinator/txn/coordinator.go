package txn

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/internal/safe"
)

// Store keeps transaction documents (the etcd metadata store).
type Store interface {
	LoadTxns(ctx context.Context, shard int32) (map[string][]byte, error)
	SaveTxn(ctx context.Context, shard int32, id string, data []byte, own metastore.Ownership) error
	DeleteTxn(ctx context.Context, shard int32, id string, own metastore.Ownership) error
}

// Marker asks the leaders of Partitions to end a producer's transaction.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// ErrPartitionGone is a marker's partition that no longer exists (its
// topic was deleted): nothing is left to mark.
var ErrPartitionGone = errors.New("txn: partition no longer exists")

// Cluster is what the coordinator needs of the broker it runs in.
type Cluster interface {
	// Shard is the partition of __transaction_state id belongs to
	// (false when the topic does not exist).
	Shard(id string) (int32, bool)
	// Shards is the partition count of __transaction_state (0 when it
	// does not exist).
	Shards() int
	// Ownership is the current leadership of a shard.
	Ownership(shard int32) metastore.Ownership
	// Self is this broker's id.
	Self() int32
	AllocateProducerID(ctx context.Context) (int64, error)
	// OffsetsPartition is the partition of __consumer_offsets a group's
	// transactional offsets are marked on.
	OffsetsPartition(group string) (TopicPartition, bool)
	// WriteMarkers writes m on every partition's leader and returns, per
	// partition, nil for written, ErrPartitionGone, or why it failed.
	WriteMarkers(ctx context.Context, m Marker) map[TopicPartition]error
}

// Config holds the transaction settings, with Kafka's names and defaults.
type Config struct {
	MaxTimeout        time.Duration // transaction.max.timeout.ms
	AbortCheck        time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	IDExpiration      time.Duration // transactional.id.expiration.ms
	ExpirationCheck   time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	StatePartitions   int32         // transaction.state.log.num.partitions
	StateReplicaCount int16         // transaction.state.log.replication.factor
	StateMinInsync    int32         // transaction.state.log.min.isr
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MaxTimeout:        15 * time.Minute,
		AbortCheck:        10 * time.Second,
		IDExpiration:      7 * 24 * time.Hour,
		ExpirationCheck:   time.Hour,
		StatePartitions:   50,
		StateReplicaCount: 3,
		StateMinInsync:    2,
	}
}

// Coordinator owns the transactional ids of the shards this broker leads.
type Coordinator struct {
	cfg     Config
	store   Store
	cluster Cluster
	log     zerolog.Logger
	now     func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	shards map[int32]*shard
}

// shard is one loaded partition of __transaction_state.
type shard struct {
	id      int32
	own     metastore.Ownership
	entries map[string]*entry
}

// entry is one transactional id; mu is held across its etcd writes.
type entry struct {
	mu   sync.Mutex
	sh   *shard
	meta *Meta // nil until the id has been initialized
	// completing is set while a goroutine sends the markers of a
	// prepared transaction; completed is closed when it ends.
	completing bool
	completed  chan struct{}
}

// New returns a coordinator; Run drives its shard loading and timers.
func New(cfg Config, store Store, cluster Cluster, logger zerolog.Logger) *Coordinator {
	c := &Coordinator{
		cfg:     cfg,
		store:   store,
		cluster: cluster,
		log:     logger.With().Str("component", "txn-coordinator").Logger(),
		now:     time.Now,
		shards:  map[int32]*shard{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Close stops every goroutine and waits for them.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

// goroutine runs fn as a goroutine Close waits for; a panic in fn is
// logged and contained (internal/safe).
func (c *Coordinator) goroutine(fn func()) {
	safe.Go(&c.wg, c.log, "transaction coordinator goroutine", fn, nil)
}

// Run loads the shards this broker comes to lead (and forgets the ones it
// lost) every tick, aborts timed-out transactions and expires idle
// transactional ids, until ctx ends.
func (c *Coordinator) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	abort := time.NewTicker(c.cfg.AbortCheck)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpirationCheck)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.SyncShards(ctx)
		case <-abort.C:
			c.AbortTimedOut(ctx)
		case <-expire.C:
			c.ExpireIDs(ctx)
		}
	}
}

// SyncShards loads every shard this broker now leads at a new epoch and
// unloads those it no longer leads.
func (c *Coordinator) SyncShards(ctx context.Context) {
	n := c.cluster.Shards()
	self := c.cluster.Self()
	for s := int32(0); s < int32(n); s++ {
		own := c.cluster.Ownership(s)
		c.mu.Lock()
		cur := c.shards[s]
		c.mu.Unlock()
		switch {
		case own.Leader == self && (cur == nil || cur.own != own):
			if err := c.loadShard(ctx, s, own); err != nil {
				c.log.Warn().Err(err).Int32("partition", s).Msg("cannot load transaction shard")
			}
		case own.Leader != self && cur != nil:
			c.mu.Lock()
			delete(c.shards, s)
			c.mu.Unlock()
			c.log.Debug().Int32("partition", s).Msg("transaction shard unloaded")
		}
	}
}

// loadShard reads a shard's transactions and finishes the prepared ones.
func (c *Coordinator) loadShard(ctx context.Context, s int32, own metastore.Ownership) error {
	docs, err := c.store.LoadTxns(ctx, s)
	if err != nil {
		return err
	}
	sh := &shard{id: s, own: own, entries: make(map[string]*entry, len(docs))}
	var prepared []*entry
	for id, doc := range docs {
		m, err := decodeMeta(id, doc)
		if err != nil {
			c.log.Warn().Err(err).Msg("skipping stored transaction")
			continue
		}
		e := &entry{sh: sh, meta: m}
		sh.entries[id] = e
		if m.State.preparing() {
			prepared = append(prepared, e)
		}
	}
	c.mu.Lock()
	c.shards[s] = sh
	c.mu.Unlock()
	ev := c.log.Debug()
	if len(prepared) > 0 {
		ev = c.log.Info() // a takeover with transactions to finish
	}
	ev.Int32("partition", s).Int32("coordinator_epoch", own.LeaderEpoch).Int("transactions", len(docs)).
		Int("prepared", len(prepared)).Msg("transaction shard loaded")
	for _, e := range prepared {
		e.mu.Lock()
		c.startCompletion(e)
		e.mu.Unlock()
	}
	return nil
}

// lookup finds the entry of id in a loaded shard this broker still leads
// at the epoch it loaded it; create adds an empty entry for a new id.
func (c *Coordinator) lookup(id string, create bool) (*entry, *kerr.Error) {
	s, ok := c.cluster.Shard(id)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable
	}
	own := c.cluster.Ownership(s)
	if own.Leader != c.cluster.Self() {
		if own.Leader < 0 {
			return nil, kerr.CoordinatorNotAvailable
		}
		return nil, kerr.NotCoordinator
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sh := c.shards[s]
	if sh == nil || sh.own != own {
		return nil, kerr.CoordinatorLoadInProgress
	}
	e := sh.entries[id]
	if e == nil && create {
		e = &entry{sh: sh}
		sh.entries[id] = e
	}
	if e == nil {
		return nil, nil
	}
	return e, nil
}

// save writes next as id's state and installs it; a write refused because
// the shard moved unloads the shard (NOT_COORDINATOR).
func (c *Coordinator) save(ctx context.Context, e *entry, next *Meta) *kerr.Error {
	next.UpdateMs = c.now().UnixMilli()
	if err := c.store.SaveTxn(ctx, e.sh.id, next.ID, encodeMeta(next), e.sh.own); err != nil {
		if errors.Is(err, metastore.ErrFenced) {
			c.dropShard(e.sh)
			return kerr.NotCoordinator
		}
		c.log.Warn().Err(err).Str("transactional_id", next.ID).Msg("cannot store transaction state")
		return kerr.CoordinatorNotAvailable
	}
	m := *next
	e.meta = &m
	return nil
}

func (c *Coordinator) dropShard(sh *shard) {
	c.mu.Lock()
	if c.shards[sh.id] == sh {
		delete(c.shards, sh.id)
	}
	c.mu.Unlock()
}

// owned reports whether sh is still the loaded, current shard.
func (c *Coordinator) owned(sh *shard) bool {
	if c.cluster.Ownership(sh.id) != sh.own {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shards[sh.id] == sh
}

// bumpEpoch moves m to its next epoch, or to a fresh producer id once
// the epoch is exhausted (Kafka keeps Short.MaxValue for markers).
func (c *Coordinator) bumpEpoch(ctx context.Context, m *Meta) *kerr.Error {
	m.LastEpoch = m.Epoch
	if m.Epoch < math.MaxInt16-1 {
		m.Epoch++
		return nil
	}
	pid, err := c.cluster.AllocateProducerID(ctx)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	m.PrevProducerID, m.ProducerID, m.Epoch, m.LastEpoch = m.ProducerID, pid, 0, -1
	return nil
}

// InitProducerID gives a transactional id its producer id and epoch
// (KIP-98), fencing any older instance: an open transaction of the
// previous instance is aborted first (CONCURRENT_TRANSACTIONS until that
// is done, which the client retries). pid and epoch are the caller's
// current ones (KIP-360), or -1.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, pid int64, epoch int16) (int64, int16, *kerr.Error) {
	if id == "" {
		return -1, -1, kerr.InvalidRequest
	}
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	e, kerrr := c.lookup(id, true)
	if kerrr != nil {
		return -1, -1, kerrr
	}
	c.lockSettled(ctx, e)
	defer e.mu.Unlock()
	if e.meta == nil {
		newPID, err := c.cluster.AllocateProducerID(ctx)
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		m := &Meta{ID: id, ProducerID: newPID, PrevProducerID: -1, NextProducerID: -1, LastEpoch: -1, TimeoutMs: timeoutMs, State: Empty, StartMs: -1}
		if err := c.save(ctx, e, m); err != nil {
			return -1, -1, err
		}
		c.log.Debug().Str("transactional_id", id).Int64("producer_id", newPID).Msg("transactional id initialized")
		return newPID, 0, nil
	}
	if e.meta.State == Dead {
		return -1, -1, kerr.ConcurrentTransactions // expired just now: the retry starts afresh
	}
	m := e.meta.clone()
	if pid >= 0 {
		current := pid == m.ProducerID && epoch == m.Epoch
		retry := (pid == m.ProducerID && epoch == m.LastEpoch) || (pid == m.PrevProducerID && m.LastEpoch < 0)
		switch {
		case retry && m.State.complete():
			return m.ProducerID, m.Epoch, nil // a retry of the bump already made
		case !current && !retry:
			return -1, -1, kerr.ProducerFenced
		}
	}
	switch m.State {
	case PrepareCommit, PrepareAbort, PrepareEpochFence:
		return -1, -1, kerr.ConcurrentTransactions
	case Ongoing:
		// Fence the old instance: abort its transaction at a bumped epoch.
		if err := c.fenceAndAbort(ctx, e, "fencing the previous producer: aborting its open transaction"); err != nil {
			return -1, -1, err
		}
		return -1, -1, kerr.ConcurrentTransactions
	}
	if err := c.bumpEpoch(ctx, &m); err != nil {
		return -1, -1, err
	}
	m.TimeoutMs, m.State, m.Partitions, m.StartMs = timeoutMs, Empty, nil, -1
	if err := c.save(ctx, e, &m); err != nil {
		return -1, -1, err
	}
	return m.ProducerID, m.Epoch, nil
}

// checkProducer is the check every transactional request starts with.
func checkProducer(m *Meta, pid int64, epoch int16) *kerr.Error {
	switch {
	case m == nil || m.State == Dead || m.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch != m.Epoch:
		return kerr.ProducerFenced
	}
	return nil
}

// AddPartitions adds partitions to id's transaction, starting one if none
// is open (AddPartitionsToTxn, AddOffsetsToTxn, and partition leaders
// under transactions v2). verifyOnly checks that they are already in it.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition, verifyOnly bool) *kerr.Error {
	e, err := c.lookup(id, false)
	if err != nil {
		return err
	}
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	c.lockSettled(ctx, e)
	defer e.mu.Unlock()
	if err := checkProducer(e.meta, pid, epoch); err != nil {
		return err
	}
	m := e.meta.clone()
	if m.State.preparing() || m.State == PrepareEpochFence {
		return kerr.ConcurrentTransactions
	}
	if verifyOnly {
		for _, p := range parts {
			if m.State != Ongoing || !m.has(p) {
				return kerr.InvalidTxnState
			}
		}
		return nil
	}
	if m.State != Ongoing {
		m.State, m.Partitions, m.StartMs = Ongoing, nil, c.now().UnixMilli()
	} else if !m.add(parts) {
		return nil // already in the transaction: nothing to write
	}
	m.add(parts)
	if err := c.save(ctx, e, &m); err != nil {
		return err
	}
	return nil
}

// AddOffsets adds the __consumer_offsets partition of group to id's
// transaction (AddOffsetsToTxn).
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error {
	p, ok := c.cluster.OffsetsPartition(group)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	return c.AddPartitions(ctx, id, pid, epoch, []TopicPartition{p}, false)
}

// EndTxn commits or aborts id's transaction (EndTxn): PrepareCommit or
// PrepareAbort is stored before the answer, the markers follow. bump is
// transactions v2 (EndTxn v5+): the epoch moves on at every end and the
// answer carries the new one.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit, bump bool) (int64, int16, *kerr.Error) {
	e, err := c.lookup(id, false)
	if err != nil {
		return -1, -1, err
	}
	if e == nil {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	c.lockSettled(ctx, e)
	defer e.mu.Unlock()
	if e.meta == nil || e.meta.State == Dead || (pid != e.meta.ProducerID && pid != e.meta.PrevProducerID) {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	m := e.meta.clone()
	prepare, done := PrepareAbort, CompleteAbort
	if commit {
		prepare, done = PrepareCommit, CompleteCommit
	}
	// A retry of an end that already bumped the epoch (transactions v2).
	if bump && ((pid == m.ProducerID && epoch == m.LastEpoch) || pid == m.PrevProducerID) {
		switch m.State {
		case done:
			return m.ProducerID, m.Epoch, nil
		case prepare:
			return -1, -1, kerr.ConcurrentTransactions
		}
		return -1, -1, kerr.ProducerFenced
	}
	if pid != m.ProducerID || epoch != m.Epoch {
		return -1, -1, kerr.ProducerFenced
	}
	switch m.State {
	case Ongoing:
	case prepare:
		return -1, -1, kerr.ConcurrentTransactions
	case PrepareCommit, PrepareAbort:
		if bump {
			// The previous transaction (ended at the epoch before this
			// one) is still writing its markers; this producer may
			// already have begun the next and now ends it: retry
			// once that is done.
			return -1, -1, kerr.ConcurrentTransactions
		}
		return -1, -1, kerr.InvalidTxnState
	case done:
		if !bump {
			return m.ProducerID, m.Epoch, nil // a retry (transactions v1)
		}
		fallthrough
	case Empty, CompleteCommit, CompleteAbort:
		if bump && !commit {
			// KIP-890: an abort with nothing added still bumps the epoch.
			if err := c.bumpEpoch(ctx, &m); err != nil {
				return -1, -1, err
			}
			m.State, m.Partitions, m.StartMs = CompleteAbort, nil, -1
			if err := c.save(ctx, e, &m); err != nil {
				return -1, -1, err
			}
			return m.ProducerID, m.Epoch, nil
		}
		return -1, -1, kerr.InvalidTxnState
	default:
		return -1, -1, kerr.InvalidTxnState
	}
	if bump {
		m.LastEpoch = m.Epoch
		if m.Epoch >= math.MaxInt16-1 {
			// Markers go out at the last epoch; the producer continues
			// with a fresh id once they are written.
			next, err := c.cluster.AllocateProducerID(ctx)
			if err != nil {
				return -1, -1, kerr.CoordinatorNotAvailable
			}
			m.NextProducerID = next
		}
		m.Epoch++
	}
	m.State = prepare
	if err := c.save(ctx, e, &m); err != nil {
		return -1, -1, err
	}
	c.startCompletion(e)
	if m.NextProducerID >= 0 {
		return m.NextProducerID, 0, nil
	}
	return m.ProducerID, m.Epoch, nil
}

// startCompletion sends a prepared transaction's markers in the
// background; e.mu is held.
func (c *Coordinator) startCompletion(e *entry) {
	if e.completing || e.meta == nil || !e.meta.State.preparing() {
		return
	}
	e.completing = true
	e.completed = make(chan struct{})
	c.goroutine(func() { c.complete(e) })
}

// complete writes the markers of e's prepared transaction until every
// partition has one, then stores CompleteCommit or CompleteAbort. It gives
// up when the shard moves: the new coordinator does the same from the
// stored PrepareCommit/PrepareAbort.
func (c *Coordinator) complete(e *entry) {
	defer func() {
		e.mu.Lock()
		e.completing = false
		close(e.completed)
		e.mu.Unlock()
	}()
	e.mu.Lock()
	m := e.meta.clone()
	e.mu.Unlock()
	marker := Marker{
		ProducerID:       m.ProducerID,
		ProducerEpoch:    m.Epoch,
		Commit:           m.State == PrepareCommit,
		CoordinatorEpoch: e.sh.own.LeaderEpoch,
		Partitions:       m.Partitions,
	}
	log := c.log.With().Str("transactional_id", m.ID).Int64("producer_id", m.ProducerID).Bool("commit", marker.Commit).Logger()
	backoff := 20 * time.Millisecond
	for len(marker.Partitions) > 0 {
		if !c.owned(e.sh) {
			return
		}
		res := c.cluster.WriteMarkers(c.ctx, marker)
		var left []TopicPartition
		for _, p := range marker.Partitions {
			if err, ok := res[p]; !ok || (err != nil && !errors.Is(err, ErrPartitionGone)) {
				left = append(left, p)
				log.Debug().Err(err).Str("topic", p.Topic).Int32("partition", p.Partition).Msg("marker not written yet")
			}
		}
		marker.Partitions = left
		if len(left) == 0 {
			break
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.meta
	if cur == nil || cur.ProducerID != m.ProducerID || cur.Epoch != m.Epoch || cur.State != m.State {
		return
	}
	next := cur.clone()
	next.State = CompleteAbort
	if m.State == PrepareCommit {
		next.State = CompleteCommit
	}
	next.Partitions, next.StartMs = nil, -1
	if next.NextProducerID >= 0 {
		next.PrevProducerID, next.ProducerID, next.Epoch, next.LastEpoch, next.NextProducerID = next.ProducerID, next.NextProducerID, 0, -1, -1
	}
	// The markers are written; a failed write here only means the next
	// coordinator writes them again (idempotent for readers).
	if err := c.save(c.ctx, e, &next); err != nil {
		log.Warn().Str("error", err.Message).Msg("cannot store completed transaction")
	}
}

// fenceAndAbort aborts e's open transaction at a bumped epoch, which
// fences the producer that opened it: PrepareAbort is stored, the markers
// follow. e.mu is held.
func (c *Coordinator) fenceAndAbort(ctx context.Context, e *entry, why string) *kerr.Error {
	next := e.meta.clone()
	if err := c.bumpEpoch(ctx, &next); err != nil {
		return err
	}
	next.State = PrepareAbort
	if err := c.save(ctx, e, &next); err != nil {
		return err
	}
	c.log.Info().Str("transactional_id", next.ID).Int64("producer_id", next.ProducerID).Int16("epoch", next.Epoch).
		Int32("timeout_ms", next.TimeoutMs).Msg(why)
	c.startCompletion(e)
	return nil
}

// AbortTimedOut aborts, at a bumped epoch that fences the producer, every
// open transaction older than its timeout.
func (c *Coordinator) AbortTimedOut(ctx context.Context) {
	now := c.now().UnixMilli()
	for _, e := range c.entries() {
		e.mu.Lock()
		m := e.meta
		if m != nil && m.State == Ongoing && now-m.StartMs > int64(m.TimeoutMs) && c.owned(e.sh) {
			_ = c.fenceAndAbort(ctx, e, "aborting timed-out transaction") // a failed write is tried again next round
		}
		e.mu.Unlock()
	}
}

// ExpireIDs forgets transactional ids idle for transactional.id.expiration.ms.
func (c *Coordinator) ExpireIDs(ctx context.Context) {
	now := c.now().UnixMilli()
	for _, e := range c.entries() {
		e.mu.Lock()
		m := e.meta
		if m != nil && m.State.complete() && now-m.UpdateMs > c.cfg.IDExpiration.Milliseconds() && c.owned(e.sh) {
			if err := c.store.DeleteTxn(ctx, e.sh.id, m.ID, e.sh.own); err == nil {
				c.mu.Lock()
				if e.sh.entries[m.ID] == e {
					delete(e.sh.entries, m.ID)
				}
				c.mu.Unlock()
				e.meta = &Meta{ID: m.ID, State: Dead}
				c.log.Info().Str("transactional_id", m.ID).Msg("transactional id expired")
			}
		}
		e.mu.Unlock()
	}
}

// entries lists the entries of every loaded shard.
func (c *Coordinator) entries() []*entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*entry
	for _, sh := range c.shards {
		for _, e := range sh.entries {
			out = append(out, e)
		}
	}
	return out
}

// completionWait bounds how long a request waits for the previous
// transaction's markers before answering CONCURRENT_TRANSACTIONS.
const completionWait = time.Second

// lockSettled locks e once its previous transaction is no longer being
// completed, waiting up to completionWait: under transactions v2 a
// producer begins its next transaction (its first Produce adds
// partitions) as soon as EndTxn answers, while the markers of the one it
// ended are still being written. Kafka's partition leaders retry such
// adds after a short backoff; waiting here saves the round trips.
func (c *Coordinator) lockSettled(ctx context.Context, e *entry) {
	e.mu.Lock()
	if !e.completing {
		return
	}
	done := e.completed
	e.mu.Unlock()
	t := time.NewTimer(completionWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	case <-c.ctx.Done():
	}
	e.mu.Lock()
}
