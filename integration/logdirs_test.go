package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkad/kafkad/controller/embedetcd"
)

// The log dir tools' main classes (kafka-log-dirs.sh,
// kafka-reassign-partitions.sh).
const (
	javaLogDirsCommand  = "org.apache.kafka.tools.LogDirsCommand"
	javaReassignCommand = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
)

// startTwoDirKafkad starts a broker with log.dirs naming two directories
// and returns it with them.
func startTwoDirKafkad(t *testing.T) (*kafkad, []string) {
	t.Helper()
	dirs := []string{t.TempDir(), t.TempDir()}
	k := startKafkad(t, brokerOpts{extra: []string{"--log.dirs=" + strings.Join(dirs, ",")}})
	return k, dirs
}

// partitionDirs lists the partition directories ("<topic>-<n>") of topic
// in dir.
func partitionDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		rest, ok := strings.CutPrefix(e.Name(), topic+"-")
		if _, err := strconv.Atoi(rest); ok && err == nil && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// segmentBytes is the size of the partition's .log files, what Kafka
// reports as a partition's size.
func segmentBytes(t *testing.T, dir string) int64 {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	require.NoError(t, err)
	var n int64
	for _, l := range logs {
		st, err := os.Stat(l)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

// logDirsOutput is the JSON kafka-log-dirs.sh --describe prints.
type logDirsOutput struct {
	Version int `json:"version"`
	Brokers []struct {
		Broker  int32 `json:"broker"`
		LogDirs []struct {
			LogDir     string  `json:"logDir"`
			Error      *string `json:"error"`
			Partitions []struct {
				Partition string `json:"partition"`
				Size      int64  `json:"size"`
				OffsetLag int64  `json:"offsetLag"`
				IsFuture  bool   `json:"isFuture"`
			} `json:"partitions"`
		} `json:"logDirs"`
	} `json:"brokers"`
}

func produceValues(t *testing.T, cl *kgo.Client, topic string, partition int32, from, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(strconv.Itoa(from + i))}
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

// TestLogDirsToolWithTwoLogDirs: a broker with two log.dirs spreads a
// topic's partitions over both, kafka-log-dirs.sh --describe lists both
// dirs (the embedded etcd's directory is no partition) with every
// partition once, its size as on disk and no lag, and after a restart
// every partition is found again with its records.
func TestLogDirsToolWithTwoLogDirs(t *testing.T) {
	const topic = "spread"
	k, dirs := startTwoDirKafkad(t)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	_, err := adm.CreateTopic(ctx, 4, 1, nil, topic)
	require.NoError(t, err)
	cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(4) {
		produceValues(t, cl, topic, p, 0, 10+int(p))
	}
	for _, d := range dirs {
		assert.Len(t, partitionDirs(t, d, topic), 2, "partitions in %s", d)
	}
	require.DirExists(t, filepath.Join(dirs[0], "__etcd"))

	seen := map[string]string{}
	forJavaReleases(t, func(t *testing.T, j javaKafka) {
		out := j.run(t, "", nil, javaLogDirsCommand, "--describe", "--bootstrap-server", k.Addr,
			"--command-config", javaAdminConfig(t))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.GreaterOrEqual(t, len(lines), 3, out)
		assert.Equal(t, "Querying brokers for log directories information", lines[0])
		assert.Equal(t, "Received log directory information from brokers 1", lines[1])
		var got logDirsOutput
		require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &got), out)
		require.Len(t, got.Brokers, 1, out)
		assert.Equal(t, int32(1), got.Brokers[0].Broker)
		clear(seen)
		var reported []string
		for _, ld := range got.Brokers[0].LogDirs {
			reported = append(reported, ld.LogDir)
			assert.Nil(t, ld.Error, ld.LogDir)
			for _, p := range ld.Partitions {
				require.NotContains(t, seen, p.Partition, "listed twice:\n%s", out)
				seen[p.Partition] = ld.LogDir
				assert.Equal(t, segmentBytes(t, filepath.Join(ld.LogDir, p.Partition)), p.Size, p.Partition)
				assert.Positive(t, p.Size, p.Partition)
				assert.Zero(t, p.OffsetLag, p.Partition)
				assert.False(t, p.IsFuture, p.Partition)
			}
		}
		assert.ElementsMatch(t, dirs, reported)
		for p := range 4 {
			assert.Contains(t, seen, fmt.Sprintf("%s-%d", topic, p), out)
		}
	})

	k.Stop()
	k.Start()
	described, err := kadm.NewClient(k.client(t)).DescribeAllLogDirs(ctx, nil)
	require.NoError(t, err)
	for p := range int32(4) {
		d, ok := described[1].LookupPartition(topic, p)
		require.True(t, ok, "partition %d after restart", p)
		assert.Equal(t, seen[fmt.Sprintf("%s-%d", topic, p)], d.Dir)
	}
	offsets, err := kadm.NewClient(k.client(t)).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	for p := range int32(4) {
		o, _ := offsets.Lookup(topic, p)
		assert.Equal(t, int64(10+p), o.Offset, "partition %d", p)
	}
}

// TestReassignLogDirWhileProducing moves a replica to the broker's other
// log dir with kafka-reassign-partitions.sh --execute (a reassignment
// naming "log_dirs") while a producer keeps writing; --verify reports the
// move complete, the partition is on disk only in the new dir, and a
// consumer reading from the start gets every acknowledged record once, in
// order.
func TestReassignLogDirWhileProducing(t *testing.T) {
	const topic = "moving"
	k, dirs := startTwoDirKafkad(t)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	_, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	require.NoError(t, err)
	cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, cl, topic, 0, 0, 5000)

	from, to := dirs[0], dirs[1]
	if len(partitionDirs(t, from, topic)) == 0 {
		from, to = to, from
	}
	require.Equal(t, []string{topic + "-0"}, partitionDirs(t, from, topic))

	prod := produceDuringMove(t, ctx, cl, 5000, 50, func(v string) *kgo.Record {
		return &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}
	})

	plan := filepath.Join(t.TempDir(), "reassign.json")
	require.NoError(t, os.WriteFile(plan, fmt.Appendf(nil,
		`{"version":1,"partitions":[{"topic":%q,"partition":0,"replicas":[1],"log_dirs":[%q]}]}`, topic, to), 0o644))
	adminCfg := javaAdminConfig(t)
	tool := func(args ...string) string {
		return javaRun(t, "", nil, javaReassignCommand, append([]string{"--bootstrap-server", k.Addr,
			"--command-config", adminCfg, "--reassignment-json-file", plan}, args...)...)
	}
	out := tool("--execute")
	assert.Contains(t, out, fmt.Sprintf("Successfully started moving log directory to %s for replica %s-0 with broker 1", to, topic), out)
	require.Eventually(t, func() bool {
		// --preserve-throttles: a completed --verify otherwise clears the
		// throttle configs through dynamic broker configs.
		out = tool("--verify", "--preserve-throttles")
		return strings.Contains(out, "Reassignment of replica "+topic+"-0-1 completed successfully.")
	}, 90*time.Second, time.Second, "last --verify:\n%s", out)
	assert.NotContains(t, out, "in progress", out)

	// Keep producing a little past the move, then stop.
	moved := prod.acked.Load()
	require.Eventually(t, func() bool { return prod.acked.Load() > moved+500 }, 30*time.Second, 10*time.Millisecond)
	prod.halt()

	assert.Equal(t, []string{topic + "-0"}, partitionDirs(t, to, topic))
	require.Eventually(t, func() bool { return len(partitionDirs(t, from, topic)) == 0 }, 10*time.Second, 50*time.Millisecond)
	d, err := adm.DescribeAllLogDirs(ctx, nil)
	require.NoError(t, err)
	p, ok := d[1].LookupPartition(topic, 0)
	require.True(t, ok)
	assert.Equal(t, to, p.Dir)
	assert.False(t, p.IsFuture)

	want := int(prod.acked.Load())
	recs := javaConsumeAll(t, k, topic, want)
	require.Len(t, recs, want)
	for i, r := range recs {
		require.Equal(t, strconv.Itoa(i), string(r.Value), "record at offset %d", r.Offset)
		require.Equal(t, int64(i), r.Offset)
	}
}

// TestAlterReplicaLogDirsErrors: with franz-go, a path outside log.dirs
// is LOG_DIR_NOT_FOUND, a partition not on the broker
// REPLICA_NOT_AVAILABLE, and a move to the dir the replica is in
// succeeds at once; DescribeLogDirs for one topic lists only it, with the
// file system's sizes.
func TestAlterReplicaLogDirsErrors(t *testing.T) {
	k, dirs := startTwoDirKafkad(t)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	_, err := adm.CreateTopics(ctx, 1, 1, nil, "here", "other")
	require.NoError(t, err)

	described, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"here": {0: {}}})
	require.NoError(t, err)
	var current string
	var total int
	described.Each(func(d kadm.DescribedLogDir) {
		assert.NoError(t, d.Err)
		assert.Positive(t, d.TotalBytes, d.Dir)
		assert.Positive(t, d.UsableBytes, d.Dir)
		assert.NotContains(t, d.Topics, "other", d.Dir)
		if _, ok := d.Topics["here"]; ok {
			current = d.Dir
		}
		total++
	})
	assert.Equal(t, 2, total)
	require.Contains(t, dirs, current)

	alter := func(dir, topic string, p int32) error {
		t.Helper()
		var req kadm.AlterReplicaLogDirsReq
		req.Add(dir, kadm.TopicsSet{topic: {p: {}}})
		// To the broker itself: AlterAllReplicaLogDirs would route by
		// metadata and fail an unknown topic in the client.
		resp, err := adm.AlterBrokerReplicaLogDirs(ctx, 1, req)
		require.NoError(t, err)
		var perr error
		seen := 0
		resp.Each(func(r kadm.AlterReplicaLogDirsResponse) { perr = r.Err; seen++ })
		require.Equal(t, 1, seen)
		return perr
	}
	assert.True(t, errors.Is(alter(filepath.Join(t.TempDir(), "elsewhere"), "here", 0), kerr.LogDirNotFound))
	assert.True(t, errors.Is(alter(current, "nope", 0), kerr.ReplicaNotAvailable))
	assert.True(t, errors.Is(alter(current, "here", 7), kerr.ReplicaNotAvailable))
	assert.NoError(t, alter(current, "here", 0))
	d, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"here": {0: {}}})
	require.NoError(t, err)
	p, ok := d[1].LookupPartition("here", 0)
	require.True(t, ok)
	assert.Equal(t, current, p.Dir)
	assert.False(t, p.IsFuture)
}

// TestLogDirMoveSurvivesKill kills the broker (SIGKILL) right after
// AlterReplicaLogDirs started a move: after the restart the move is
// resumed or found complete, the replica ends in the new dir with no
// future or old directory left, and every acknowledged record is there
// once, in order.
func TestLogDirMoveSurvivesKill(t *testing.T) {
	const topic, n = "killed-move", 20000
	k, dirs := startTwoDirKafkad(t)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	_, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	require.NoError(t, err)
	cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	pad := strings.Repeat("x", 1000)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i) + " " + pad)}
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	from, to := dirs[0], dirs[1]
	if len(partitionDirs(t, from, topic)) == 0 {
		from, to = to, from
	}

	var req kadm.AlterReplicaLogDirsReq
	req.Add(to, kadm.TopicsSet{topic: {0: {}}})
	resp, err := adm.AlterBrokerReplicaLogDirs(ctx, 1, req)
	require.NoError(t, err)
	resp.Each(func(r kadm.AlterReplicaLogDirsResponse) { require.NoError(t, r.Err) })
	k.Kill()
	futures, _ := filepath.Glob(filepath.Join(to, topic+"-0.*-future"))
	t.Logf("killed with future logs %v", futures)

	k.Start()
	adm = kadm.NewClient(k.client(t))
	require.Eventually(t, func() bool {
		d, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return false
		}
		var where []string
		d.Each(func(ld kadm.DescribedLogDir) {
			if p, ok := ld.Topics[topic][0]; ok && !p.IsFuture {
				where = append(where, ld.Dir)
			}
		})
		return len(where) == 1 && where[0] == to
	}, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		left, _ := filepath.Glob(filepath.Join(to, topic+"-0.*"))
		return len(partitionDirs(t, from, topic)) == 0 && len(left) == 0
	}, 10*time.Second, 50*time.Millisecond)

	got := javaConsumeAll(t, k, topic, n)
	require.Len(t, got, n)
	for i, r := range got {
		require.Equal(t, strconv.Itoa(i)+" "+pad, string(r.Value), "record at offset %d", r.Offset)
	}
}

// TestFollowerLogDirMoveUnderAcksAll moves a follower's replica to its
// other log dir while an acks=all producer writes to the partition
// (RF=2, min.insync.replicas=2, so every acknowledged record is on the
// follower): the follower stays in the ISR, and after the leader shuts
// down the moved replica leads with every acknowledged record once, in
// order.
func TestFollowerLogDirMoveUnderAcksAll(t *testing.T) {
	const topic = "follower-move"
	etcd := embedetcd.StartTest(t, zerolog.Nop())
	c := &cluster{t: t}
	dirs := map[int32][]string{}
	for id := int32(1); id <= 2; id++ {
		dirs[id] = []string{t.TempDir(), t.TempDir()}
		c.brokers = append(c.brokers, startKafkad(t, brokerOpts{etcdEndpoints: etcd.Endpoints(), id: id, extra: []string{
			"--log.dirs=" + strings.Join(dirs[id], ","),
			"--broker.session.timeout.ms=3000", "--replica.lag.time.max.ms=5000",
		}}))
	}
	c.waitBrokers(2)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 2, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	view := c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader > 0 && v[0].isr == "[1 2]" })
	leader := view[0].leader
	follower := 3 - leader

	producer := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	prod := produceDuringMove(t, ctx, producer, 0, 20, kgo.StringRecord)
	require.Eventually(t, func() bool { return prod.acked.Load() >= 2000 }, 30*time.Second, 10*time.Millisecond)

	from, to := dirs[follower][0], dirs[follower][1]
	if len(partitionDirs(t, from, topic)) == 0 {
		from, to = to, from
	}
	var req kadm.AlterReplicaLogDirsReq
	req.Add(to, kadm.TopicsSet{topic: {0: {}}})
	alters, err := adm.AlterBrokerReplicaLogDirs(ctx, follower, req)
	require.NoError(t, err)
	alters.Each(func(r kadm.AlterReplicaLogDirsResponse) { require.NoError(t, r.Err) })
	require.Eventually(t, func() bool {
		d, err := adm.DescribeBrokerLogDirs(ctx, follower, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false
		}
		p, ok := d.Lookup(to, topic, 0)
		_, stillFrom := d.Lookup(from, topic, 0)
		return ok && !p.IsFuture && !stillFrom
	}, 30*time.Second, 50*time.Millisecond)
	moved := prod.acked.Load()
	require.Eventually(t, func() bool { return prod.acked.Load() >= moved+1000 }, 30*time.Second, 10*time.Millisecond)
	prod.halt()
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].isr == "[1 2]" })

	c.byID(leader).Stop()
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader == follower })
	want := int(prod.acked.Load())
	got := javaConsumeAll(t, c.byID(follower), topic, want)
	require.Len(t, got, want)
	for i, r := range got {
		require.Equal(t, strconv.Itoa(i), string(r.Value), "record at offset %d", r.Offset)
	}
}

// movingProducer produces numbered records while a log dir move runs.
type movingProducer struct {
	acked atomic.Int64 // the next record's number
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// produceDuringMove produces batches of n records valued with their
// numbers (from, from+1, ...) with ProduceSync until halted; acked counts
// on from the records acknowledged, so the values read back are exactly
// from..acked-1 in order.
func produceDuringMove(t *testing.T, ctx context.Context, cl *kgo.Client, from int64, n int, record func(value string) *kgo.Record) *movingProducer {
	p := &movingProducer{stop: make(chan struct{})}
	p.acked.Store(from)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			next := int(p.acked.Load())
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = record(strconv.Itoa(next + i))
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("produce during the move: %v", err)
				return
			}
			p.acked.Add(int64(n))
		}
	}()
	t.Cleanup(p.halt)
	return p
}

// halt stops producing and waits for the last batch.
func (p *movingProducer) halt() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}
