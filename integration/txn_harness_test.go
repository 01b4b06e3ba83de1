package integration

// Transactions (exactly-once) end to end: the TestTxn* tests drive real,
// unmodified clients (kafka-clients and Kafka Streams 4.3.1,
// confluent-kafka-python, franz-go) through transactions and check what a
// user would: every record exactly once, aborted records never visible to
// read_committed consumers, the last stable offset, zombie fencing,
// timed-out transactions aborted, kafka-transactions.sh.
//
// KAFKAD_TXN_REFERENCE=kafka runs them against Apache Kafka instead of
// kafkad: KRaft nodes started from the jars `make compat-tools` installs in
// .cache/java/lib, with the same settings. That is how the tests
// themselves were checked: they pass against the reference, so a failure
// against kafkad is kafkad's.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnReference() bool { return os.Getenv("KAFKAD_TXN_REFERENCE") == "kafka" }

// startTxnBroker starts one broker with the given Kafka settings
// ("key=value"): kafkad with them as flags, or the reference.
func startTxnBroker(t *testing.T, settings ...string) *kafkad {
	t.Helper()
	if txnReference() {
		return startReferenceKafka(t, 1, settings)[0]
	}
	var flags []string
	for _, s := range settings {
		flags = append(flags, "--"+s)
	}
	return startKafkad(t, brokerOpts{extra: flags})
}

// startTxnCluster starts n brokers (RF=3 capable) with the given settings.
func startTxnCluster(t *testing.T, n int, settings ...string) *cluster {
	t.Helper()
	if txnReference() {
		c := &cluster{t: t, brokers: startReferenceKafka(t, n, settings)}
		c.waitBrokers(n)
		return c
	}
	var flags []string
	for _, s := range settings {
		flags = append(flags, "--"+s)
	}
	return startCluster(t, n, flags...)
}

// startReferenceKafka runs n Apache Kafka nodes, each broker and
// controller, as one KRaft cluster with a static quorum, on free loopback
// ports. The processes are *kafkad values so that the tests use them the
// same way (Addr, client, Kill); they cannot be restarted.
func startReferenceKafka(t *testing.T, n int, settings []string) []*kafkad {
	t.Helper()
	lib := javaKafkaPinned.lib(t)
	cp := filepath.Join(lib, "*")
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	clusterID := "A" + base64.RawURLEncoding.EncodeToString(b[:])[1:] // never a leading '-'
	type node struct {
		addr, ctrl, dir string
	}
	nodes := make([]node, n)
	var voters []string
	for i := range nodes {
		nodes[i] = node{
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
			ctrl: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
			dir:  t.TempDir(),
		}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, nodes[i].ctrl))
	}
	rf, isr := 1, 1
	if n >= 3 {
		rf, isr = 3, 2
	}
	var out []*kafkad
	for i, nd := range nodes {
		props := []string{
			"process.roles=broker,controller",
			fmt.Sprintf("node.id=%d", i+1),
			"listeners=PLAINTEXT://" + nd.addr + ",CONTROLLER://" + nd.ctrl,
			"advertised.listeners=PLAINTEXT://" + nd.addr,
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"inter.broker.listener.name=PLAINTEXT",
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"log.dirs=" + filepath.Join(nd.dir, "data"),
			"offsets.topic.replication.factor=" + strconv.Itoa(rf),
			"offsets.topic.num.partitions=10",
			"transaction.state.log.replication.factor=" + strconv.Itoa(rf),
			"transaction.state.log.min.isr=" + strconv.Itoa(isr),
			"transaction.state.log.num.partitions=10",
			"share.coordinator.state.topic.replication.factor=" + strconv.Itoa(rf),
			"share.coordinator.state.topic.min.isr=" + strconv.Itoa(isr),
			"group.initial.rebalance.delay.ms=0",
			"replica.lag.time.max.ms=5000",
		}
		props = append(props, settings...)
		path := filepath.Join(nd.dir, "server.properties")
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(props, "\n")+"\n"), 0o644))
		runTool(t, 60*time.Second, "", nil, "java", "-cp", cp, "kafka.tools.StorageTool",
			"format", "--config", path, "--cluster-id", clusterID)
		k := &kafkad{t: t, ID: int32(i + 1), Addr: nd.addr, DataDir: nd.dir, out: &syncBuffer{}}
		k.cmd = exec.Command("java", "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC",
			"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp, "kafka.Kafka", path)
		k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
		require.NoError(t, k.cmd.Start())
		k.exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) {
			_ = cmd.Wait()
			close(exited)
		}(k.cmd, k.exited)
		t.Cleanup(func() {
			if k.running() {
				k.Kill()
			}
			if t.Failed() {
				t.Logf("Apache Kafka node %d output (tail):\n%s", k.ID, txnTail(k.out.String(), 60))
			}
		})
		out = append(out, k)
	}
	for _, k := range out {
		k.waitReady()
	}
	return out
}

func txnTail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// ---- reading back --------------------------------------------------------

// txnConsumer is a franz-go consumer of every partition of topic from the
// start, without a group, at the given isolation level.
func txnConsumer(t *testing.T, seeds []string, topic string, committed bool) *kgo.Client {
	t.Helper()
	level := kgo.ReadUncommitted()
	if committed {
		level = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level),
		kgo.FetchMaxWait(200*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// txnPoll returns what one poll of at most d brings (nothing, if nothing
// arrives in that time), failing on fetch errors.
func txnPoll(t *testing.T, cl *kgo.Client, d time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := cl.PollFetches(ctx)
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
			t.Fatalf("fetching %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
	}
	return fs.Records()
}

// txnReadN reads until want records came (failing after 30 s), then
// polls once more for a second to make sure no more follow.
func txnReadN(t *testing.T, cl *kgo.Client, want int) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	for len(recs) < want {
		require.True(t, time.Now().Before(deadline), "read %d of %d records in 30s", len(recs), want)
		recs = append(recs, txnPoll(t, cl, time.Second)...)
	}
	recs = append(recs, txnPoll(t, cl, time.Second)...)
	require.Len(t, recs, want, "records read")
	return recs
}

func txnValues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// txnListOffset is ListOffsets' latest offset of one partition at an
// isolation level (0 read_uncommitted: the high watermark; 1
// read_committed: the last stable offset), asked of the leader.
func txnListOffset(t *testing.T, cl *kgo.Client, topic string, partition int32, isolation int8) int64 {
	t.Helper()
	o, err := txnTryListOffset(cl, topic, partition, isolation)
	require.NoError(t, err)
	return o
}

// txnTryListOffset is txnListOffset for require.Eventually conditions,
// which must not fail the test from their own goroutine.
func txnTryListOffset(cl *kgo.Client, topic string, partition int32, isolation int8) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.CurrentLeaderEpoch = -1
	rp.Timestamp = -1 // latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("ListOffsets %s/%d: answer for %d topics", topic, partition, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("ListOffsets %s/%d isolation %d: %w", topic, partition, isolation, err)
	}
	return p.Offset, nil
}

// txnProduce writes records in the client's open transaction and waits
// for them to be in the log.
func txnProduce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// txnRecords makes values prefix-0 .. prefix-(n-1) for one partition.
func txnRecords(topic string, partition int32, prefix string, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	return out
}

// txnEnd ends the client's transaction, committing or aborting.
func txnEnd(t *testing.T, cl *kgo.Client, commit kgo.TransactionEndTry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.EndTransaction(ctx, commit))
}

// txnProducer is a franz-go transactional producer that places records in
// the partitions they name.
func txnProducer(t *testing.T, seeds []string, txnID string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequestTimeoutOverhead(5 * time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}
