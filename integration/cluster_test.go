package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/embedetcd"
	"github.com/kafkad/kafkad/internal/testbatch"
)

// cluster is three kafkad processes on one external etcd.
type cluster struct {
	t       *testing.T
	brokers []*kafkad
}

func startCluster(t *testing.T, n int, flags ...string) *cluster {
	t.Helper()
	return startClusterWith(t, n, func(o *brokerOpts) { o.extra = append(o.extra, flags...) })
}

// startClusterWith is startCluster with each broker's options edited
// (per-broker listeners, say).
func startClusterWith(t *testing.T, n int, edit func(*brokerOpts)) *cluster {
	t.Helper()
	etcd := embedetcd.StartTest(t, zerolog.Nop())
	c := &cluster{t: t}
	for i := 1; i <= n; i++ {
		o := brokerOpts{
			etcdEndpoints: etcd.Endpoints(),
			id:            int32(i),
			extra: []string{
				"--broker.session.timeout.ms=3000",
				"--replica.lag.time.max.ms=5000",
				"--group.initial.rebalance.delay.ms=0",
			},
		}
		edit(&o)
		c.brokers = append(c.brokers, startKafkad(t, o))
	}
	c.waitBrokers(n)
	return c
}

func (c *cluster) seeds() []string {
	var out []string
	for _, k := range c.brokers {
		out = append(out, k.Addr)
	}
	return out
}

func (c *cluster) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// waitBrokers waits until every running broker's metadata lists n brokers.
func (c *cluster) waitBrokers(n int) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		for _, k := range c.brokers {
			if !k.running() {
				continue
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addr))
			if err != nil {
				return false
			}
			md, err := kadm.NewClient(cl).BrokerMetadata(context.Background())
			cl.Close()
			if err != nil || len(md.Brokers) != n {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)
}

// partitionView is one broker's answer for a partition.
type partitionView struct {
	leader int32
	epoch  int32
	isr    string
}

// views asks every running broker for a topic's partitions.
func (c *cluster) views(topic string) map[int32][]partitionView {
	out := map[int32][]partitionView{}
	for _, k := range c.brokers {
		if !k.running() {
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addr))
		require.NoError(c.t, err)
		md, err := kadm.NewClient(cl).Metadata(context.Background(), topic)
		cl.Close()
		require.NoError(c.t, err)
		for _, p := range md.Topics[topic].Partitions {
			isr := append([]int32(nil), p.ISR...)
			out[p.Partition] = append(out[p.Partition], partitionView{p.Leader, p.LeaderEpoch, fmt.Sprint(sortIDs(isr))})
		}
	}
	return out
}

func sortIDs(ids []int32) []int32 {
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

// waitAgreement waits until every running broker reports the same leader,
// epoch and ISR for every partition, and cond holds for that view.
func (c *cluster) waitAgreement(topic string, cond func(map[int32]partitionView) bool) map[int32]partitionView {
	c.t.Helper()
	var agreed map[int32]partitionView
	require.Eventually(c.t, func() bool {
		agreed = map[int32]partitionView{}
		for p, vs := range c.views(topic) {
			for _, v := range vs[1:] {
				if v != vs[0] {
					return false
				}
			}
			agreed[p] = vs[0]
		}
		return len(agreed) > 0 && cond(agreed)
	}, 30*time.Second, 100*time.Millisecond, "brokers disagree on %s or the condition never held", topic)
	return agreed
}

func (c *cluster) byID(id int32) *kafkad {
	for _, k := range c.brokers {
		if k.ID == id {
			return k
		}
	}
	c.t.Fatalf("no broker %d", id)
	return nil
}

// TestLeaderKilledNoAcknowledgedRecordLost: RF=3, min.insync.replicas=2;
// an idempotent acks=all producer writes a numbered sequence to one
// partition while the test kills -9 that partition's leader. Every number
// the producer was told is written is there exactly once and in order; the
// killed broker comes back, catches up and rejoins the ISR.
func TestLeaderKilledNoAcknowledgedRecordLost(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "durable")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	before := c.waitAgreement("durable", func(v map[int32]partitionView) bool { return v[0].leader > 0 && v[0].isr == "[1 2 3]" })

	producer := c.client(t, kgo.DefaultProduceTopic("durable"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(0))
	var mu sync.Mutex
	var acked []int
	var ackedAt []time.Time
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err == nil {
				mu.Lock()
				acked = append(acked, i)
				ackedAt = append(ackedAt, time.Now())
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	// A consumer reads along the whole time: whatever it is shown must
	// still be in the log at the same offset at the end (it never reads
	// past the high watermark into records a failover could undo).
	watcher := c.client(t, kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	seenByWatcher := map[int64]string{}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := watcher.PollFetches(wctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seenByWatcher[r.Offset] = string(r.Value)
				mu.Unlock()
			})
		}
	}()
	require.Eventually(t, func() bool { return count() >= 200 }, 30*time.Second, 10*time.Millisecond)

	victim := c.byID(before[0].leader)
	killedAt := time.Now()
	victim.Kill()
	atKill := count()
	after := c.waitAgreement("durable", func(v map[int32]partitionView) bool {
		return v[0].leader > 0 && v[0].leader != victim.ID && v[0].epoch > before[0].epoch
	})
	require.Eventually(t, func() bool { return count() >= atKill+200 }, 60*time.Second, 10*time.Millisecond,
		"the producer goes on with the new leader")
	mu.Lock()
	var firstAfter time.Duration
	for _, at := range ackedAt[atKill:] {
		if at.After(killedAt) {
			firstAfter = at.Sub(killedAt)
			break
		}
	}
	mu.Unlock()
	t.Logf("leader %d killed; broker %d leads at epoch %d; first acks=all success %s after the kill (lease TTL 3s)",
		victim.ID, after[0].leader, after[0].epoch, firstAfter.Round(time.Millisecond))

	victim.Start()
	c.waitAgreement("durable", func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })
	close(stop)
	<-done
	<-watchDone

	// Every acknowledged number once, in order; numbers the producer gave
	// up on may be there too (written, not acknowledged), never twice.
	consumer := c.client(t, kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	end, err := adm.ListEndOffsets(ctx, "durable")
	require.NoError(t, err)
	last, _ := end.Lookup("durable", 0)
	var got []int
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for int64(len(got)) < last.Offset {
		fs := consumer.PollFetches(pctx)
		require.NoError(t, pctx.Err(), "consumed %d of %d", len(got), last.Offset)
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(string(r.Value))
			require.NoError(t, err)
			got = append(got, n)
		})
	}
	mu.Lock()
	for off, v := range seenByWatcher {
		require.Less(t, off, int64(len(got)), "a consumer saw offset %d, which is no longer in the log", off)
		require.Equal(t, v, strconv.Itoa(got[off]), "a consumer saw %q at %d, the log now has %d", v, off, got[off])
	}
	t.Logf("a concurrent consumer saw %d records, all still in the log", len(seenByWatcher))
	mu.Unlock()
	seen := map[int]bool{}
	for i, n := range got {
		require.False(t, seen[n], "%d written twice", n)
		seen[n] = true
		if i > 0 {
			require.Greater(t, n, got[i-1], "order")
		}
	}
	for _, n := range acked {
		require.True(t, seen[n], "acknowledged %d is missing", n)
	}
	t.Logf("%d acknowledged, %d in the log", len(acked), len(got))
}

// TestControllerFailover kills the controller: another broker takes the
// role, and a later broker loss is still handled by it.
func TestControllerFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 3, 3, nil, "ctl")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	c.waitAgreement("ctl", func(v map[int32]partitionView) bool { return len(v) == 3 })

	controllerOf := func() int32 {
		var id int32 = -1
		require.Eventually(t, func() bool {
			md, err := kadm.NewClient(c.client(t)).BrokerMetadata(ctx)
			if err != nil || md.Controller < 0 || !c.byID(md.Controller).running() {
				return false
			}
			id = md.Controller
			return true
		}, 30*time.Second, 100*time.Millisecond)
		return id
	}
	first := controllerOf()
	c.byID(first).Kill()
	second := controllerOf()
	assert.NotEqual(t, first, second)

	// The new controller handles the next loss: partitions led by the
	// third broker move to the new controller.
	var third int32
	for _, k := range c.brokers {
		if k.ID != first && k.ID != second {
			third = k.ID
		}
	}
	c.byID(third).Kill()
	c.waitAgreement("ctl", func(v map[int32]partitionView) bool {
		for _, p := range v {
			if p.leader != second || !strings.Contains(p.isr, fmt.Sprint(second)) {
				return false
			}
		}
		return true
	})
}

// TestTwoOfThreeDownRefusesAcksAll: with min.insync.replicas=2 and two of
// three brokers gone, acks=all produce is refused with
// NOT_ENOUGH_REPLICAS; once they are back, nothing acknowledged before is
// missing and writes succeed again.
func TestTwoOfThreeDownRefusesAcksAll(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "quorum")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	c.waitAgreement("quorum", func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })
	producer := c.client(t, kgo.DefaultProduceTopic("quorum"))
	for i := 0; i < 100; i++ {
		require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr())
	}

	survivor := c.brokers[2]
	c.brokers[0].Kill()
	c.brokers[1].Kill()
	c.waitAgreement("quorum", func(v map[int32]partitionView) bool {
		return v[0].leader == survivor.ID && v[0].isr == fmt.Sprintf("[%d]", survivor.ID)
	})
	solo, err := kgo.NewClient(kgo.SeedBrokers(survivor.Addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	require.NoError(t, err)
	defer solo.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "quorum"
	md, err := adm.ListTopics(ctx, "quorum")
	require.NoError(t, err)
	rt.TopicID = md["quorum"].ID
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testbatch.Encode(-1, -1, -1, "refused")}}
	req.Topics = append(req.Topics, rt)
	presp, err := req.RequestWith(ctx, solo)
	require.NoError(t, err)
	assert.Equal(t, kerr.NotEnoughReplicas.Code, presp.Topics[0].Partitions[0].ErrorCode)

	c.brokers[0].Start()
	c.brokers[1].Start()
	c.waitAgreement("quorum", func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })
	require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord("100")).FirstErr())

	consumer := c.client(t, kgo.ConsumeTopics("quorum"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < 101 {
		fs := consumer.PollFetches(pctx)
		require.NoError(t, pctx.Err(), "consumed %d", len(got))
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := 0; i <= 100; i++ {
		assert.Equal(t, strconv.Itoa(i), got[i])
	}
}

// TestControlledShutdownMovesLeadership: a broker stopped with SIGTERM
// hands the partitions it leads to another in-sync replica before it
// exits, and acks=all producing goes on.
func TestControlledShutdownMovesLeadership(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "handover")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	before := c.waitAgreement("handover", func(v map[int32]partitionView) bool {
		for _, p := range v {
			if p.isr != "[1 2 3]" {
				return false
			}
		}
		return len(v) == 3
	})
	stopping := c.byID(before[0].leader)
	stopping.Stop()
	assert.Contains(t, stopping.out.String(), "controlled shutdown: partition handed over")
	after := c.waitAgreement("handover", func(v map[int32]partitionView) bool {
		for _, p := range v {
			if p.leader == stopping.ID || strings.Contains(p.isr, fmt.Sprint(stopping.ID)) {
				return false
			}
		}
		return true
	})
	assert.Greater(t, after[0].epoch, before[0].epoch)
	producer := c.client(t, kgo.DefaultProduceTopic("handover"))
	for i := 0; i < 50; i++ {
		require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr())
	}
}

// TestPreferredLeaderElection: after a failover moved leadership away from
// a partition's preferred replica and that broker came back in sync,
// ElectLeaders (preferred) moves it back; asking again is not needed.
// With auto.leader.rebalance.enable, the controller does the same by
// itself.
func TestPreferredLeaderElection(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("auto=%v", auto), func(t *testing.T) {
			flags := []string{"--auto.leader.rebalance.enable=false"}
			if auto {
				flags = []string{"--leader.imbalance.check.interval.seconds=1"}
			}
			c := startCluster(t, 3, flags...)
			ctx := context.Background()
			adm := kadm.NewClient(c.client(t))
			resp, err := adm.CreateTopic(ctx, 1, 3, nil, "preferred")
			require.NoError(t, err)
			require.NoError(t, resp.Err)
			md, err := adm.Metadata(ctx, "preferred")
			require.NoError(t, err)
			preferred := md.Topics["preferred"].Partitions[0].Replicas[0]
			before := c.waitAgreement("preferred", func(v map[int32]partitionView) bool {
				return v[0].leader == preferred && v[0].isr == "[1 2 3]"
			})

			k := c.byID(preferred)
			k.Kill()
			c.waitAgreement("preferred", func(v map[int32]partitionView) bool { return v[0].leader != preferred && v[0].leader > 0 })
			k.Start()
			c.waitAgreement("preferred", func(v map[int32]partitionView) bool {
				return v[0].isr == "[1 2 3]" && (auto || v[0].leader != preferred)
			})
			if !auto {
				res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"preferred": {0: {}}})
				require.NoError(t, err)
				require.NoError(t, res["preferred"][0].Err)
				again, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"preferred": {0: {}}})
				require.NoError(t, err)
				require.ErrorIs(t, again["preferred"][0].Err, kerr.ElectionNotNeeded)
			}
			after := c.waitAgreement("preferred", func(v map[int32]partitionView) bool { return v[0].leader == preferred })
			assert.Greater(t, after[0].epoch, before[0].epoch+1, "two leader changes: the failover and the way back")
		})
	}
}

// TestPartitionReassignment moves a partition's replicas to other brokers
// with AlterPartitionReassignments: the new replicas catch up, the move
// completes (leadership moves too, as the leader leaves), the old replica
// deletes its log, and every record is still there.
func TestPartitionReassignment(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "moving", -1, -1
	ct.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, c.client(t))
	require.NoError(t, err)
	require.Equal(t, int16(0), cresp.Topics[0].ErrorCode)
	c.waitAgreement("moving", func(v map[int32]partitionView) bool { return v[0].leader == 1 })

	producer := c.client(t, kgo.DefaultProduceTopic("moving"))
	for i := 0; i < 300; i++ {
		require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr())
	}

	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("moving", 0, []int32{2, 3})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	require.NoError(t, err)
	require.NoError(t, res.Error())

	c.waitAgreement("moving", func(v map[int32]partitionView) bool { return v[0].isr == "[2 3]" && v[0].leader == 2 })
	require.Eventually(t, func() bool {
		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moving": {0: {}}})
		return err == nil && len(listed) == 0
	}, 30*time.Second, 100*time.Millisecond, "the reassignment completes")
	md, err := adm.Metadata(ctx, "moving")
	require.NoError(t, err)
	assert.Equal(t, []int32{2, 3}, md.Topics["moving"].Partitions[0].Replicas)
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(c.byID(1).DataDir, "moving-0"))
		return os.IsNotExist(err)
	}, 30*time.Second, 100*time.Millisecond, "broker 1 deletes its replica")

	consumer := c.client(t, kgo.ConsumeTopics("moving"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < 300 {
		fs := consumer.PollFetches(pctx)
		require.NoError(t, pctx.Err(), "consumed %d", len(got))
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		require.Equal(t, strconv.Itoa(i), v)
	}
}
