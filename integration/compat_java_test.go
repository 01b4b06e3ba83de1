package integration

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Java part of the compatibility suite: Apache Kafka's own command-line
// tools and kafka-clients (integration/java/pom.xml), for each release in
// javaKafkaReleases, each reported as its own rows. The tools run as their
// main classes, since the Maven artifacts carry no bin/*.sh scripts. Every
// check reads back what it changed: records with franz-go or the console
// consumer, admin changes with kadm or the tool's describe output.

const (
	javaToolsClient = "java kafka-tools"
	javaClientsName = "java kafka-clients"
)

// javaKafka is one Apache Kafka release whose jars `make compat-tools`
// installs under .cache/.
type javaKafka struct {
	version string
	dir     string // the jars, relative to .cache/
	// configCommand is kafka-configs' main class: the Scala one in the
	// core jar up to 4.3, org.apache.kafka.tools.ConfigCommand from 4.4.
	configCommand string
}

// javaKafkaPinned is the release integration/java/pom.xml pins; the
// transaction tests run its jars too. The Makefile's KAFKA_NEXT installs
// the other release from the same pom.
var javaKafkaPinned = javaKafka{version: "4.3.1", dir: "java/lib", configCommand: "kafka.admin.ConfigCommand"}

// javaKafkaReleases are the releases the Java checks run against.
var javaKafkaReleases = []javaKafka{
	javaKafkaPinned,
	{version: "4.4.0", dir: "java-4.4.0/lib", configCommand: "org.apache.kafka.tools.ConfigCommand"},
}

// lib returns the directory of the release's jars, failing with the
// install hint when they are missing or of another version (the pom or
// KAFKA_NEXT changed without this list following).
func (j javaKafka) lib(t *testing.T) string {
	t.Helper()
	lib := compatTool(t, j.dir)
	jar := filepath.Join(lib, "kafka-clients-"+j.version+".jar")
	if _, err := os.Stat(jar); err != nil {
		found, _ := filepath.Glob(filepath.Join(lib, "kafka-clients-*.jar"))
		t.Fatalf("%s is missing (found %v): run `make compat-tools`, and keep javaKafkaReleases in step with the pom and the Makefile's KAFKA_NEXT", jar, found)
	}
	return lib
}

// The tools' main classes.
const (
	javaTopicCommand        = "org.apache.kafka.tools.TopicCommand"
	javaConsoleProducer     = "org.apache.kafka.tools.ConsoleProducer"
	javaConsoleConsumer     = "org.apache.kafka.tools.consumer.ConsoleConsumer"
	javaConsumerGroups      = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
	javaProducerPerformance = "org.apache.kafka.tools.ProducerPerformance"
	javaConsumerPerformance = "org.apache.kafka.tools.ConsumerPerformance"
)

// run runs one JVM with the release's jars (plus extra class path
// entries) and returns its standard output. Client logging goes to stderr
// at WARN.
func (j javaKafka) run(t *testing.T, stdin string, extraCP []string, class string, args ...string) string {
	t.Helper()
	cp := strings.Join(append(extraCP, filepath.Join(j.lib(t), "*")), string(os.PathListSeparator))
	jvm := []string{
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", // start-up over throughput
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", cp, class,
	}
	return runTool(t, 90*time.Second, stdin, nil, "java", append(jvm, args...)...)
}

// javaRun runs a class of the pinned release (see javaKafka.run).
func javaRun(t *testing.T, stdin string, extraCP []string, class string, args ...string) string {
	t.Helper()
	return javaKafkaPinned.run(t, stdin, extraCP, class, args...)
}

// forJavaReleases runs fn once per release in javaKafkaReleases, as a
// subtest named by the version.
func forJavaReleases(t *testing.T, fn func(t *testing.T, j javaKafka)) {
	for _, j := range javaKafkaReleases {
		t.Run(j.version, func(t *testing.T) { fn(t, j) })
	}
}

// javaAdminConfig writes a client properties file with tight timeouts for
// the tools' --command-config, so that a broker that does not answer fails
// the check in seconds instead of the clients' one-minute default.
func javaAdminConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.properties")
	require.NoError(t, os.WriteFile(path, []byte("request.timeout.ms=10000\ndefault.api.timeout.ms=20000\n"), 0o644))
	return path
}

// javaConsumeAll reads want records from the start of every partition of
// topic with franz-go (no group), then makes sure no more follow.
func javaConsumeAll(t *testing.T, k *kafkad, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := k.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	var recs []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(recs) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("fetching %s: partition %d: %v", topic, e.Partition, e.Err)
			}
		}
		recs = append(recs, fs.Records()...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	recs = append(recs, cl.PollFetches(ctx).Records()...)
	cancel()
	require.Len(t, recs, want, "records in %s", topic)
	return recs
}

// javaCheckPartitionOrder checks that the records of each partition have
// dense offsets from 0 in the order given, that a key lives in exactly one
// partition, and that seq (from the record) rises within each partition:
// per-partition order is the produce order.
func javaCheckPartitionOrder(t *testing.T, recs []*kgo.Record, seq func(*kgo.Record) int) {
	t.Helper()
	next := map[int32]int64{}
	lastSeq := map[int32]int{}
	keyPart := map[string]int32{}
	for _, r := range recs {
		require.Equal(t, next[r.Partition], r.Offset, "partition %d: offsets not dense", r.Partition)
		next[r.Partition]++
		s := seq(r)
		if last, ok := lastSeq[r.Partition]; ok {
			require.Greater(t, s, last, "partition %d: record %d after %d", r.Partition, s, last)
		}
		lastSeq[r.Partition] = s
		if r.Key != nil {
			if p, ok := keyPart[string(r.Key)]; ok {
				require.Equal(t, p, r.Partition, "key %q in two partitions", r.Key)
			}
			keyPart[string(r.Key)] = r.Partition
		}
	}
}

func javaHeaders(r *kgo.Record) string {
	hs := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = h.Key + "=" + string(h.Value)
	}
	return strings.Join(hs, ",")
}

// javaEndOffsets returns the high watermark of each partition of topic.
func javaEndOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// javaCommitted returns a group's committed offsets in topic.
func javaCommitted(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		require.NoError(t, o.Err)
		out[p] = o.At
	}
	return out
}

// javaProduce writes records with franz-go and waits for them.
func javaProduce(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// TestCompatJavaTools drives Apache Kafka's command-line tools of each
// release against one broker (a fresh one per release).
func TestCompatJavaTools(t *testing.T) { forJavaReleases(t, testCompatJavaTools) }

func testCompatJavaTools(t *testing.T, j javaKafka) {
	k := startCompatKafkad(t, brokerOpts{})
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	adminCfg := javaAdminConfig(t)
	tool := func(t *testing.T, stdin, class string, args ...string) string {
		t.Helper()
		return j.run(t, stdin, nil, class, append([]string{"--bootstrap-server", k.Addr}, args...)...)
	}
	admin := func(t *testing.T, class string, args ...string) string {
		t.Helper()
		return tool(t, "", class, append([]string{"--command-config", adminCfg}, args...)...)
	}
	// producer sends franz-go records to the partitions they name.
	producer := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	compatCheck(t, javaToolsClient, j.version, "kafka-topics create/describe/alter/delete", func(t *testing.T) {
		const topic = "jt-topics"
		out := admin(t, javaTopicCommand, "--create", "--topic", topic, "--partitions", "2",
			"--replication-factor", "1", "--config", "retention.ms=3600000", "--config", "max.message.bytes=200000")
		assert.Contains(t, out, "Created topic "+topic+".")
		details, err := adm.ListTopics(ctx, topic)
		require.NoError(t, err)
		require.NoError(t, details[topic].Err)
		require.Len(t, details[topic].Partitions, 2)
		cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
		require.NoError(t, err)
		cfg, err := cfgs.On(topic, nil)
		require.NoError(t, err)
		got := map[string]string{}
		for _, c := range cfg.Configs {
			got[c.Key] = c.MaybeValue()
		}
		assert.Equal(t, "3600000", got["retention.ms"])
		assert.Equal(t, "200000", got["max.message.bytes"])

		admin(t, javaTopicCommand, "--alter", "--topic", topic, "--partitions", "5")
		// The new partitions take records.
		javaProduce(t, producer, []*kgo.Record{{Topic: topic, Partition: 4, Key: []byte("k"), Value: []byte("in partition 4")}})
		recs := javaConsumeAll(t, k, topic, 1)
		assert.Equal(t, int32(4), recs[0].Partition)
		assert.Equal(t, "in partition 4", string(recs[0].Value))

		out = admin(t, javaTopicCommand, "--describe", "--topic", topic)
		head := regexp.MustCompile(`(?m)^Topic: (\S+)\tTopicId: (\S+)\tPartitionCount: (\d+)\tReplicationFactor: (\d+)\tConfigs: (.*)$`).FindStringSubmatch(out)
		require.NotNil(t, head, "describe output:\n%s", out)
		assert.Equal(t, topic, head[1])
		id := details[topic].ID
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(id[:]), head[2], "Kafka prints topic IDs URL-safe, unpadded")
		assert.Equal(t, "5", head[3])
		assert.Equal(t, "1", head[4])
		// Apache Kafka lists min.insync.replicas here too: a subset, then.
		assert.Subset(t, strings.Split(head[5], ","), []string{"retention.ms=3600000", "max.message.bytes=200000"})
		v := viewOf(t, k, topic)
		parts := regexp.MustCompile(`(?m)^\tTopic: `+topic+`\tPartition: (\d+)\tLeader: (\d+)\tReplicas: (\d+)\tIsr: (\d+)\b`).FindAllStringSubmatch(out, -1)
		require.Len(t, parts, 5, "describe output:\n%s", out)
		for i, m := range parts {
			assert.Equal(t, strconv.Itoa(i), m[1])
			d := v.partitions[int32(i)]
			assert.Equal(t, []string{fmt.Sprint(d.Leader), fmt.Sprint(d.Replicas[0]), fmt.Sprint(d.ISR[0])}, m[2:], "partition %d", i)
		}

		admin(t, javaTopicCommand, "--delete", "--topic", topic)
		require.Eventually(t, func() bool {
			ts, err := adm.ListTopics(ctx)
			return err == nil && !ts.Has(topic)
		}, 10*time.Second, 100*time.Millisecond, "topic still listed after delete")
	})

	codecIDs := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		compatCheck(t, javaToolsClient, j.version, "kafka-console-producer keys/headers acks=all "+codec, func(t *testing.T) {
			topic := "jt-produce-" + codec
			_, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
			require.NoError(t, err)
			// Lines are "headers<TAB>key<TAB>value"; keys pin records to
			// partitions and values compress well.
			const n = 200
			var in strings.Builder
			for i := 0; i < n; i++ {
				fmt.Fprintf(&in, "seq:%d,codec:%s\tkey-%d\tvalue-%d-%s\n", i, codec, i%5, i, strings.Repeat("abc", i%40))
			}
			tool(t, in.String(), javaConsoleProducer, "--topic", topic,
				"--compression-codec", codec, "--request-required-acks", "all",
				"--reader-property", "parse.key=true", "--reader-property", "parse.headers=true",
				"--command-property", "enable.idempotence=true", "--command-property", "linger.ms=20")

			recs := javaConsumeAll(t, k, topic, n)
			seen := map[int]bool{}
			seqOf := map[*kgo.Record]int{}
			for _, r := range recs {
				require.Len(t, r.Headers, 2, "headers of %s", r.Value)
				require.Equal(t, "seq", r.Headers[0].Key)
				i, err := strconv.Atoi(string(r.Headers[0].Value))
				require.NoError(t, err)
				require.False(t, seen[i], "record %d twice", i)
				seen[i] = true
				seqOf[r] = i
				assert.Equal(t, "codec="+codec, r.Headers[1].Key+"="+string(r.Headers[1].Value))
				assert.Equal(t, fmt.Sprintf("key-%d", i%5), string(r.Key))
				assert.Equal(t, fmt.Sprintf("value-%d-%s", i, strings.Repeat("abc", i%40)), string(r.Value))
				assert.Equal(t, codecIDs[codec], r.Attrs.CompressionType(), "record %d: batch codec", i)
				assert.GreaterOrEqual(t, r.ProducerID, int64(0), "record %d: not idempotent", i)
			}
			javaCheckPartitionOrder(t, recs, func(r *kgo.Record) int { return seqOf[r] })
		})
	}

	compatCheck(t, javaToolsClient, j.version, "kafka-console-consumer partition from earliest, max-messages", func(t *testing.T) {
		const topic = "jt-console"
		_, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
		require.NoError(t, err)
		var recs []*kgo.Record
		for i := 0; i < 40; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2),
				Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(i))}, {Key: "src", Value: []byte("franz-go")}}})
		}
		javaProduce(t, producer, recs)
		consume := func(partition, max int) []string {
			out := tool(t, "", javaConsoleConsumer, "--topic", topic,
				"--partition", strconv.Itoa(partition), "--offset", "earliest", "--max-messages", strconv.Itoa(max),
				"--timeout-ms", "20000",
				"--formatter-property", "print.partition=true", "--formatter-property", "print.offset=true",
				"--formatter-property", "print.headers=true", "--formatter-property", "print.key=true")
			return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		}
		// All of partition 0, then the first 7 of partition 1's 20.
		for _, c := range []struct{ partition, max int }{{0, 20}, {1, 7}} {
			lines := consume(c.partition, c.max)
			require.Len(t, lines, c.max, "partition %d: %q", c.partition, lines)
			for off, line := range lines {
				i := 2*off + c.partition
				want := fmt.Sprintf("Partition:%d\tOffset:%d\tseq:%d,src:franz-go\tk%d\tv%d", c.partition, off, i, i, i)
				assert.Equal(t, want, line)
			}
		}
	})

	compatCheck(t, javaToolsClient, j.version, "kafka-console-consumer group from-beginning, max-messages", func(t *testing.T) {
		const topic, group = "jt-console-group", "jt-console-group"
		_, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		require.NoError(t, err)
		const n = 60
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3),
				Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(i))}}})
		}
		javaProduce(t, producer, recs)
		out := tool(t, "", javaConsoleConsumer, "--topic", topic, "--group", group,
			"--from-beginning", "--max-messages", strconv.Itoa(n), "--timeout-ms", "30000",
			"--formatter-property", "print.partition=true", "--formatter-property", "print.offset=true",
			"--formatter-property", "print.headers=true", "--formatter-property", "print.key=true")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, n, "%q", lines)
		next := map[int]int{}
		for _, line := range lines {
			var p, off, i int
			_, err := fmt.Sscanf(line, "Partition:%d\tOffset:%d\tseq:%d", &p, &off, &i)
			require.NoError(t, err, "line %q", line)
			require.Equal(t, next[p], off, "partition %d out of order", p)
			next[p]++
			assert.Equal(t, fmt.Sprintf("Partition:%d\tOffset:%d\tseq:%d\tk%d\tv%d", i%3, off, i, i, i), line)
			assert.Equal(t, i/3, off)
		}
		// The consumer committed its position on the way out.
		assert.Equal(t, javaEndOffsets(t, adm, topic), javaCommitted(t, adm, group, topic))
	})

	compatCheck(t, javaToolsClient, j.version, "kafka-consumer-groups list/describe lag/reset offsets/delete", func(t *testing.T) {
		const topic, group = "jt-groups", "jt-groups-group"
		_, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
		require.NoError(t, err)
		// 20 records in partition 0, 10 in partition 1.
		var recs []*kgo.Record
		for i := 0; i < 30; i++ {
			p := int32(0)
			if i%3 == 2 {
				p = 1
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))})
		}
		javaProduce(t, producer, recs)
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 15, LeaderEpoch: -1})
		offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 4, LeaderEpoch: -1})
		committed, err := adm.CommitOffsets(ctx, group, offs)
		require.NoError(t, err)
		require.NoError(t, committed.Error())

		cg := func(t *testing.T, args ...string) string {
			t.Helper()
			return admin(t, javaConsumerGroups, append([]string{"--timeout", "20000"}, args...)...)
		}
		out := cg(t, "--list")
		assert.Contains(t, strings.Fields(out), group)

		// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
		out = cg(t, "--describe", "--group", group)
		rows := map[string][]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 9 && f[0] == group {
				rows[f[2]] = f
			}
		}
		require.Len(t, rows, 2, "describe output:\n%s", out)
		assert.Equal(t, []string{group, topic, "0", "15", "20", "5", "-", "-", "-"}, rows["0"])
		assert.Equal(t, []string{group, topic, "1", "4", "10", "6", "-", "-", "-"}, rows["1"])

		out = cg(t, "--reset-offsets", "--group", group, "--topic", topic, "--shift-by", "-3", "--execute")
		assert.Equal(t, map[int32]int64{0: 12, 1: 1}, javaCommitted(t, adm, group, topic), "reset output:\n%s", out)

		cg(t, "--delete", "--group", group)
		groups, err := adm.ListGroups(ctx)
		require.NoError(t, err)
		assert.NotContains(t, groups.Groups(), group)
		assert.Empty(t, javaCommitted(t, adm, group, topic))
	})

	compatCheck(t, javaToolsClient, j.version, "kafka-configs describe/alter topic configs", func(t *testing.T) {
		const topic = "jt-configs"
		_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000000")}, topic)
		require.NoError(t, err)
		configs := func(t *testing.T) map[string]*kadm.Config {
			t.Helper()
			rcs, err := adm.DescribeTopicConfigs(ctx, topic)
			require.NoError(t, err)
			rc, err := rcs.On(topic, nil)
			require.NoError(t, err)
			require.NoError(t, rc.Err)
			out := map[string]*kadm.Config{}
			for i := range rc.Configs {
				out[rc.Configs[i].Key] = &rc.Configs[i]
			}
			return out
		}
		cfg := func(t *testing.T, args ...string) string {
			t.Helper()
			return admin(t, j.configCommand, append([]string{"--entity-type", "topics", "--entity-name", topic}, args...)...)
		}

		out := cfg(t, "--alter", "--add-config", "retention.ms=7200000,cleanup.policy=compact,max.message.bytes=65536")
		assert.Contains(t, out, "Completed updating config for topic "+topic+".")
		got := configs(t)
		assert.Equal(t, "7200000", got["retention.ms"].MaybeValue())
		assert.Equal(t, "compact", got["cleanup.policy"].MaybeValue())
		assert.Equal(t, "65536", got["max.message.bytes"].MaybeValue())

		cfg(t, "--alter", "--delete-config", "cleanup.policy")
		got = configs(t)
		assert.Equal(t, "delete", got["cleanup.policy"].MaybeValue(), "cleanup.policy back to its default")
		assert.NotEqual(t, "DYNAMIC_TOPIC_CONFIG", got["cleanup.policy"].Source.String())
		assert.Equal(t, "7200000", got["retention.ms"].MaybeValue())

		// "Dynamic configs for topic t are:" then "  key=value sensitive=... synonyms={...}".
		out = cfg(t, "--describe")
		assert.Contains(t, out, "Dynamic configs for topic "+topic+" are:")
		dynamic := map[string]string{}
		for _, m := range regexp.MustCompile(`(?m)^  ([a-z.]+)=(\S*) sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:`).FindAllStringSubmatch(out, -1) {
			dynamic[m[1]] = m[2]
		}
		assert.Equal(t, map[string]string{"retention.ms": "7200000", "max.message.bytes": "65536"}, dynamic, "describe output:\n%s", out)
	})

	compatCheck(t, javaToolsClient, j.version, "kafka-producer-perf-test", func(t *testing.T) {
		const topic, n, size = "jt-perf-produce", 2000, 100
		_, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		require.NoError(t, err)
		out := j.run(t, "", nil, javaProducerPerformance, "--bootstrap-server", k.Addr, "--topic", topic,
			"--num-records", strconv.Itoa(n), "--record-size", strconv.Itoa(size), "--throughput", "-1",
			"--command-property", "acks=all", "linger.ms=5", "request.timeout.ms=10000", "delivery.timeout.ms=30000")
		m := regexp.MustCompile(`(?m)^(\d+) records sent, .* ms avg latency`).FindAllStringSubmatch(out, -1)
		require.NotEmpty(t, m, "output:\n%s", out)
		assert.Equal(t, strconv.Itoa(n), m[len(m)-1][1], "final summary:\n%s", out)
		recs := javaConsumeAll(t, k, topic, n)
		for _, r := range recs {
			require.Nil(t, r.Key)
			require.Len(t, r.Value, size)
		}
		var total int64
		for _, end := range javaEndOffsets(t, adm, topic) {
			total += end
		}
		assert.Equal(t, int64(n), total)
	})

	compatCheck(t, javaToolsClient, j.version, "kafka-consumer-perf-test", func(t *testing.T) {
		const topic, n, size = "jt-perf-consume", 1000, 100
		_, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
		require.NoError(t, err)
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("%0*d", size, i))})
		}
		javaProduce(t, producer, recs)
		out := j.run(t, "", nil, javaConsumerPerformance, "--bootstrap-server", k.Addr, "--topic", topic,
			"--group", "jt-perf-consume", "--num-records", strconv.Itoa(n), "--timeout", "20000", "--hide-header",
			"--command-property", "request.timeout.ms=10000")
		// start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
		var row []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Split(line, ", "); len(f) >= 6 {
				row = f
			}
		}
		require.NotNil(t, row, "output:\n%s", out)
		assert.Equal(t, strconv.Itoa(n), row[4], "records consumed; output:\n%s", out)
		assert.Equal(t, fmt.Sprintf("%.4f", float64(n*size)/(1024*1024)), row[2], "MB consumed; output:\n%s", out)
	})
}

// javaClientLines returns the fields after kind of KafkadCompat's
// tab-separated output lines of that kind.
func javaClientLines(out, kind string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if f[0] == kind {
			rows = append(rows, f[1:])
		}
	}
	return rows
}

// TestCompatJavaClients runs integration/java/src/KafkadCompat.java, a
// program on kafka-clients: an idempotent producer, and a consumer group of
// two members; once per release, each against a fresh broker.
func TestCompatJavaClients(t *testing.T) { forJavaReleases(t, testCompatJavaClients) }

func testCompatJavaClients(t *testing.T, j javaKafka) {
	k := startCompatKafkad(t, brokerOpts{})
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	classes := t.TempDir()
	var compiled bool
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		if !compiled {
			runTool(t, 90*time.Second, "", nil, "javac", "-cp", filepath.Join(j.lib(t), "*"), "-d", classes,
				filepath.Join(repoRoot(), "integration", "java", "src", "KafkadCompat.java"))
			compiled = true
		}
		return j.run(t, "", []string{classes}, "KafkadCompat", args...)
	}
	// sent maps partition/offset to key/value from the "sent" lines.
	type pos struct {
		p int32
		o int64
	}
	sentLines := func(t *testing.T, out string, n int) map[pos][2]string {
		t.Helper()
		sent := map[pos][2]string{}
		for _, f := range javaClientLines(out, "sent") {
			require.Len(t, f, 4)
			p, err := strconv.Atoi(f[0])
			require.NoError(t, err)
			o, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			at := pos{int32(p), o}
			require.NotContains(t, sent, at, "two records acknowledged at %v", at)
			sent[at] = [2]string{f[2], f[3]}
		}
		require.Len(t, sent, n)
		return sent
	}

	compatCheck(t, javaClientsName, j.version, "idempotent producer", func(t *testing.T) {
		const topic, n = "jc-idempotent", 1000
		_, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		require.NoError(t, err)
		sent := sentLines(t, run(t, "produce", k.Addr, topic, strconv.Itoa(n)), n)

		recs := javaConsumeAll(t, k, topic, n)
		seqOf := map[*kgo.Record]int{}
		seen := map[int]bool{}
		for _, r := range recs {
			kv, ok := sent[pos{r.Partition, r.Offset}]
			require.True(t, ok, "record at %d/%d was not acknowledged there", r.Partition, r.Offset)
			assert.Equal(t, kv[0], string(r.Key))
			assert.Equal(t, kv[1], string(r.Value))
			i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "value-"))
			require.NoError(t, err)
			require.False(t, seen[i], "record %d twice", i)
			seen[i] = true
			seqOf[r] = i
			assert.Equal(t, fmt.Sprintf("key-%d", i%7), string(r.Key))
			assert.Equal(t, fmt.Sprintf("seq=%d,src=kafkad-compat", i), javaHeaders(r))
			// One idempotent producer session wrote everything.
			assert.Equal(t, recs[0].ProducerID, r.ProducerID)
			assert.Equal(t, int16(0), r.ProducerEpoch)
		}
		assert.GreaterOrEqual(t, recs[0].ProducerID, int64(0), "records carry no producer id")
		javaCheckPartitionOrder(t, recs, func(r *kgo.Record) int { return seqOf[r] })
	})

	// groupRun runs the two-member group over n new records (with the
	// given group.protocol) and checks it: every record consumed exactly
	// once, as sent, each partition by one member only, in offset order
	// from where the group's committed offsets were (from), and the final
	// commit at the end of the log. It returns those end offsets.
	groupRun := func(t *testing.T, topic, group, protocol string, n int, from map[int32]int64) map[int32]int64 {
		t.Helper()
		out := run(t, "group", k.Addr, topic, group, strconv.Itoa(n), protocol)
		sent := sentLines(t, out, n)
		owner := map[int32]string{}
		next := map[int32]int64{}
		for p, o := range from {
			next[p] = o
		}
		seen := map[string]bool{}
		perMember := map[string]int{}
		for _, f := range javaClientLines(out, "rec") {
			require.Len(t, f, 6)
			member := f[0]
			p, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			o, err := strconv.ParseInt(f[2], 10, 64)
			require.NoError(t, err)
			part := int32(p)
			if prev, ok := owner[part]; ok {
				require.Equal(t, prev, member, "partition %d consumed by two members", p)
			}
			owner[part] = member
			require.Equal(t, next[part], o, "partition %d: offsets out of order or not resumed", p)
			next[part]++
			require.False(t, seen[f[4]], "%s consumed twice", f[4])
			seen[f[4]] = true
			perMember[member]++
			assert.Equal(t, sent[pos{part, o}], [2]string{f[3], f[4]}, "record at %d/%d", p, o)
			assert.Equal(t, "seq="+strings.TrimPrefix(f[4], "value-")+",src=kafkad-compat", f[5])
		}
		require.Len(t, seen, n)
		assert.Len(t, perMember, 2, "both members consumed: %v", perMember)

		// The final assignments split the partitions and match who consumed.
		finals := javaClientLines(out, "final")
		require.Len(t, finals, 2, "output:\n%s", out)
		assigned := map[int32]string{}
		for _, f := range finals {
			require.NotEmpty(t, f[1], "%s ended with no partitions", f[0])
			for _, s := range strings.Split(f[1], ",") {
				p, err := strconv.Atoi(s)
				require.NoError(t, err)
				require.NotContains(t, assigned, int32(p), "partition %d assigned to both members", p)
				assigned[int32(p)] = f[0]
			}
		}
		require.Len(t, assigned, 4)
		for p, m := range owner {
			assert.Equal(t, assigned[p], m, "partition %d", p)
		}

		// commitSync after each batch left the group at the end of the log.
		ends := javaEndOffsets(t, adm, topic)
		assert.Equal(t, ends, javaCommitted(t, adm, group, topic))
		t.Logf("%s protocol: records per member %v", protocol, perMember)
		return ends
	}

	compatCheck(t, javaClientsName, j.version, "consumer group of two members", func(t *testing.T) {
		const topic, group, n = "jc-group", "jc-group", 600
		_, err := adm.CreateTopic(ctx, 4, 1, nil, topic)
		require.NoError(t, err)
		groupRun(t, topic, group, "classic", n, nil)
	})

	// KIP-848: the same two members with group.protocol=consumer (the
	// broker assigns, ConsumerGroupHeartbeat), then again from the
	// committed offsets.
	compatCheck(t, javaClientsName, j.version, "consumer group of two members, group.protocol=consumer, resumed", func(t *testing.T) {
		const topic, group, n = "jc-group-848", "jc-group-848", 400
		_, err := adm.CreateTopic(ctx, 4, 1, nil, topic)
		require.NoError(t, err)
		ends := groupRun(t, topic, group, "consumer", n, nil)
		groupRun(t, topic, group, "consumer", n, ends)
		listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
		require.NoError(t, err)
		assert.Contains(t, listed, group, "listed as a consumer group")
		described, err := adm.DescribeConsumerGroups(ctx, group)
		require.NoError(t, err)
		assert.Equal(t, "Empty", described[group].State, "both members left")
	})
}
