package integration

// Compatibility checks for the Go clients: franz-go, sarama and
// segmentio/kafka-go. Each client produces (keys, values, headers, several
// partitions, every codec it has, each acks level) and reads back with its
// own group-less consumer and with franz-go, byte for byte in per-partition
// order; then a consumer group of two members splits a 6-partition topic,
// and a group resumes at its committed offsets after a broker restart.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	goCompatRecords = 300              // records per produce check
	goCompatWait    = 20 * time.Second // longest wait for any one step
)

// goCompatBroker: no initial rebalance delay (3 s by default), as in the
// clients' own test clusters, so that groups form at once.
var goCompatBroker = brokerOpts{extra: []string{"--group.initial.rebalance.delay.ms=0"}}

// modVersion is the version go.mod pins for a module. (Test binaries do
// not always carry their dependencies' versions in their build info.)
func modVersion(path string) string {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path)
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// ---- shared helpers -------------------------------------------------------

func goCreateTopic(t *testing.T, k *kafkad, topic string, partitions int32) {
	t.Helper()
	resp, err := kadm.NewClient(k.client(t)).CreateTopic(context.Background(), partitions, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
}

// sendIndex is the i recordFor put in the "idx" header.
func sendIndex(t *testing.T, r *kgo.Record) int {
	t.Helper()
	for _, h := range r.Headers {
		if h.Key == "idx" {
			i, err := strconv.Atoi(string(h.Value))
			require.NoError(t, err)
			return i
		}
	}
	t.Fatalf("record at %d/%d has no idx header", r.Partition, r.Offset)
	return 0
}

// byOffset groups records a producer reported (partition and offset set)
// by partition in offset order.
func byOffset(rs []*kgo.Record) produced {
	out := produced{}
	for _, r := range rs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	for p := range out {
		sort.Slice(out[p], func(i, j int) bool { return out[p][i].Offset < out[p][j].Offset })
	}
	return out
}

// bySendOrder is byOffset for acks=0, where no offsets come back: into a
// fresh topic, a partition's records land at 0, 1, ... in send order.
func bySendOrder(rs []*kgo.Record) produced {
	out := produced{}
	for _, r := range rs {
		r.Offset = int64(len(out[r.Partition]))
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// countsFrom is how many records of want each partition has from from[p].
func countsFrom(want produced, from map[int32]int64) map[int32]int {
	out := map[int32]int{}
	for p, rs := range want {
		out[p] = len(rs) - int(from[p])
	}
	return out
}

// checkRecords requires got to be want exactly: per partition the same
// offsets in the same order, keys, values and headers byte for byte.
func checkRecords(t *testing.T, want, got produced) {
	t.Helper()
	for p, ws := range want {
		gs := got[p]
		require.Len(t, gs, len(ws), "partition %d: records read back", p)
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, w.Offset, g.Offset, "partition %d position %d: offset", p, i)
			require.True(t, bytes.Equal(w.Key, g.Key), "partition %d offset %d: key %q, want %q", p, w.Offset, g.Key, w.Key)
			require.True(t, bytes.Equal(w.Value, g.Value), "partition %d offset %d: value differs", p, w.Offset)
			require.Len(t, g.Headers, len(w.Headers), "partition %d offset %d: headers", p, w.Offset)
			for h := range w.Headers {
				require.Equal(t, w.Headers[h].Key, g.Headers[h].Key, "partition %d offset %d: header %d key", p, w.Offset, h)
				require.True(t, bytes.Equal(w.Headers[h].Value, g.Headers[h].Value), "partition %d offset %d: header %q value", p, w.Offset, w.Headers[h].Key)
			}
		}
	}
	for p, gs := range got {
		if _, ok := want[p]; !ok {
			require.Empty(t, gs, "partition %d: nothing was produced there", p)
		}
	}
}

// readFn reads counts[p] records of each partition from from[p] on.
type readFn func(t *testing.T, topic string, from map[int32]int64, counts map[int32]int) produced

// readKgo is readFn with franz-go, without a group.
func readKgo(k *kafkad) readFn {
	return func(t *testing.T, topic string, from map[int32]int64, counts map[int32]int) produced {
		t.Helper()
		offs := map[int32]kgo.Offset{}
		total := 0
		for p, n := range counts {
			offs[p] = kgo.NewOffset().At(from[p])
			total += n
		}
		cl := k.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}), kgo.FetchMaxWait(200*time.Millisecond))
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		defer cancel()
		got := produced{}
		n := 0
		for n < total {
			fs := cl.PollFetches(ctx)
			require.NoError(t, ctx.Err(), "franz-go read %d of %d records of %s", n, total, topic)
			fs.EachError(func(_ string, p int32, err error) { require.NoError(t, err, "fetch partition %d", p) })
			fs.EachRecord(func(r *kgo.Record) {
				got[r.Partition] = append(got[r.Partition], r)
				n++
			})
		}
		return got
	}
}

// verifyProduced checks what a producer reported: records over every
// partition, dense offsets in send order, end offsets that match (nothing
// written twice), and every record read back byte for byte by the client's
// own reader (read; nil for franz-go) and by franz-go.
func verifyProduced(t *testing.T, k *kafkad, topic string, partitions, n int, want produced, read readFn) {
	t.Helper()
	require.Len(t, want, partitions, "keys spread over every partition")
	total := 0
	for p, rs := range want {
		for i, r := range rs {
			require.EqualValues(t, i, r.Offset, "partition %d: offsets dense from 0", p)
			if i > 0 {
				require.Less(t, sendIndex(t, rs[i-1]), sendIndex(t, r), "partition %d offset %d: send order kept", p, r.Offset)
			}
		}
		total += len(rs)
	}
	require.Equal(t, n, total, "records acknowledged")
	// Polled: with acks=0 the producer returns before the broker appends.
	adm := kadm.NewClient(k.client(t))
	deadline := time.Now().Add(goCompatWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		ends, err := adm.ListEndOffsets(ctx, topic)
		cancel()
		require.NoError(t, err)
		var short []string
		for p, rs := range want {
			o, ok := ends.Lookup(topic, p)
			require.True(t, ok, "end offset of partition %d", p)
			require.NoError(t, o.Err)
			require.LessOrEqual(t, o.Offset, int64(len(rs)), "partition %d: end offset (records written once)", p)
			if o.Offset < int64(len(rs)) {
				short = append(short, fmt.Sprintf("partition %d at %d of %d", p, o.Offset, len(rs)))
			}
		}
		if len(short) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records missing after %s: %s", goCompatWait, strings.Join(short, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
	from := map[int32]int64{}
	counts := countsFrom(want, from)
	checkRecords(t, want, readKgo(k)(t, topic, from, counts))
	if read != nil {
		checkRecords(t, want, read(t, topic, from, counts))
	}
}

// ---- consumer-group checks, shared by the three clients -----------------

// groupTracker follows the members of one group: which member holds which
// partition and what each consumed, in order.
type groupTracker struct {
	mu       sync.Mutex
	owners   bool // members report assignments (false: a kafka-go Reader)
	owner    map[int32]string
	got      produced
	by       map[int32][]string // member that consumed got[p][i]
	n        int
	problems []string
}

func newGroupTracker(owners bool) *groupTracker {
	return &groupTracker{owners: owners, owner: map[int32]string{}, got: produced{}, by: map[int32][]string{}}
}

func (g *groupTracker) fail(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
}

func (g *groupTracker) assign(member string, parts []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parts {
		if o, ok := g.owner[p]; ok && o != member {
			g.problems = append(g.problems, fmt.Sprintf("partition %d assigned to %s while %s still holds it", p, member, o))
		}
		g.owner[p] = member
	}
}

func (g *groupTracker) revoke(member string, parts []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parts {
		if g.owner[p] == member {
			delete(g.owner, p)
		}
	}
}

func (g *groupTracker) consume(member string, r *kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owners && g.owner[r.Partition] != member {
		g.problems = append(g.problems, fmt.Sprintf("%s consumed partition %d offset %d without holding the partition (owner %q)", member, r.Partition, r.Offset, g.owner[r.Partition]))
	}
	g.got[r.Partition] = append(g.got[r.Partition], r)
	g.by[r.Partition] = append(g.by[r.Partition], member)
	g.n++
}

func (g *groupTracker) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// split reports whether each member holds partitions/len(members) and
// together they hold every partition.
func (g *groupTracker) split(partitions int, members ...string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.owner) != partitions {
		return false
	}
	held := map[string]int{}
	for _, m := range g.owner {
		held[m]++
	}
	for _, m := range members {
		if held[m] != partitions/len(members) {
			return false
		}
	}
	return true
}

func (g *groupTracker) state() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("consumed %d, owners %v, problems %v", g.n, g.owner, g.problems)
}

// waitFor polls cond until it holds, failing at once on a problem a member
// reported and after goCompatWait.
func (g *groupTracker) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(goCompatWait)
	for !cond() {
		g.mu.Lock()
		problems := append([]string(nil), g.problems...)
		g.mu.Unlock()
		require.Empty(t, problems, "waiting for %s", what)
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s: %s", what, goCompatWait, g.state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits a little and requires that nothing more was consumed: no
// record came twice.
func (g *groupTracker) settle(t *testing.T, want int) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, want, g.count(), "records consumed (more means some came twice)")
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Empty(t, g.problems)
}

// startMember starts one group member consuming topic. It commits each
// record after processing it, unless commitBelow is set and the record's
// offset is not below commitBelow[partition]. stop leaves the group.
type startMember func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) (stop func())

func commitAllowed(commitBelow map[int32]int64, p int32, offset int64) bool {
	return commitBelow == nil || offset < commitBelow[p]
}

// requireCommitted requires the group's committed offsets to be want.
func requireCommitted(t *testing.T, k *kafkad, group, topic string, want map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
	defer cancel()
	offs, err := kadm.NewClient(k.client(t)).FetchOffsets(ctx, group)
	require.NoError(t, err)
	for p, w := range want {
		o, ok := offs.Lookup(topic, p)
		require.True(t, ok, "group %s has no committed offset for partition %d", group, p)
		require.NoError(t, o.Err)
		require.Equal(t, w, o.At, "group %s partition %d: committed offset", group, p)
	}
}

func endsOf(want produced) map[int32]int64 {
	out := map[int32]int64{}
	for p, rs := range want {
		out[p] = int64(len(rs))
	}
	return out
}

// checkGroupSplit: member a consumes half the records of a 6-partition
// topic alone, b joins, the two split the partitions 3/3 without ever
// holding one at the same time, and the second half is consumed by the
// owners; every record exactly once, in order, and the committed offsets
// are the end offsets.
func checkGroupSplit(t *testing.T, k *kafkad, prefix string, start startMember) {
	topic, group := prefix+"-split", prefix+"-split-group"
	goCreateTopic(t, k, topic, 6)
	prod := k.client(t, kgo.DefaultProduceTopic(topic))
	want := produced{}
	produceN(t, prod, topic, 0, goCompatRecords, want)
	require.Len(t, want, 6)
	first := endsOf(want)

	g := newGroupTracker(true)
	stopA := start(t, group, topic, "a", g, nil)
	defer func() { stopA() }()
	g.waitFor(t, "first half consumed by member a", func() bool { return g.count() >= goCompatRecords })
	stopB := start(t, group, topic, "b", g, nil)
	defer func() { stopB() }()
	g.waitFor(t, "a 3/3 split of the partitions", func() bool { return g.split(6, "a", "b") })

	produceN(t, prod, topic, goCompatRecords, goCompatRecords, want)
	g.waitFor(t, "every record consumed", func() bool { return g.count() >= 2*goCompatRecords })
	g.settle(t, 2*goCompatRecords)
	stopB()
	stopA()
	stopA, stopB = func() {}, func() {}

	checkRecords(t, want, g.got)
	members := map[string]int{}
	for p := range want {
		owner := ""
		for i, r := range g.got[p] {
			if r.Offset < first[p] {
				continue
			}
			m := g.by[p][i]
			if owner == "" {
				owner = m
				members[m]++
			}
			require.Equal(t, owner, m, "partition %d: second half consumed by one member", p)
		}
	}
	require.Equal(t, map[string]int{"a": 3, "b": 3}, members, "partitions each member consumed after the split")
	requireCommitted(t, k, group, topic, endsOf(want))
}

// checkGroupResume: a member consumes a 3-partition topic but commits only
// the first half of each partition and leaves; the broker restarts; the
// offsets are still there, and a new member of the group resumes exactly at
// them: the uncommitted half again and then records produced after the
// restart, none skipped, none repeated.
func checkGroupResume(t *testing.T, k *kafkad, prefix string, start startMember, owners bool) {
	topic, group := prefix+"-resume", prefix+"-resume-group"
	goCreateTopic(t, k, topic, 3)
	want := produced{}
	produceN(t, k.client(t, kgo.DefaultProduceTopic(topic)), topic, 0, goCompatRecords, want)
	require.Len(t, want, 3)
	half := map[int32]int64{}
	for p, rs := range want {
		half[p] = int64(len(rs) / 2)
	}

	g := newGroupTracker(owners)
	stop := start(t, group, topic, "first", g, half)
	g.waitFor(t, "every record consumed", func() bool { return g.count() >= goCompatRecords })
	g.settle(t, goCompatRecords)
	stop()
	checkRecords(t, want, g.got)
	requireCommitted(t, k, group, topic, half)

	k.Stop()
	k.Start()
	requireCommitted(t, k, group, topic, half)
	produceN(t, k.client(t, kgo.DefaultProduceTopic(topic)), topic, goCompatRecords, goCompatRecords/2, want)
	rest := produced{}
	total := 0
	for p, rs := range want {
		rest[p] = rs[half[p]:]
		total += len(rest[p])
	}

	g = newGroupTracker(owners)
	stop = start(t, group, topic, "resumed", g, nil)
	defer stop()
	g.waitFor(t, "the rest consumed after the restart", func() bool { return g.count() >= total })
	g.settle(t, total)
	stop()
	stop = func() {}
	checkRecords(t, rest, g.got)
	requireCommitted(t, k, group, topic, endsOf(want))
}

// ---- franz-go -------------------------------------------------------------

// kgoProduce writes records [from, from+n) synchronously with cl.
func kgoProduce(t *testing.T, cl *kgo.Client, topic string, from, n int) []*kgo.Record {
	t.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = recordFor(topic, from+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
	return rs
}

func franzGoMember(k *kafkad) startMember {
	return func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) func() {
		ctx, cancel := context.WithCancel(context.Background())
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addr),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.HeartbeatInterval(300*time.Millisecond),
			kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(10*time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.assign(name, m[topic]) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.revoke(name, m[topic]) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.revoke(name, m[topic]) }),
		)
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					return
				}
				fs.EachError(func(topic string, p int32, err error) { g.fail("%s: fetch %s/%d: %v", name, topic, p, err) })
				var commit []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) {
					g.consume(name, r)
					if commitAllowed(commitBelow, r.Partition, r.Offset) {
						commit = append(commit, r)
					}
				})
				if len(commit) > 0 {
					if err := cl.CommitRecords(ctx, commit...); err != nil && ctx.Err() == nil {
						g.fail("%s: commit: %v", name, err)
					}
				}
				cl.AllowRebalance()
			}
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				cancel()
				<-done
				cl.AllowRebalance()
				cl.Close()
			})
		}
	}
}

func TestCompatFranzGoClient(t *testing.T) {
	const client = "franz-go"
	version := modVersion("github.com/twmb/franz-go")
	k := startCompatKafkad(t, goCompatBroker)
	read := readKgo(k)

	produceCheck := func(name, topic string, ackless bool, opts ...kgo.Opt) {
		compatCheck(t, client, version, name, func(t *testing.T) {
			goCreateTopic(t, k, topic, 4)
			rs := kgoProduce(t, k.client(t, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, opts...)...), topic, 0, goCompatRecords)
			want := byOffset(rs)
			if ackless {
				want = bySendOrder(rs)
			}
			verifyProduced(t, k, topic, 4, goCompatRecords, want, nil)
		})
	}
	produceCheck("produce idempotent acks=all", "fg-idem", false)
	produceCheck("produce acks=1", "fg-acks1", false, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
	produceCheck("produce acks=0", "fg-acks0", true, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.NoAck()))
	for _, c := range codecs[1:] {
		produceCheck("produce "+c.name, "fg-"+c.name, false, kgo.ProducerBatchCompression(c.codec))
	}

	compatCheck(t, client, version, "partition consumer", func(t *testing.T) {
		topic := "fg-partition"
		goCreateTopic(t, k, topic, 3)
		want := byOffset(kgoProduce(t, k.client(t, kgo.DefaultProduceTopic(topic)), topic, 0, goCompatRecords))
		// From the middle of each partition.
		from := map[int32]int64{}
		mid := produced{}
		for p, rs := range want {
			from[p] = int64(len(rs) / 3)
			mid[p] = rs[from[p]:]
		}
		checkRecords(t, mid, read(t, topic, from, countsFrom(want, from)))
		// From the end of partition 1, as listed by the client: only what is
		// produced afterwards.
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		defer cancel()
		adm := kadm.NewClient(k.client(t))
		starts, err := adm.ListStartOffsets(ctx, topic)
		require.NoError(t, err)
		ends, err := adm.ListEndOffsets(ctx, topic)
		require.NoError(t, err)
		for p, rs := range want {
			s, _ := starts.Lookup(topic, p)
			e, _ := ends.Lookup(topic, p)
			require.EqualValues(t, 0, s.Offset, "partition %d start", p)
			require.EqualValues(t, len(rs), e.Offset, "partition %d end", p)
		}
		end, _ := ends.Lookup(topic, 1)
		cl := k.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {1: kgo.NewOffset().At(end.Offset)}}), kgo.FetchMaxWait(200*time.Millisecond))
		prod := k.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		more := make([]*kgo.Record, 50)
		for i := range more {
			more[i] = recordFor(topic, 1000+i)
			more[i].Partition = 1
		}
		require.NoError(t, prod.ProduceSync(ctx, more...).FirstErr())
		got := produced{}
		for len(got[1]) < len(more) {
			fs := cl.PollFetches(ctx)
			require.NoError(t, ctx.Err(), "read %d of %d new records", len(got[1]), len(more))
			fs.EachError(func(_ string, p int32, err error) { require.NoError(t, err, "partition %d", p) })
			fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r) })
		}
		checkRecords(t, byOffset(more), got)
		require.EqualValues(t, end.Offset, got[1][0].Offset)
	})

	compatCheck(t, client, version, "group split", func(t *testing.T) {
		checkGroupSplit(t, k, "fg", franzGoMember(k))
	})
	compatCheck(t, client, version, "group resume after restart", func(t *testing.T) {
		checkGroupResume(t, k, "fg", franzGoMember(k), true)
	})
}

// ---- sarama ---------------------------------------------------------------

func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "kafkad-compat"
	cfg.Version = v
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Timeout = 5 * time.Second
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

func toSaramaMessage(r *kgo.Record) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: r.Topic, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value)}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}

func fromSarama(m *sarama.ConsumerMessage) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
	}
	return r
}

// saramaProduce sends records [from, from+n) with a SyncProducer and
// returns them with the partition (and, with acks, the offset) sarama
// reports.
func saramaProduce(t *testing.T, addr string, cfg *sarama.Config, topic string, from, n int) []*kgo.Record {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			_ = p.Close()
		}
	}()
	rs := make([]*kgo.Record, n)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range rs {
		rs[i] = recordFor(topic, from+i)
		msgs[i] = toSaramaMessage(rs[i])
	}
	require.NoError(t, p.SendMessages(msgs))
	for i, m := range msgs {
		rs[i].Partition, rs[i].Offset = m.Partition, m.Offset
	}
	closed = true
	require.NoError(t, p.Close())
	return rs
}

// readSarama is readFn with sarama's partition consumer.
func readSarama(k *kafkad, cfg *sarama.Config) readFn {
	return func(t *testing.T, topic string, from map[int32]int64, counts map[int32]int) produced {
		t.Helper()
		c, err := sarama.NewConsumer([]string{k.Addr}, cfg)
		require.NoError(t, err)
		defer c.Close()
		// Every partition consumer first, so that they fetch together.
		pcs := map[int32]sarama.PartitionConsumer{}
		for p, n := range counts {
			if n == 0 {
				continue
			}
			pc, err := c.ConsumePartition(topic, p, from[p])
			require.NoError(t, err, "partition %d", p)
			pcs[p] = pc
		}
		got := produced{}
		timeout := time.After(goCompatWait)
		for p, pc := range pcs {
			for len(got[p]) < counts[p] {
				select {
				case m := <-pc.Messages():
					got[p] = append(got[p], fromSarama(m))
				case err := <-pc.Errors():
					t.Fatalf("partition %d: %v", p, err)
				case <-timeout:
					t.Fatalf("partition %d: read %d of %d records", p, len(got[p]), counts[p])
				}
			}
		}
		var wg sync.WaitGroup
		for _, pc := range pcs {
			wg.Go(func() { _ = pc.Close() })
		}
		wg.Wait()
		return got
	}
}

type saramaHandler struct {
	name, topic string
	g           *groupTracker
	commitBelow map[int32]int64
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.g.assign(h.name, s.Claims()[h.topic])
	return nil
}

func (h *saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.g.revoke(h.name, s.Claims()[h.topic])
	return nil
}

// ConsumeClaim marks each message once processed and commits whenever it
// has caught up with what was fetched, and before giving the claim up.
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	marked := false
	defer func() {
		if marked {
			s.Commit()
		}
	}()
	for {
		select {
		case <-s.Context().Done():
			return nil
		case m, ok := <-c.Messages():
			if !ok || s.Context().Err() != nil {
				return nil // unprocessed: the next owner gets it from the commit
			}
			h.g.consume(h.name, fromSarama(m))
			if commitAllowed(h.commitBelow, m.Partition, m.Offset) {
				s.MarkMessage(m, "")
				marked = true
			}
			if marked && len(c.Messages()) == 0 {
				s.Commit()
				marked = false
			}
		}
	}
}

func saramaMember(k *kafkad) startMember {
	return func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) func() {
		cfg := saramaConfig(sarama.V3_6_0_0)
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 10 * time.Second
		cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
		cg, err := sarama.NewConsumerGroup([]string{k.Addr}, group, cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h := &saramaHandler{name: name, topic: topic, g: g, commitBelow: commitBelow}
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					g.fail("%s: consume: %v", name, err)
					return
				}
			}
		}()
		errsDone := make(chan struct{})
		go func() {
			defer close(errsDone)
			for err := range cg.Errors() {
				g.fail("%s: %v", name, err)
			}
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				cancel()
				<-done
				if err := cg.Close(); err != nil {
					g.fail("%s: close: %v", name, err)
				}
				<-errsDone
			})
		}
	}
}

func TestCompatSarama(t *testing.T) {
	const client = "sarama"
	version := modVersion("github.com/IBM/sarama")
	k := startCompatKafkad(t, goCompatBroker)
	base := func() *sarama.Config { return saramaConfig(sarama.V3_6_0_0) }

	produceCheck := func(name, topic string, cfg *sarama.Config, ackless bool) {
		compatCheck(t, client, version, name, func(t *testing.T) {
			goCreateTopic(t, k, topic, 4)
			rs := saramaProduce(t, k.Addr, cfg, topic, 0, goCompatRecords)
			want := byOffset(rs)
			if ackless {
				want = bySendOrder(rs)
			}
			verifyProduced(t, k, topic, 4, goCompatRecords, want, readSarama(k, base()))
		})
	}
	cfg := base()
	produceCheck("produce acks=all", "sr-acksall", cfg, false)
	cfg = base()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	produceCheck("produce idempotent", "sr-idem", cfg, false)
	cfg = base()
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	produceCheck("produce acks=1", "sr-acks1", cfg, false)
	cfg = base()
	cfg.Producer.RequiredAcks = sarama.NoResponse
	cfg.Net.MaxOpenRequests = 1
	produceCheck("produce acks=0", "sr-acks0", cfg, true)
	for _, c := range []struct {
		name  string
		codec sarama.CompressionCodec
	}{{"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4}, {"zstd", sarama.CompressionZSTD}} {
		cfg := base()
		cfg.Producer.Compression = c.codec
		produceCheck("produce "+c.name, "sr-"+c.name, cfg, false)
	}

	// sarama's own defaults (Version 2.8): what most programs send.
	compatCheck(t, client, version, "default config", func(t *testing.T) {
		topic := "sr-default"
		goCreateTopic(t, k, topic, 4)
		cfg := sarama.NewConfig()
		cfg.Producer.Return.Successes = true
		rs := saramaProduce(t, k.Addr, cfg, topic, 0, goCompatRecords)
		verifyProduced(t, k, topic, 4, goCompatRecords, byOffset(rs), readSarama(k, sarama.NewConfig()))
	})

	// The newest protocol versions sarama knows.
	compatCheck(t, client, version, "newest version", func(t *testing.T) {
		topic := "sr-newest"
		goCreateTopic(t, k, topic, 4)
		cfg := saramaConfig(sarama.MaxVersion)
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Compression = sarama.CompressionZSTD
		rs := saramaProduce(t, k.Addr, cfg, topic, 0, goCompatRecords)
		verifyProduced(t, k, topic, 4, goCompatRecords, byOffset(rs), readSarama(k, saramaConfig(sarama.MaxVersion)))
	})

	compatCheck(t, client, version, "partition consumer", func(t *testing.T) {
		topic := "sr-partition"
		goCreateTopic(t, k, topic, 3)
		want := byOffset(kgoProduce(t, k.client(t, kgo.DefaultProduceTopic(topic)), topic, 0, goCompatRecords))
		from := map[int32]int64{}
		mid := produced{}
		for p, rs := range want {
			from[p] = int64(len(rs) / 3)
			mid[p] = rs[from[p]:]
		}
		checkRecords(t, mid, readSarama(k, base())(t, topic, from, countsFrom(want, from)))

		// The client's offset lookups, then OffsetNewest: only what comes after.
		sc, err := sarama.NewClient([]string{k.Addr}, base())
		require.NoError(t, err)
		defer sc.Close()
		for p, rs := range want {
			oldest, err := sc.GetOffset(topic, p, sarama.OffsetOldest)
			require.NoError(t, err)
			newest, err := sc.GetOffset(topic, p, sarama.OffsetNewest)
			require.NoError(t, err)
			require.EqualValues(t, 0, oldest, "partition %d oldest", p)
			require.EqualValues(t, len(rs), newest, "partition %d newest", p)
		}
		c, err := sarama.NewConsumerFromClient(sc)
		require.NoError(t, err)
		defer c.Close()
		pc, err := c.ConsumePartition(topic, 1, sarama.OffsetNewest)
		require.NoError(t, err)
		defer pc.Close()
		prod := k.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		more := make([]*kgo.Record, 50)
		for i := range more {
			more[i] = recordFor(topic, 1000+i)
			more[i].Partition = 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		defer cancel()
		require.NoError(t, prod.ProduceSync(ctx, more...).FirstErr())
		got := produced{}
		for len(got[1]) < len(more) {
			select {
			case m := <-pc.Messages():
				got[1] = append(got[1], fromSarama(m))
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatalf("read %d of %d new records", len(got[1]), len(more))
			}
		}
		checkRecords(t, byOffset(more), got)
		require.EqualValues(t, len(want[1]), got[1][0].Offset)
	})

	compatCheck(t, client, version, "group split", func(t *testing.T) {
		checkGroupSplit(t, k, "sr", saramaMember(k))
	})
	compatCheck(t, client, version, "group resume after restart", func(t *testing.T) {
		checkGroupResume(t, k, "sr", saramaMember(k), true)
	})
}

// ---- segmentio/kafka-go ---------------------------------------------------

func toKafkaGo(r *kgo.Record) kafka.Message {
	m := kafka.Message{Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func fromKafkaGo(m kafka.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// kafkaGoProduce writes records [from, from+n) with a kafka.Writer and
// returns them with the partition and offset its Completion reports; with
// acks=0 no offsets come back, and the partition is the Hash balancer's.
func kafkaGoProduce(t *testing.T, addr, topic string, from, n int, acks kafka.RequiredAcks, codec kafka.Compression) []*kgo.Record {
	t.Helper()
	var mu sync.Mutex
	var acked []kafka.Message
	// A Transport of its own: kafka-go's shared DefaultTransport serves
	// metadata from a cache (MetadataTTL 6s) and calls a topic created
	// since unknown.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Transport:    tr,
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: acks,
		Compression:  codec,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    100,
		MaxAttempts:  3,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		Completion: func(ms []kafka.Message, err error) {
			if err == nil {
				mu.Lock()
				acked = append(acked, ms...)
				mu.Unlock()
			}
		},
	}
	defer w.Close()
	rs := make([]*kgo.Record, n)
	msgs := make([]kafka.Message, n)
	for i := range rs {
		rs[i] = recordFor(topic, from+i)
		msgs[i] = toKafkaGo(rs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, acked, n, "messages completed")
	if acks == kafka.RequireNone {
		parts := []int{0, 1, 2, 3}
		for i := range rs {
			rs[i].Partition = int32((&kafka.Hash{}).Balance(msgs[i], parts...))
		}
		return rs
	}
	out := make([]*kgo.Record, n)
	for i, m := range acked {
		out[i] = fromKafkaGo(m)
		out[i].Topic = topic
	}
	return out
}

func kafkaGoReader(addr, topic string, p int32) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{addr},
		Topic:     topic,
		Partition: int(p),
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   200 * time.Millisecond,
	})
}

// readKafkaGo is readFn with kafka-go Readers on a partition, no group.
func readKafkaGo(k *kafkad) readFn {
	return func(t *testing.T, topic string, from map[int32]int64, counts map[int32]int) produced {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		defer cancel()
		got := produced{}
		for p, n := range counts {
			if n == 0 {
				continue
			}
			r := kafkaGoReader(k.Addr, topic, p)
			require.NoError(t, r.SetOffset(from[p]))
			for len(got[p]) < n {
				m, err := r.ReadMessage(ctx)
				require.NoError(t, err, "partition %d: read %d of %d records", p, len(got[p]), n)
				got[p] = append(got[p], fromKafkaGo(m))
			}
			require.NoError(t, r.Close())
		}
		return got
	}
}

// kafkaGoGroupMember uses kafka-go's ConsumerGroup, which hands out the
// assignments, with a partition Reader per assigned partition.
func kafkaGoGroupMember(k *kafkad) startMember {
	return func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) func() {
		cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                group,
			Brokers:           []string{k.Addr},
			Topics:            []string{topic},
			GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
			HeartbeatInterval: 300 * time.Millisecond,
			SessionTimeout:    10 * time.Second,
			RebalanceTimeout:  10 * time.Second,
			JoinGroupBackoff:  200 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
			Timeout:           5 * time.Second,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				gen, err := cg.Next(ctx)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, kafka.ErrGroupClosed) {
						g.fail("%s: next generation: %v", name, err)
					}
					return
				}
				var ids []int32
				for _, a := range gen.Assignments[topic] {
					ids = append(ids, int32(a.ID))
				}
				g.assign(name, ids)
				for _, a := range gen.Assignments[topic] {
					p, offset := int32(a.ID), a.Offset
					gen.Start(func(gctx context.Context) {
						defer g.revoke(name, []int32{p})
						r := kafkaGoReader(k.Addr, topic, p)
						defer r.Close()
						if err := r.SetOffset(offset); err != nil {
							g.fail("%s: partition %d: set offset %d: %v", name, p, offset, err)
							return
						}
						var pending *kafka.Message // processed, not yet committed
						commit := func() {
							if pending == nil {
								return
							}
							if err := gen.CommitOffsets(map[string]map[int]int64{topic: {int(p): pending.Offset + 1}}); err != nil {
								g.fail("%s: partition %d: commit: %v", name, p, err)
							}
							pending = nil
						}
						defer commit()
						for {
							m, err := readIdle(gctx, r.ReadMessage, pending != nil)
							switch {
							case err == nil:
								g.consume(name, fromKafkaGo(m))
								if commitAllowed(commitBelow, p, m.Offset) {
									pending = &m
								}
							case gctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
								commit() // caught up: commit what was processed
							default:
								if gctx.Err() == nil {
									g.fail("%s: partition %d: read: %v", name, p, err)
								}
								return
							}
						}
					})
				}
			}
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				cancel()
				_ = cg.Close()
				<-done
			})
		}
	}
}

// kafkaGoReaderMember is the common way: a Reader with a GroupID,
// committing synchronously (CommitInterval 0). It does not say which
// partitions it holds.
func kafkaGoReaderMember(k *kafkad) startMember {
	return func(t *testing.T, group, topic, name string, g *groupTracker, commitBelow map[int32]int64) func() {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           []string{k.Addr},
			GroupID:           group,
			Topic:             topic,
			GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
			StartOffset:       kafka.FirstOffset,
			HeartbeatInterval: 300 * time.Millisecond,
			SessionTimeout:    10 * time.Second,
			RebalanceTimeout:  10 * time.Second,
			JoinGroupBackoff:  200 * time.Millisecond,
			MinBytes:          1,
			MaxBytes:          1 << 20,
			MaxWait:           200 * time.Millisecond,
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var pending []kafka.Message // processed, not yet committed
		commit := func(ctx context.Context) {
			if len(pending) == 0 {
				return
			}
			if err := r.CommitMessages(ctx, pending...); err != nil {
				g.fail("%s: commit: %v", name, err)
			}
			pending = nil
		}
		go func() {
			defer close(done)
			for {
				m, err := readIdle(ctx, r.FetchMessage, len(pending) > 0)
				switch {
				case err == nil:
					g.consume(name, fromKafkaGo(m))
					if commitAllowed(commitBelow, int32(m.Partition), m.Offset) {
						pending = append(pending, m)
					}
				case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
					commit(ctx) // caught up: commit what was processed
				default:
					if ctx.Err() == nil {
						g.fail("%s: fetch: %v", name, err)
					}
					return
				}
			}
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				cancel()
				<-done
				ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
				defer cancel()
				commit(ctx)
				if err := r.Close(); err != nil {
					g.fail("%s: close: %v", name, err)
				}
			})
		}
	}
}

// readIdle reads the next message; when something waits to be committed it
// gives up after a short idle time with context.DeadlineExceeded, so that
// the caller commits once it has caught up.
func readIdle(ctx context.Context, read func(context.Context) (kafka.Message, error), idle bool) (kafka.Message, error) {
	if !idle {
		return read(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	return read(ctx)
}

func TestCompatKafkaGo(t *testing.T) {
	const client = "kafka-go"
	version := modVersion("github.com/segmentio/kafka-go")
	k := startCompatKafkad(t, goCompatBroker)

	produceCheck := func(name, topic string, acks kafka.RequiredAcks, codec kafka.Compression) {
		compatCheck(t, client, version, name, func(t *testing.T) {
			goCreateTopic(t, k, topic, 4)
			rs := kafkaGoProduce(t, k.Addr, topic, 0, goCompatRecords, acks, codec)
			want := byOffset(rs)
			if acks == kafka.RequireNone {
				want = bySendOrder(rs)
			}
			verifyProduced(t, k, topic, 4, goCompatRecords, want, readKafkaGo(k))
		})
	}
	produceCheck("produce acks=all", "kg-acksall", kafka.RequireAll, kafka.Compression(0))
	produceCheck("produce acks=1", "kg-acks1", kafka.RequireOne, 0)
	produceCheck("produce acks=0", "kg-acks0", kafka.RequireNone, 0)
	for _, c := range []struct {
		name  string
		codec kafka.Compression
	}{{"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}} {
		produceCheck("produce "+c.name, "kg-"+c.name, kafka.RequireAll, c.codec)
	}

	compatCheck(t, client, version, "partition consumer", func(t *testing.T) {
		topic := "kg-partition"
		goCreateTopic(t, k, topic, 3)
		want := byOffset(kgoProduce(t, k.client(t, kgo.DefaultProduceTopic(topic)), topic, 0, goCompatRecords))
		from := map[int32]int64{}
		mid := produced{}
		for p, rs := range want {
			from[p] = int64(len(rs) / 3)
			mid[p] = rs[from[p]:]
		}
		checkRecords(t, mid, readKafkaGo(k)(t, topic, from, countsFrom(want, from)))

		// The connection's offset lookups, then a Reader at the end: only
		// what comes after.
		ctx, cancel := context.WithTimeout(context.Background(), goCompatWait)
		defer cancel()
		var last int64
		for p, rs := range want {
			conn, err := kafka.DialLeader(ctx, "tcp", k.Addr, topic, int(p))
			require.NoError(t, err)
			first, last2, err := conn.ReadOffsets()
			require.NoError(t, err)
			require.NoError(t, conn.Close())
			require.EqualValues(t, 0, first, "partition %d first", p)
			require.EqualValues(t, len(rs), last2, "partition %d last", p)
			if p == 1 {
				last = last2
			}
		}
		r := kafkaGoReader(k.Addr, topic, 1)
		defer r.Close()
		require.NoError(t, r.SetOffset(last))
		prod := k.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		more := make([]*kgo.Record, 50)
		for i := range more {
			more[i] = recordFor(topic, 1000+i)
			more[i].Partition = 1
		}
		require.NoError(t, prod.ProduceSync(ctx, more...).FirstErr())
		got := produced{}
		for len(got[1]) < len(more) {
			m, err := r.ReadMessage(ctx)
			require.NoError(t, err, "read %d of %d new records", len(got[1]), len(more))
			got[1] = append(got[1], fromKafkaGo(m))
		}
		checkRecords(t, byOffset(more), got)
		require.EqualValues(t, last, got[1][0].Offset)
	})

	compatCheck(t, client, version, "group split", func(t *testing.T) {
		checkGroupSplit(t, k, "kg", kafkaGoGroupMember(k))
	})
	compatCheck(t, client, version, "group resume after restart", func(t *testing.T) {
		checkGroupResume(t, k, "kg", kafkaGoReaderMember(k), false)
	})
}
