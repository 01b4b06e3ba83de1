package integration

// Consumer groups on a three-broker cluster (external etcd, RF=3 topics,
// real clients): members joining and leaving one at a time while a
// producer writes, with franz-go's eager and cooperative balancers and
// with sarama and kafka-go; the group's coordinator killed mid-group; a
// static member restarting without a rebalance.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	groupPartitions = 12 // divisible by 1..4 members: every split is even
	groupSession    = 6 * time.Second
)

// createGroupTopic creates an RF=3 topic (min.insync.replicas=2) and waits
// until every broker reports every partition with a full ISR.
func createGroupTopic(t *testing.T, c *cluster, topic string, partitions int) {
	t.Helper()
	resp, err := kadm.NewClient(c.client(t)).CreateTopic(context.Background(), int32(partitions), 3,
		map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return len(v) == partitions && fullISR(v) })
}

func fullISR(v map[int32]partitionView) bool {
	for _, p := range v {
		if p.isr != "[1 2 3]" {
			return false
		}
	}
	return true
}

// ---- a producer that keeps writing ---------------------------------------

// steadyProducer writes numbered records (recordFor) at a steady pace, with
// acks=all, until finish; the records it was told are written are what the
// group must consume.
type steadyProducer struct {
	cl    *kgo.Client
	topic string
	mu    sync.Mutex
	acked []*kgo.Record
	err   error
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func startSteadyProducer(t *testing.T, c *cluster, topic string) *steadyProducer {
	t.Helper()
	p := &steadyProducer{cl: c.client(t, kgo.RequiredAcks(kgo.AllISRAcks())), topic: topic,
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	t.Cleanup(p.halt)
	return p
}

// run produces two records every 5 ms (about 400 a second).
func (p *steadyProducer) run() {
	defer close(p.done)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i += 2 {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.cl.Produce(context.Background(), recordFor(p.topic, i), p.ack)
		p.cl.Produce(context.Background(), recordFor(p.topic, i+1), p.ack)
	}
}

func (p *steadyProducer) ack(r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.err == nil {
			p.err = fmt.Errorf("producing %s: %w", r.Headers[0].Value, err)
		}
		return
	}
	p.acked = append(p.acked, r)
}

// count is how many records were acknowledged so far.
func (p *steadyProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *steadyProducer) halt() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
	})
}

// finish stops producing, waits for every answer and returns what was
// acknowledged, by partition in offset order. Every record must have been.
func (p *steadyProducer) finish(t *testing.T) produced {
	t.Helper()
	p.halt()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.cl.Flush(ctx))
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NoError(t, p.err)
	return byOffset(p.acked)
}

func total(want produced) int {
	n := 0
	for _, rs := range want {
		n += len(rs)
	}
	return n
}

// ---- a franz-go member ---------------------------------------------------

// groupMember is a franz-go group consumer seeded with every broker. It
// processes (hands to the tracker) everything a poll returns, commits it,
// and only then lets a rebalance go ahead (BlockRebalanceOnPoll): a
// partition it gives up has everything it processed committed, so the
// next owner starts right after it, with the eager and the cooperative
// protocol alike. It commits processed records only, never
// CommitUncommittedOffsets, which would also commit records polled but
// dropped when the member stops between poll and processing.
type groupMember struct {
	t           *testing.T
	name, topic string
	cl          *kgo.Client
	g           *groupTracker
	log         *commitLog // nil: commits must not fail

	mu      sync.Mutex
	pending map[int32]kgo.EpochOffset // processed, commit not yet acknowledged

	assigned, revoked, lost atomic.Int32 // callbacks seen
	cancel                  context.CancelFunc
	done                    chan struct{}
	once                    sync.Once
}

func startGroupMember(t *testing.T, c *cluster, group, topic, name string, g *groupTracker, log *commitLog, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{t: t, name: name, topic: topic, g: g, log: log, pending: map[int32]kgo.EpochOffset{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.SessionTimeout(groupSession), kgo.RebalanceTimeout(10 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			g.assign(name, a[topic])
			m.assigned.Add(1)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.commit() // nothing normally: the poll loop commits before it allows a rebalance
			g.revoke(name, r[topic])
			m.revoked.Add(1)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			for _, p := range l[topic] {
				delete(m.pending, p) // no longer ours to commit: the next owner re-reads them
			}
			m.mu.Unlock()
			g.revoke(name, l[topic])
			m.lost.Add(1)
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	require.NoError(t, err)
	m.cl = cl
	var ctx context.Context
	ctx, m.cancel = context.WithCancel(context.Background())
	go m.poll(ctx)
	t.Cleanup(m.stop)
	return m
}

func (m *groupMember) poll(ctx context.Context) {
	defer close(m.done)
	for {
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return // what this poll returned is not processed, so not committed
		}
		fs.EachError(func(topic string, p int32, err error) {
			if topic == m.topic {
				m.g.fail("%s: fetch %s/%d: %v", m.name, topic, p, err)
				return
			}
			// A group error kgo passes on (it rejoins by itself), such
			// as UNKNOWN_MEMBER_ID when the coordinator moved between
			// the two JoinGroups of KIP-394: what it costs shows in the
			// records, which every test checks.
			m.t.Logf("%s: group: %v", m.name, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			m.g.consume(m.name, r)
			if m.log != nil {
				m.log.consumed(m.name, r)
			}
			m.mu.Lock()
			m.pending[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			m.mu.Unlock()
		})
		m.commit()
		m.cl.AllowRebalance()
	}
}

// commit commits what was processed and not yet acknowledged.
func (m *groupMember) commit() {
	m.mu.Lock()
	offsets := make(map[int32]kgo.EpochOffset, len(m.pending))
	for p, o := range m.pending {
		offsets[p] = o
	}
	m.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{m.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				m.commitFailed("commit: %v", err)
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
						m.commitFailed("commit partition %d: %v", rp.Partition, err)
						continue
					}
					m.mu.Lock()
					if m.pending[rp.Partition] == offsets[rp.Partition] {
						delete(m.pending, rp.Partition)
					}
					m.mu.Unlock()
					if m.log != nil {
						m.log.acknowledged(rp.Partition, offsets[rp.Partition].Offset)
					}
				}
			}
		})
}

func (m *groupMember) commitFailed(format string, args ...any) {
	msg := m.name + ": " + fmt.Sprintf(format, args...)
	if m.log != nil {
		m.log.commitFailed(msg) // expected around a failover; the record is committed later or re-read
		return
	}
	m.g.fail("%s", msg)
}

// stop ends the poll loop and closes the client: a dynamic member leaves
// the group (after its final revoke), a static one does not (kgo sends no
// LeaveGroup for an InstanceID, as Kafka's clients do not).
func (m *groupMember) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cl.CloseAllowingRebalance()
	})
}

// franzGoClusterMember is startMember for groupMember.
func franzGoClusterMember(c *cluster, opts ...kgo.Opt) startMember {
	return func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) func() {
		require.Nil(t, commitBelow, "groupMember commits everything it processes")
		return startGroupMember(t, c, group, topic, name, g, nil, opts...).stop
	}
}

// heldBy is the partitions the tracker says member holds, sorted.
func heldBy(g *groupTracker, member string) []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int32
	for p, o := range g.owner {
		if o == member {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// ---- the scenarios -------------------------------------------------------

// checkGroupChurn: on a 12-partition RF=3 topic that a producer keeps
// writing to, members join one at a time up to members, then leave one at
// a time down to one. After each step the group settles to an even split
// with no partition ever held by two members at once (the tracker checks
// every assignment and that every record is consumed by its partition's
// holder), and consumption catches up with the producer. At the end every
// record produced was consumed exactly once, in order, and the group's
// committed offsets are the end offsets.
func checkGroupChurn(t *testing.T, c *cluster, name string, start startMember, members int) {
	topic, group := name, name+"-group"
	createGroupTopic(t, c, topic, groupPartitions)
	prod := startSteadyProducer(t, c, topic)
	g := newGroupTracker(true)
	stops := map[string]func(){}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	var in []string
	settle := func(step string) {
		t.Helper()
		g.waitFor(t, step+": an even split over "+fmt.Sprint(in), func() bool { return g.split(groupPartitions, in...) })
		// Everything produced so far and 100 more: records flow in
		// this layout.
		target := prod.count() + 100
		g.waitFor(t, step+": consumption goes on", func() bool { return g.count() >= target })
	}
	for i := 1; i <= members; i++ {
		m := fmt.Sprintf("m%d", i)
		stops[m] = start(t, group, topic, m, g, nil)
		in = append(in, m)
		settle(m + " joined")
	}
	for len(in) > 1 {
		m := in[0]
		stops[m]()
		delete(stops, m)
		in = in[1:]
		settle(m + " left")
	}
	want := prod.finish(t)
	n := total(want)
	t.Logf("%d records produced while %d members joined and left", n, members)
	g.waitFor(t, "every record consumed", func() bool { return g.count() >= n })
	g.settle(t, n)
	stops[in[0]]()
	delete(stops, in[0])
	checkRecords(t, want, g.got)
	requireCommitted(t, c.brokers[0], group, topic, endsOf(want))
}

// TestGroupMembersJoinAndLeave runs the churn with franz-go members and
// both of its protocols: eager (range: every member gives up everything at
// each rebalance) and cooperative-sticky (only moving partitions are
// revoked, in a second rebalance).
func TestGroupMembersJoinAndLeave(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"eager-range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 3)
			checkGroupChurn(t, c, "churn-"+tc.name, franzGoClusterMember(c, kgo.Balancers(tc.balancer)), 4)
		})
	}
}

// TestGroupMembersJoinAndLeaveOtherClients: the same with two sarama
// members and two kafka-go members (the compatibility suite's, seeded with
// one broker; they find the others through metadata).
func TestGroupMembersJoinAndLeaveOtherClients(t *testing.T) {
	c := startCluster(t, 3)
	t.Run("sarama", func(t *testing.T) { checkGroupChurn(t, c, "churn-sarama", saramaMember(c.brokers[0]), 2) })
	t.Run("kafka-go", func(t *testing.T) { checkGroupChurn(t, c, "churn-kafka-go", kafkaGoGroupMember(c.brokers[1]), 2) })
}

// commitLog follows, across the members of a group, the commits the
// coordinator acknowledged and every record consumed.
type commitLog struct {
	mu          sync.Mutex
	committed   map[int32]int64 // highest acknowledged commit per partition
	seen        map[int32]map[int64]bool
	distinct    int
	repeats     int      // records consumed again, before any commit past them
	regressions []string // records consumed again after a commit past them was acknowledged
	failures    []string // commits refused or failed
}

func newCommitLog() *commitLog {
	return &commitLog{committed: map[int32]int64{}, seen: map[int32]map[int64]bool{}}
}

func (l *commitLog) consumed(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[r.Partition] == nil {
		l.seen[r.Partition] = map[int64]bool{}
	}
	if c := l.committed[r.Partition]; r.Offset < c {
		l.regressions = append(l.regressions, fmt.Sprintf("%s consumed %d/%d after the commit of %d was acknowledged", member, r.Partition, r.Offset, c))
	}
	if l.seen[r.Partition][r.Offset] {
		l.repeats++
		return
	}
	l.seen[r.Partition][r.Offset] = true
	l.distinct++
}

func (l *commitLog) acknowledged(p int32, next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.committed[p] = max(l.committed[p], next)
}

func (l *commitLog) commitFailed(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
}

func (l *commitLog) distinctCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.distinct
}

// groupCoordinator is the broker FindCoordinator names for group, once
// it is a running one.
func groupCoordinator(t *testing.T, c *cluster, group string) int32 {
	t.Helper()
	var id int32
	require.Eventually(t, func() bool {
		resp := kadm.NewClient(c.client(t)).FindGroupCoordinators(context.Background(), group)
		r, ok := resp[group]
		if !ok || r.Err != nil || r.NodeID < 0 {
			return false
		}
		id = r.NodeID
		return c.byID(id).running()
	}, 30*time.Second, 100*time.Millisecond, "no running coordinator for %s", group)
	return id
}

// TestGroupCoordinatorKilled: three franz-go members (seeded with every
// broker) consume while a producer writes; the group's coordinator (as
// FindCoordinator names it) is killed with SIGKILL. A surviving broker
// takes the group over: the members carry on with it if it knows their
// membership, or get UNKNOWN_MEMBER_ID and join again if it does not;
// either way they resume from the offsets committed before the kill. The
// killed broker then comes back and catches up, and the group, wherever
// it is coordinated now, goes on consuming.
//
// What is asserted:
//   - no gap: every record the producer was told is written is consumed;
//   - no regression: no record is consumed again once a commit past it was
//     acknowledged, i.e. a member that takes a partition over starts at
//     the committed offset, never before it, and no acknowledged commit is
//     lost with the coordinator;
//   - no partition is ever held by two members at once (the tracker);
//   - the group ends with committed offsets at the end offsets.
//
// Records consumed twice are allowed, but only from the uncommitted tail:
// records processed while the coordinator was unreachable, whose commits
// failed, and which the partition's next holder reads again. They are
// counted and logged, not forbidden: without transactions a failover
// gives at-least-once, not exactly-once.
func TestGroupCoordinatorKilled(t *testing.T) {
	c := startCluster(t, 3)
	topic, group := "failover", "failover-group"
	createGroupTopic(t, c, topic, groupPartitions)
	prod := startSteadyProducer(t, c, topic)
	g := newGroupTracker(true)
	log := newCommitLog()
	names := []string{"a", "b", "c"}
	var members []*groupMember
	for _, name := range names {
		members = append(members, startGroupMember(t, c, group, topic, name, g, log))
	}
	settle := func(step string) {
		t.Helper()
		g.waitFor(t, step+": a 4/4/4 split", func() bool { return g.split(groupPartitions, names...) })
		target := prod.count() + 100
		g.waitFor(t, step+": consumption goes on", func() bool { return log.distinctCount() >= target })
	}
	settle("all joined")

	victim := c.byID(groupCoordinator(t, c, group))
	victim.Kill()
	killedAt := time.Now()
	successor := groupCoordinator(t, c, group)
	settle(fmt.Sprintf("coordinator %d killed, %d took over", victim.ID, successor))
	t.Logf("coordinator %d killed; broker %d coordinates; the group consumes again %s after the kill", victim.ID, successor, time.Since(killedAt).Round(time.Millisecond))

	victim.Start()
	c.waitBrokers(3)
	c.waitAgreement(topic, fullISR)
	back := groupCoordinator(t, c, group)
	settle(fmt.Sprintf("broker %d back in the cluster, %d coordinates", victim.ID, back))

	want := prod.finish(t)
	n := total(want)
	g.waitFor(t, "every record consumed", func() bool { return log.distinctCount() >= n })
	for _, m := range members {
		m.stop()
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	for p, rs := range want {
		for _, r := range rs {
			require.True(t, log.seen[p][r.Offset], "record %s at %d/%d never consumed", r.Headers[0].Value, p, r.Offset)
		}
	}
	assert.Empty(t, log.regressions, "records consumed again after a commit past them was acknowledged")
	t.Logf("%d records, %d consumed twice (uncommitted tail at the failovers), %d commits refused or failed", n, log.repeats, len(log.failures))
	requireCommitted(t, c.byID(back), group, topic, endsOf(want))
}

// describeGroup is the group as DescribeGroups shows it: its state and
// each member's assigned partitions of topic by instance id (member id for
// a dynamic member).
func describeGroup(t *testing.T, c *cluster, group, topic string) (string, map[string][]int32) {
	t.Helper()
	described, err := kadm.NewClient(c.client(t)).DescribeGroups(context.Background(), group)
	require.NoError(t, err)
	d := described[group]
	require.NoError(t, d.Err)
	out := map[string][]int32{}
	for _, m := range d.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		a, ok := m.Assigned.AsConsumer()
		require.True(t, ok, "member %s has a consumer assignment", id)
		for _, at := range a.Topics {
			if at.Topic == topic {
				out[id] = slices.Sorted(slices.Values(at.Partitions))
			}
		}
	}
	return d.State, out
}

// TestGroupStaticMemberRestart: two static members (KIP-345 instance ids)
// split a 6-partition topic; each in turn (a, the first to join and so
// the group's leader, then b) is closed (kgo sends no LeaveGroup for a
// static member) and a new client with the same instance id starts within
// the session timeout. The new client's JoinGroup metadata differs from
// the old one's (kgo puts the member's last generation in it), as it does
// with Kafka's clients: Kafka rebalances only if the group's selected
// protocol would change. No rebalance follows: the other
// member's OnPartitionsRevoked/Assigned are not called again and its
// generation and member id stay; DescribeGroups shows the group Stable
// with the same assignment per instance id (it carries no generation);
// the restarted member gets its old partitions back and resumes at the
// committed offsets: every record exactly once.
func TestGroupStaticMemberRestart(t *testing.T) {
	c := startCluster(t, 3)
	topic, group := "static", "static-group"
	createGroupTopic(t, c, topic, 6)
	g := newGroupTracker(true)
	start := func(name string) *groupMember {
		return startGroupMember(t, c, group, topic, name, g, nil, kgo.InstanceID(name), kgo.Balancers(kgo.RangeBalancer()))
	}
	members := map[string]*groupMember{"a": start("a")}
	g.waitFor(t, "a alone", func() bool { return g.split(6, "a") })
	members["b"] = start("b")
	g.waitFor(t, "a 3/3 split", func() bool { return g.split(6, "a", "b") })

	prod := c.client(t)
	want := produced{}
	produceN(t, prod, topic, 0, 300, want)
	g.waitFor(t, "the first records consumed", func() bool { return g.count() >= 300 })

	for i, restarting := range []string{"a", "b"} {
		other := members[map[string]string{"a": "b", "b": "a"}[restarting]]
		held := heldBy(g, restarting)
		otherHeld := heldBy(g, other.name)
		state, assigned := describeGroup(t, c, group, topic)
		require.Equal(t, "Stable", state)
		require.Equal(t, map[string][]int32{"a": heldBy(g, "a"), "b": heldBy(g, "b")}, assigned)
		otherID, otherGen := other.cl.GroupMetadata()
		otherAssigned, otherRevoked := other.assigned.Load(), other.revoked.Load()

		members[restarting].stop()
		restarted := start(restarting)
		members[restarting] = restarted
		g.waitFor(t, restarting+" restarted with its partitions", func() bool {
			return restarted.assigned.Load() > 0 && slices.Equal(heldBy(g, restarting), held)
		})
		produceN(t, prod, topic, 300+100*i, 100, want)
		g.waitFor(t, "records after the restart consumed", func() bool { return g.count() >= 400+100*i })

		assert.Equal(t, otherAssigned, other.assigned.Load(), "%s: OnPartitionsAssigned called again", other.name)
		assert.Equal(t, otherRevoked, other.revoked.Load(), "%s: OnPartitionsRevoked called again", other.name)
		assert.Zero(t, other.lost.Load()+restarted.lost.Load())
		assert.Equal(t, otherHeld, heldBy(g, other.name))
		id, gen := other.cl.GroupMetadata()
		assert.Equal(t, otherID, id, "%s keeps its member id", other.name)
		assert.Equal(t, otherGen, gen, "%s: the generation is unchanged", other.name)
		state, after := describeGroup(t, c, group, topic)
		assert.Equal(t, "Stable", state)
		assert.Equal(t, assigned, after, "the assignment per instance id is unchanged")
		t.Logf("static member %s restarted: generation still %d, %s kept %v", restarting, gen, restarting, held)
	}
	g.settle(t, total(want))
	for _, m := range members {
		m.stop()
	}
	checkRecords(t, want, g.got)
	requireCommitted(t, c.brokers[0], group, topic, endsOf(want))
}
