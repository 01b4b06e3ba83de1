package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer-group workloads, with franz-go on the classic protocol:
//   - join: groupMembers members start at once in a fresh group, and the
//     time from the first JoinGroup written to every member holding its
//     assignment of one and the same generation is measured, over
//     joinRounds groups (after one unmeasured round);
//   - commit: one member of a group holding all groupPartitions
//     partitions sends OffsetCommit requests for all of them back to back,
//     synchronously, for --commit-time (after an unmeasured second).
//
// Both brokers run with group.initial.rebalance.delay.ms=0 (startBroker,
// kafkaProperties): a member joins at once, and the join time is the
// protocol's rounds, not a configured wait. Members heartbeat every
// groupHeartbeat, which is how soon a member in a stable generation hears
// of the next rebalance: the join time is a few of those, on both brokers.
const (
	groupMembers    = 10
	groupPartitions = 100
	joinRounds      = 10
	groupHeartbeat  = 100 * time.Millisecond
	joinTimeout     = 60 * time.Second
	commitWarmUp    = time.Second
)

// groupResults is what the group workloads measured on one broker.
type groupResults struct {
	joins         []time.Duration // per measured round
	commits       int64           // commit requests answered without error
	commitElapsed time.Duration
	commitLatency *histogram
	// etcd is kafkad's embedded etcd's write counters over the commit run
	// (with commits, the per-request figures); nil for a broker without
	// one kbench can read.
	etcd *etcdWrites
}

// etcdWrites are deltas of the embedded etcd's counters.
type etcdWrites struct {
	proposals float64 // etcd_server_proposals_committed_total: raft writes
	puts      float64 // etcd_mvcc_put_total: keys written
}

// benchGroups runs the group workloads on one broker. A failure is kept
// in r.groupsErr, as the perf tools' are, so the other broker's figures
// still count; only the run's end (ctx) is returned.
func benchGroups(ctx context.Context, o options, r *brokerRun, adm *kadm.Client, seeds []string, fresh bool, suffix string, stderr io.Writer) error {
	topic := "kbench-groups-" + suffix
	created, err := adm.CreateTopic(ctx, groupPartitions, max(r.rf, 1), nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		r.groupsErr = fmt.Errorf("creating topic %s: %w", topic, err)
		return ctx.Err()
	}
	var groups []string
	if !fresh && !o.keepTopics {
		defer func() {
			deleteTopic(adm, topic, stderr)
			for _, g := range groups {
				deleteGroup(adm, g, stderr)
			}
		}()
	}
	r.groups.commitLatency = &histogram{}
	fmt.Fprintf(stderr, "%s: groups: %d rounds of %d members joining (one unmeasured first) ...\n", r.label, joinRounds, groupMembers)
	for round := 0; round <= joinRounds; round++ {
		group := fmt.Sprintf("kbench-join-%s-%d", suffix, round)
		groups = append(groups, group)
		d, err := joinRound(ctx, seeds, topic, group, groupMembers)
		if err != nil {
			r.groupsErr = fmt.Errorf("join round %d: %w", round, err)
			return ctx.Err()
		}
		if round > 0 {
			r.groups.joins = append(r.groups.joins, d)
		}
	}
	group := "kbench-commit-" + suffix
	groups = append(groups, group)
	fmt.Fprintf(stderr, "%s: groups: committing %d partitions back to back for %s ...\n", r.label, groupPartitions, o.commitTime)
	r.groupsErr = commitRun(ctx, seeds, topic, created.ID, group, o.commitTime, r.etcdURL, &r.groups)
	return ctx.Err()
}

// joinRound starts members of a fresh group and returns the time from the
// first JoinGroup any of them wrote until each holds an assignment of the
// same generation and together they hold every partition: the group is
// stable with all of them in it.
func joinRound(ctx context.Context, seeds []string, topic, group string, members int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	var (
		mu        sync.Mutex
		firstJoin time.Time
		stableAt  time.Time
		held      = map[int]assignment{}
		stable    = make(chan struct{})
	)
	joinSent := joinHook(func(at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if firstJoin.IsZero() {
			firstJoin = at
		}
	})
	clients := make([]*kgo.Client, 0, members)
	defer func() { closeAll(clients) }()
	for i := range members {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(seeds...),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.RangeBalancer()),
			kgo.DisableAutoCommit(),
			kgo.HeartbeatInterval(groupHeartbeat),
			kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(10*time.Second),
			kgo.WithHooks(joinSent),
			kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, a map[string][]int32) {
				_, gen := cl.GroupMetadata()
				mu.Lock()
				defer mu.Unlock()
				held[i] = assignment{generation: gen, partitions: len(a[topic])}
				if stableAt.IsZero() && settled(held, members, groupPartitions) {
					stableAt = time.Now()
					close(stable)
				}
			}),
			kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				delete(held, i)
			}),
		)
		if err != nil {
			return 0, err
		}
		clients = append(clients, cl)
	}
	select {
	case <-stable:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return 0, fmt.Errorf("%d members not stable in one generation after %s (assignments %v): %w", members, joinTimeout, held, ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	return stableAt.Sub(firstJoin), nil
}

// assignment is what a member was given last.
type assignment struct {
	generation int32
	partitions int
}

// settled tells whether every one of members holds a non-empty assignment
// of the same generation and the assignments add up to every partition.
func settled(held map[int]assignment, members, partitions int) bool {
	if len(held) != members {
		return false
	}
	gen, sum := int32(-1), 0
	for _, a := range held {
		if a.partitions == 0 || (gen >= 0 && a.generation != gen) {
			return false
		}
		gen = a.generation
		sum += a.partitions
	}
	return sum == partitions
}

// joinHook reports when a client writes a JoinGroup request.
type joinHook func(at time.Time)

func (h joinHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.JoinGroup) && err == nil {
		h(time.Now())
	}
}

// closeAll closes the clients at once: each leaves the group.
func closeAll(clients []*kgo.Client) {
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(cl.Close)
	}
	wg.Wait()
}

// commitRun joins group as its only member (so it holds every partition)
// and sends OffsetCommit requests for all of them, each waiting for the
// previous answer, with new offsets every time; a second of that is
// unmeasured, then d of it is measured. With etcdURL it reads the embedded
// etcd's write counters before and after the measured part.
func commitRun(ctx context.Context, seeds []string, topic string, topicID [16]byte, group string, d time.Duration, etcdURL string, res *groupResults) error {
	assigned := make(chan struct{})
	var once sync.Once
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			if len(a[topic]) == groupPartitions {
				once.Do(func() { close(assigned) })
			}
		}),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	wait, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	select {
	case <-assigned:
	case <-wait.Done():
		return fmt.Errorf("the committing member got no assignment of all %d partitions: %w", groupPartitions, wait.Err())
	}
	member, generation := cl.GroupMetadata()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID // v10 (KIP-848) names topics by id
	for p := range int32(groupPartitions) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	var offset int64
	commit := func() error {
		offset++
		for i := range req.Topics[0].Partitions {
			req.Topics[0].Partitions[i].Offset = offset
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("commit %d, partition %d: %w", offset, p.Partition, err)
				}
			}
		}
		return nil
	}
	for end := time.Now().Add(commitWarmUp); time.Now().Before(end); {
		if err := commit(); err != nil {
			return err
		}
	}
	var before etcdWrites
	if etcdURL != "" {
		if before, err = readEtcdWrites(ctx, etcdURL); err != nil {
			return err
		}
	}
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		sent := time.Now()
		if err := commit(); err != nil {
			return err
		}
		res.commitLatency.Record(time.Since(sent))
		res.commits++
	}
	res.commitElapsed = time.Since(start)
	if etcdURL != "" {
		after, err := readEtcdWrites(ctx, etcdURL)
		if err != nil {
			return err
		}
		res.etcd = &etcdWrites{proposals: after.proposals - before.proposals, puts: after.puts - before.puts}
	}
	return nil
}

// readEtcdWrites reads the write counters off an etcd's /metrics.
func readEtcdWrites(ctx context.Context, url string) (etcdWrites, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return etcdWrites{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return etcdWrites{}, fmt.Errorf("etcd metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return etcdWrites{}, fmt.Errorf("etcd metrics: %s", resp.Status)
	}
	return parseEtcdWrites(resp.Body)
}

// parseEtcdWrites picks the write counters out of Prometheus text.
func parseEtcdWrites(r io.Reader) (etcdWrites, error) {
	var w etcdWrites
	found := map[string]*float64{
		"etcd_server_proposals_committed_total": &w.proposals,
		"etcd_mvcc_put_total":                   &w.puts,
	}
	seen := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		dst := found[name]
		if !ok || dst == nil {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return w, fmt.Errorf("etcd metrics: %s: %w", name, err)
		}
		*dst = v
		delete(found, name)
		seen++
	}
	if err := sc.Err(); err != nil {
		return w, err
	}
	if len(found) > 0 {
		var missing []string
		for name := range found {
			missing = append(missing, name)
		}
		slices.Sort(missing)
		return w, fmt.Errorf("etcd metrics: no %s", strings.Join(missing, ", "))
	}
	return w, nil
}

// printGroups writes the group workloads' rows: per workload a row per
// broker and, with two, a row of ratios, first to second.
func printGroups(w io.Writer, runs []*brokerRun) {
	fmt.Fprintf(w, "\nconsumer groups (franz-go, classic protocol, range balancer, heartbeat %s, group.initial.rebalance.delay.ms=0)\n", groupHeartbeat)
	fmt.Fprintf(w, "%-24s %-7s %9s %9s %9s %9s %9s\n", "workload", "broker", "rounds", "mean ms", "p50 ms", "min ms", "max ms")
	name := fmt.Sprintf("join %d members", groupMembers)
	for _, r := range runs {
		if r.groupsErr != nil && len(r.groups.joins) == 0 {
			fmt.Fprintf(w, "%-24s %-7s %s\n", name, r.label, oneLine(r.groupsErr))
		} else {
			j := r.groups.joins
			fmt.Fprintf(w, "%-24s %-7s %9d %9s %9s %9s %9s\n", name, r.label, len(j), ms(mean(j)), ms(median(j)), ms(slices.Min(j)), ms(slices.Max(j)))
		}
		name = ""
	}
	if len(runs) == 2 && len(runs[0].groups.joins) > 0 && len(runs[1].groups.joins) > 0 {
		a, b := runs[0].groups.joins, runs[1].groups.joins
		fmt.Fprintf(w, "%-24s %-7s %9s %9s %9s %9s %9s\n", "", "ratio", "",
			ratio(float64(mean(a)), float64(mean(b))), ratio(float64(median(a)), float64(median(b))), ratio(float64(slices.Min(a)), float64(slices.Min(b))), ratio(float64(slices.Max(a)), float64(slices.Max(b))))
	}

	fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %12s %9s %9s %9s\n", "workload", "broker", "commits", "seconds", "commits/s", "partitions/s", "p50 ms", "p99 ms", "max ms")
	name = fmt.Sprintf("commit %d partitions", groupPartitions)
	for _, r := range runs {
		g := r.groups
		if g.commits == 0 {
			err := r.groupsErr
			if err == nil {
				err = errors.New("not run")
			}
			fmt.Fprintf(w, "%-24s %-7s %s\n", name, r.label, oneLine(err))
		} else {
			h := g.commitLatency
			fmt.Fprintf(w, "%-24s %-7s %9d %8.2f %10.0f %12.0f %9s %9s %9s\n", name, r.label, g.commits, g.commitElapsed.Seconds(),
				g.commitRate(), g.commitRate()*groupPartitions, ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Max()))
		}
		name = ""
	}
	if len(runs) == 2 && runs[0].groups.commits > 0 && runs[1].groups.commits > 0 {
		a, b := runs[0].groups, runs[1].groups
		fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %12s %9s %9s %9s\n", "", "ratio", "", "",
			ratio(a.commitRate(), b.commitRate()), ratio(a.commitRate(), b.commitRate()),
			ratio(float64(a.commitLatency.Percentile(50)), float64(b.commitLatency.Percentile(50))),
			ratio(float64(a.commitLatency.Percentile(99)), float64(b.commitLatency.Percentile(99))),
			ratio(float64(a.commitLatency.Max()), float64(b.commitLatency.Max())))
	}
	fmt.Fprintf(w, "join: first JoinGroup written to all %d members holding an assignment of one generation (%d partitions), over %d groups;\n",
		groupMembers, groupPartitions, joinRounds)
	fmt.Fprintln(w, "a group whose members all make the first join phase is stable in milliseconds, one that needs another takes a heartbeat or more")
	fmt.Fprintln(w, "commit: one member, synchronous OffsetCommit requests back to back; latency per request")
	for _, r := range runs {
		if e := r.groups.etcd; e != nil && r.groups.commits > 0 {
			n := float64(r.groups.commits)
			fmt.Fprintf(w, "%s etcd writes per commit request: %.2f raft proposals, %.2f keys put (embedded etcd's /metrics over the run; background writes included)\n",
				r.label, e.proposals/n, e.puts/n)
		}
	}
}

// commitRate is commit requests per second.
func (g groupResults) commitRate() float64 {
	if secs := g.commitElapsed.Seconds(); secs > 0 {
		return float64(g.commits) / secs
	}
	return 0
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// median is the middle duration (the upper of the two middle ones).
func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}
