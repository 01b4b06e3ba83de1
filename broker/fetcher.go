package broker

// Follower replication: for every leader this broker follows partitions
// of, one fetcher goroutine sends Fetch requests (with this broker's id as
// the replica id) for all of them, appends what comes back exactly as the
// leader wrote it, and takes the leader's high watermark. A partition that
// just became a follower first asks the leader (OffsetForLeaderEpoch) where
// their logs diverge and truncates there, so records a previous leader
// wrote but never committed do not survive.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/internal/safe"
	"github.com/kafkad/kafkad/storage"
)

// fetchers owns the fetcher goroutines, one per leader followed.
type fetchers struct {
	b        *Broker
	mu       sync.Mutex
	byLeader map[int32]*fetcher
	stopped  bool // shutting down: follow starts nothing
}

// stop ends every fetcher (controlled shutdown).
func (fs *fetchers) stop() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.stopped = true
	for id, f := range fs.byLeader {
		f.cancel()
		delete(fs.byLeader, id)
	}
}

func newFetchers(b *Broker) *fetchers {
	return &fetchers{b: b, byLeader: map[int32]*fetcher{}}
}

// fetcher replicates the partitions led by one broker.
type fetcher struct {
	fs     *fetchers
	leader int32
	mu     sync.Mutex
	parts  map[storage.TopicPartition]*partition
	wake   chan struct{} // capacity 1: partitions changed
	cancel context.CancelFunc
	cl     *kgo.Client
}

// follow moves a partition to the fetcher of its current leader, or stops
// fetching it when this broker leads it or the partition has no leader.
func (fs *fetchers) follow(part *partition, st metastore.PartitionState) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	following := st.Leader >= 0 && st.Leader != fs.b.cfg.BrokerID && slices.Contains(st.Replicas, fs.b.cfg.BrokerID)
	for id, f := range fs.byLeader {
		if id != st.Leader || !following {
			f.remove(part.tp)
		}
	}
	if !following || fs.stopped {
		return
	}
	f := fs.byLeader[st.Leader]
	if f == nil {
		f = &fetcher{fs: fs, leader: st.Leader, parts: map[storage.TopicPartition]*partition{}, wake: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(fs.b.ctx)
		f.cancel = cancel
		fs.byLeader[st.Leader] = f
		// A panic restarts the fetcher rather than leaving its partitions
		// unreplicated.
		safe.Loop(ctx, &fs.b.wg, fs.b.log, "replica fetcher", time.Second, func() { f.run(ctx) })
	}
	f.add(part)
}

// drop stops fetching a partition (deleted topic).
func (fs *fetchers) drop(tp storage.TopicPartition) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.byLeader {
		f.remove(tp)
	}
}

func (f *fetcher) add(p *partition) {
	f.mu.Lock()
	f.parts[p.tp] = p
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) remove(tp storage.TopicPartition) {
	f.mu.Lock()
	delete(f.parts, tp)
	f.mu.Unlock()
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) snapshot() []*partition {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*partition, 0, len(f.parts))
	for _, p := range f.parts {
		out = append(out, p)
	}
	return out
}

// client connects to the leader, found in the store's live brokers.
func (f *fetcher) client() (*kgo.Client, error) {
	if f.cl != nil {
		return f.cl, nil
	}
	for _, bi := range f.fs.b.store.Brokers() {
		if bi.ID == f.leader {
			cl, err := kgo.NewClient(append([]kgo.Opt{
				kgo.SeedBrokers(fmt.Sprintf("%s:%d", bi.Host, bi.Port)),
				kgo.ClientID(fmt.Sprintf("kafkad-replica-%d", f.fs.b.cfg.BrokerID)),
				kgo.RequestRetries(0),
			}, f.fs.b.interBrokerSASL()...)...)
			if err != nil {
				return nil, err
			}
			f.cl = cl
			return cl, nil
		}
	}
	return nil, fmt.Errorf("broker: leader %d is not a live broker", f.leader)
}

func (f *fetcher) run(ctx context.Context) {
	log := f.fs.b.log.With().Int32("leader", f.leader).Logger()
	defer func() {
		if f.cl != nil {
			f.cl.Close()
		}
	}()
	backoff := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(f.fs.b.cfg.ReplicaFetchBackoff):
			return true
		}
	}
	for ctx.Err() == nil {
		parts := f.snapshot()
		if len(parts) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-f.wake:
			}
			continue
		}
		cl, err := f.client()
		if err != nil {
			log.Debug().Err(err).Msg("replica fetch: no connection to the leader")
			if !backoff() {
				return
			}
			continue
		}
		if err := f.fetchOnce(ctx, cl, parts); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug().Err(err).Msg("replica fetch failed")
			if f.cl != nil {
				f.cl.Close()
				f.cl = nil
			}
			if !backoff() {
				return
			}
		}
	}
}

// fetchOnce truncates the partitions that need it, then fetches once.
func (f *fetcher) fetchOnce(ctx context.Context, cl *kgo.Client, parts []*partition) error {
	self := f.fs.b.cfg.BrokerID
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = self, self
	req.MaxWaitMillis = int32(f.fs.b.cfg.ReplicaFetchWaitMax / time.Millisecond)
	req.MinBytes, req.MaxBytes = 1, 10<<20
	req.SessionID, req.SessionEpoch = 0, -1
	byName := map[string]int{}
	index := map[storage.TopicPartition]*partition{}
	throttled := map[storage.TopicPartition]bool{}
	skipped := 0
	now := time.Now()
	for _, p := range parts {
		if p.needsTruncation() {
			if err := f.truncate(ctx, cl, p); err != nil {
				return err
			}
		}
		st, _ := p.snapshot()
		if st.Leader != f.leader {
			continue
		}
		if f.fs.b.followerThrottled(p, st.ISR) {
			if f.fs.b.throttle.follower.exceeded(now) {
				skipped++ // over follower.replication.throttled.rate
				continue
			}
			throttled[p.tp] = true
		}
		i, ok := byName[p.tp.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.tp.Topic, p.topicID
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byName[p.tp.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = p.tp.Partition, st.LeaderEpoch
		rp.FetchOffset, rp.LogStartOffset = p.log.LogEndOffset(), p.log.LogStartOffset()
		rp.PartitionMaxBytes = 1 << 20
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		index[p.tp] = p
	}
	if len(index) == 0 {
		if skipped > 0 {
			// Every partition is throttled: wait as Kafka's fetcher
			// does when it has nothing to fetch.
			select {
			case <-ctx.Done():
			case <-time.After(f.fs.b.cfg.ReplicaFetchBackoff):
			}
		}
		return nil
	}
	resp, err := req.RequestWith(ctx, cl.Broker(int(f.leader)))
	if err != nil {
		return err
	}
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	var failed error
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			if t, ok := f.fs.b.store.TopicByID(rt.TopicID); ok {
				name = t.Name
			}
		}
		for _, rp := range rt.Partitions {
			p := index[storage.TopicPartition{Topic: name, Partition: rp.Partition}]
			if p == nil {
				continue
			}
			if throttled[p.tp] {
				f.fs.b.throttle.follower.record(now, int64(len(rp.RecordBatches)))
			}
			if err := f.apply(p, &rp); err != nil {
				failed = err
			}
		}
	}
	return failed
}

// apply appends one partition's answer.
func (f *fetcher) apply(p *partition, rp *kmsg.FetchResponseTopicPartition) error {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		p.markTruncation()
		return fmt.Errorf("%s-%d: %w", p.tp.Topic, p.tp.Partition, err)
	default:
		// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH...: the store's next
		// partition state will move this partition.
		return fmt.Errorf("%s-%d: %w", p.tp.Topic, p.tp.Partition, err)
	}
	if len(rp.RecordBatches) > 0 {
		if _, err := p.log.AppendReplica(rp.RecordBatches); err != nil {
			if errors.Is(err, storage.ErrOffsetMismatch) {
				p.markTruncation()
			}
			return fmt.Errorf("%s-%d: replica append: %w", p.tp.Topic, p.tp.Partition, err)
		}
	}
	p.followerHW(rp.HighWatermark)
	p.notifyAppend()
	return nil
}

// truncate asks the leader where the follower's log stops agreeing with
// its own (the end of the follower's latest leader epoch on the leader)
// and cuts the follower's log there.
func (f *fetcher) truncate(ctx context.Context, cl *kgo.Client, p *partition) error {
	epoch := p.log.LatestEpoch()
	if epoch < 0 {
		p.truncated()
		return nil
	}
	st, _ := p.snapshot()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.fs.b.cfg.BrokerID
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = p.tp.Topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.tp.Partition, st.LeaderEpoch, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(f.leader)))
	if err != nil {
		return err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("broker: OffsetForLeaderEpoch answered %d topics", len(resp.Topics))
	}
	ans := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(ans.ErrorCode); err != nil {
		return fmt.Errorf("%s-%d: OffsetForLeaderEpoch: %w", p.tp.Topic, p.tp.Partition, err)
	}
	leo := p.log.LogEndOffset()
	target := ans.EndOffset
	if ans.LeaderEpoch < 0 || target < 0 {
		target = p.highWatermark() // the leader knows none of our epochs: keep what was committed
	}
	if target < leo {
		if err := p.log.TruncateTo(target); err != nil {
			return fmt.Errorf("%s-%d: truncate to %d: %w", p.tp.Topic, p.tp.Partition, target, err)
		}
		f.fs.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.tp.Partition).
			Int64("from", leo).Int64("to", target).Int32("leader_epoch", ans.LeaderEpoch).Msg("follower log truncated to the leader's")
	}
	p.truncated()
	return nil
}
