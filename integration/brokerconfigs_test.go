package integration

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaConfigs runs kafka-configs.sh (Kafka's ConfigCommand) against k
// and returns its output; the command must succeed.
func kafkaConfigs(t *testing.T, j javaKafka, k *kafkad, args ...string) string {
	t.Helper()
	return j.run(t, "", nil, j.configCommand,
		append([]string{"--bootstrap-server", k.Addr, "--command-config", javaAdminConfig(t)}, args...)...)
}

// kafkaConfigsFails runs kafka-configs.sh expecting it to fail and
// returns its combined output.
func kafkaConfigsFails(t *testing.T, j javaKafka, k *kafkad, args ...string) string {
	t.Helper()
	cp := filepath.Join(j.lib(t), "*")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp, j.configCommand,
		"--bootstrap-server", k.Addr, "--command-config", javaAdminConfig(t)}, args...)...)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "kafka-configs %v succeeded:\n%s", args, out)
	return string(out)
}

// earliestOffset is the partition's log start offset (ListOffsets -2).
func earliestOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	offs, err := adm.ListStartOffsets(context.Background(), topic)
	require.NoError(t, err)
	o, ok := offs.Lookup(topic, 0)
	require.True(t, ok)
	require.NoError(t, o.Err)
	return o.Offset
}

// describedConfigs parses ConfigCommand's describe lines
// "  key=value sensitive=false synonyms={SOURCE:key=value, ...}" into
// key → the line's value and its synonyms text.
func describedConfigs(out string) map[string][2]string {
	got := map[string][2]string{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z.]+)=(\S*) sensitive=\w+ synonyms=\{(.*)\}$`).FindAllStringSubmatch(out, -1) {
		got[m[1]] = [2]string{m[2], m[3]}
	}
	return got
}

// TestBrokerConfigsCommandAppliesWithoutRestart is the acceptance
// test: kafka-configs.sh alters broker 1's log.retention.ms and
// log.cleaner.threads at run time. Old segments of a topic written before
// go (the log start offset moves) without a restart, the broker logs the
// cleaner's new thread count, and describe shows both as dynamic broker
// configs; --entity-default sets and describes the cluster-wide default;
// read-only keys and bad values are refused with Kafka's messages. It runs
// the ConfigCommand of every release in javaKafkaReleases.
func TestBrokerConfigsCommandAppliesWithoutRestart(t *testing.T) {
	forJavaReleases(t, testBrokerConfigsCommand)
}

func testBrokerConfigsCommand(t *testing.T, j javaKafka) {
	const topic = "bc-retention"
	k := startKafkad(t, brokerOpts{extra: []string{"--log.retention.check.interval.ms=300"}})
	ctx := context.Background()
	cl := k.client(t, kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(cl)
	_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"internal.segment.bytes": kadm.StringPtr("1024")}, topic)
	require.NoError(t, err)
	value := strings.Repeat("v", 200)
	for i := 0; i < 40; i++ {
		require.NoError(t, cl.ProduceSync(ctx, kgo.StringRecord(value)).FirstErr())
	}
	require.Zero(t, earliestOffset(t, adm, topic), "the default retention (7 days) keeps everything")

	out := kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--alter",
		"--add-config", "log.retention.ms=1000,log.cleaner.threads=2")
	assert.Contains(t, out, "Completed updating config for broker 1.")
	require.Eventually(t, func() bool { return earliestOffset(t, adm, topic) > 0 }, 20*time.Second, 200*time.Millisecond,
		"old segments are deleted under the new log.retention.ms, without a restart")
	assert.Contains(t, k.out.String(), "log cleaner threads 1 → 2")

	out = kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--describe")
	assert.Contains(t, out, "Dynamic configs for broker 1 are:")
	got := describedConfigs(out)
	assert.Equal(t, "1000", got["log.retention.ms"][0], "describe output:\n%s", out)
	assert.Contains(t, got["log.retention.ms"][1], "DYNAMIC_BROKER_CONFIG:log.retention.ms=1000")
	assert.Contains(t, got["log.retention.ms"][1], "DEFAULT_CONFIG:log.retention.ms=604800000")
	assert.Equal(t, "2", got["log.cleaner.threads"][0], "describe output:\n%s", out)
	assert.Len(t, got, 2, "only dynamic broker configs without --all:\n%s", out)

	// The topic's retention.ms default now comes from the broker's
	// dynamic value.
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	require.NoError(t, err)
	rc, err := rcs.On(topic, nil)
	require.NoError(t, err)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			assert.Equal(t, "1000", c.MaybeValue())
			assert.Equal(t, kmsg.ConfigSourceDynamicBrokerConfig, c.Source)
		}
	}

	out = kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-default", "--alter", "--add-config", "log.retention.bytes=1048576")
	assert.Contains(t, out, "Completed updating default config for brokers in the cluster.")
	out = kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-default", "--describe")
	assert.Contains(t, out, "Default configs for brokers in the cluster are:")
	got = describedConfigs(out)
	assert.Equal(t, [2]string{"1048576", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.bytes=1048576"}, got["log.retention.bytes"], "describe output:\n%s", out)

	out = kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--describe", "--all")
	assert.Contains(t, out, "All configs for broker 1 are:")
	got = describedConfigs(out)
	assert.Equal(t, "1048576", got["log.retention.bytes"][0], "describe --all output:\n%s", out)
	assert.Contains(t, got["log.retention.bytes"][1], "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.bytes=1048576")
	assert.Equal(t, "1", got["broker.id"][0], "describe --all output:\n%s", out)
	assert.Equal(t, "2", got["log.cleaner.threads"][0])

	out = kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--alter", "--delete-config", "log.retention.ms")
	assert.Contains(t, out, "Completed updating config for broker 1.")
	got = describedConfigs(kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--describe"))
	assert.NotContains(t, got, "log.retention.ms")

	out = kafkaConfigsFails(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "log.dirs=/elsewhere")
	assert.Contains(t, out, "Cannot update these configs dynamically: Set(log.dirs)")
	out = kafkaConfigsFails(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "log.cleaner.threads=5")
	assert.Contains(t, out, "Log cleaner threads cannot be increased to more than double the current value 2")
	out = kafkaConfigsFails(t, j, k, "--entity-type", "brokers", "--entity-default", "--alter", "--add-config", "log.segment.bytes=big")
	assert.Contains(t, out, "Invalid value big for configuration log.segment.bytes")
}

// logBytes is the size of a partition's .log files in a broker's data dir.
func logBytes(dir, topic string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, topic+"-0", "*.log"))
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestReplicationThrottleSlowsReassignment: a partition with 6 MB on
// broker 1 is reassigned to brokers 1 and 2 with both replication
// throttles at 50 KB/s (cluster-wide dynamic configs) and the topic's
// throttled replicas set as kafka-reassign-partitions.sh --throttle sets
// them. The new replica's log on disk grows at a bounded rate and the
// reassignment does not finish; once the throttle is removed it catches
// up and the reassignment completes.
func TestReplicationThrottleSlowsReassignment(t *testing.T) {
	const topic, rate = "bc-throttle", 50_000
	c := startCluster(t, 2)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ct.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, c.client(t))
	require.NoError(t, err)
	require.Zero(t, cresp.Topics[0].ErrorCode)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader == 1 })

	producer := c.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(200_000))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 600; i++ {
		value := make([]byte, 10_000) // random: compression cannot shrink it
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		producer.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	require.NoError(t, producer.Flush(ctx))
	leaderBytes := logBytes(c.byID(1).DataDir, topic)
	require.Greater(t, leaderBytes, int64(6_000_000))

	setRates := func(op kadm.IncrementalOp, v string) {
		t.Helper()
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: op, Name: "leader.replication.throttled.rate", Value: kadm.StringPtr(v)},
			{Op: op, Name: "follower.replication.throttled.rate", Value: kadm.StringPtr(v)},
		})
		require.NoError(t, err)
		require.NoError(t, resp[0].Err)
	}
	setRates(kadm.SetConfig, "50000")
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "leader.replication.throttled.replicas", Value: kadm.StringPtr("0:1")},
		{Op: kadm.SetConfig, Name: "follower.replication.throttled.replicas", Value: kadm.StringPtr("0:2")},
	}, topic)
	require.NoError(t, err)

	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, []int32{1, 2})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	require.NoError(t, err)
	require.NoError(t, res.Error())
	start := time.Now()
	follower := c.byID(2).DataDir

	require.Eventually(t, func() bool { return logBytes(follower, topic) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the new replica starts fetching")
	time.Sleep(5 * time.Second) // the measurement window
	copied, elapsed := logBytes(follower, topic), time.Since(start)
	// Kafka's quota lets one fetch (up to 1 MB per partition) through
	// before the rate is measured over its 10 s window; beyond that, the
	// rate bounds the copy.
	bound := int64(1<<20) + int64(rate*elapsed.Seconds())
	t.Logf("throttled: %d of %d bytes in %s (bound %d)", copied, leaderBytes, elapsed, bound)
	assert.LessOrEqual(t, copied, bound, "the throttle bounds the new replica's catch-up")
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	require.NoError(t, err)
	assert.NotEmpty(t, listed, "the throttled reassignment is still running")

	setRates(kadm.DeleteConfig, "")
	require.Eventually(t, func() bool {
		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
		return err == nil && len(listed) == 0
	}, 30*time.Second, 100*time.Millisecond, "without the throttle the reassignment completes")
	assert.Equal(t, leaderBytes, logBytes(follower, topic))
}
