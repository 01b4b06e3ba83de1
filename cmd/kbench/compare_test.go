package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Output of kafka-producer-perf-test 4.3.1 (4.4.0 prints the same): a
// progress line, then the summary.
const producerPerfOutput = `185131 records sent, 37018.8 records/sec (36.15 MB/sec), 704.6 ms avg latency, 1130.0 ms max latency.
200000 records sent, 38175.224279 records/sec (37.28 MB/sec), 690.13 ms avg latency, 1130.00 ms max latency, 667 ms 50th, 1021 ms 95th, 1097 ms 99th, 1122 ms 99.9th.
`

func TestParseProducerPerf(t *testing.T) {
	p, err := parseProducerPerf(producerPerfOutput)
	require.NoError(t, err)
	assert.Equal(t, producerPerf{
		records: 200000, recordsPerSec: 38175.224279, mibPerSec: 37.28,
		avgMs: 690.13, maxMs: 1130, p50: 667, p95: 1021, p99: 1097, p999: 1122,
		elapsed: p.elapsed,
	}, p)
	assert.InDelta(t, 5.239, p.elapsed.Seconds(), 0.001)

	// Only the progress line: the run did not finish.
	_, err = parseProducerPerf(strings.SplitAfter(producerPerfOutput, "\n")[0])
	assert.ErrorContains(t, err, "no summary line")
	_, err = parseProducerPerf("")
	assert.Error(t, err)
	// A comma as decimal separator (a non-English locale) is no match.
	_, err = parseProducerPerf(strings.ReplaceAll(producerPerfOutput, "38175.224279", "38175,224279"))
	assert.Error(t, err)
}

// Output of kafka-consumer-perf-test 4.3.1 (4.4.0 prints the same), a
// warning on stdout before it.
const consumerPerfOutput = `WARN some client warning
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 20:18:55:845, 2026-11-25 20:18:57:781, 195.3125, 100.8846, 200000, 103305.7851, 791, 1145, 170.5786, 174672.4891
`

func TestParseConsumerPerf(t *testing.T) {
	c, err := parseConsumerPerf(consumerPerfOutput)
	require.NoError(t, err)
	assert.Equal(t, consumerPerf{
		records: 200000, mib: 195.3125, mibPerSec: 100.8846, recordsPerSec: 103305.7851,
		rebalanceMs: 791, fetchMs: 1145, fetchMibPerSec: 170.5786, fetchRecordsPerSec: 174672.4891,
	}, c)
	assert.Equal(t, 1936*time.Millisecond, c.Elapsed())

	// Columns are found by name, not position.
	lines := strings.Split(consumerPerfOutput, "\n")
	swap := func(line string) string {
		f := strings.Split(line, ", ")
		f[2], f[4] = f[4], f[2]
		return strings.Join(f, ", ")
	}
	c2, err := parseConsumerPerf(swap(lines[1]) + "\n" + swap(lines[2]) + "\n")
	require.NoError(t, err)
	assert.Equal(t, c, c2)

	_, err = parseConsumerPerf(lines[1] + "\n")
	assert.ErrorContains(t, err, "no result row")
	_, err = parseConsumerPerf("")
	assert.Error(t, err)
	_, err = parseConsumerPerf(strings.Replace(consumerPerfOutput, "fetch.nMsg.sec", "other", 1))
	assert.ErrorContains(t, err, "fetch.nMsg.sec")
	_, err = parseConsumerPerf(strings.Replace(consumerPerfOutput, ", 200000,", ", lots,", 1))
	assert.ErrorContains(t, err, "data.consumed.in.nMsg")
}

func TestKafkaProperties(t *testing.T) {
	text := kafkaProperties("/tmp/x/data", "127.0.0.1:1001", "127.0.0.1:1002", 6)
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, line)
		require.NotContains(t, props, k, "set twice")
		props[k] = v
	}
	assert.Equal(t, "broker,controller", props["process.roles"])
	assert.Equal(t, "PLAINTEXT://127.0.0.1:1001,CONTROLLER://127.0.0.1:1002", props["listeners"])
	assert.Equal(t, "PLAINTEXT://127.0.0.1:1001", props["advertised.listeners"])
	assert.Equal(t, "127.0.0.1:1002", props["controller.quorum.bootstrap.servers"])
	assert.NotContains(t, props, "controller.quorum.voters", "--standalone wants a dynamic quorum")
	assert.Equal(t, "/tmp/x/data", props["log.dirs"])
	assert.Equal(t, "6", props["num.partitions"])
	assert.Equal(t, "0", props["group.initial.rebalance.delay.ms"])
	assert.Equal(t, "1", props["offsets.topic.replication.factor"])
	for k := range props {
		assert.NotContains(t, k, "flush", "flushing is left to the OS, as on kafkad")
	}
}

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := newClusterID()
		require.NoError(t, err)
		require.Len(t, id, 22)
		require.NotEqual(t, byte('-'), id[0])
		b, err := base64.RawURLEncoding.DecodeString(id)
		require.NoError(t, err)
		require.Len(t, b, 16)
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestKafkaVersion(t *testing.T) {
	lib := t.TempDir()
	_, err := kafkaVersion(lib)
	assert.ErrorContains(t, err, "make compat-tools")
	require.NoError(t, os.WriteFile(filepath.Join(lib, "kafka-clients-4.3.1.jar"), nil, 0o644))
	v, err := kafkaVersion(lib)
	require.NoError(t, err)
	assert.Equal(t, "4.3.1", v)
	require.NoError(t, os.WriteFile(filepath.Join(lib, "kafka_2.13-4.4.0.jar"), nil, 0o644))
	v, err = kafkaVersion(lib)
	require.NoError(t, err)
	assert.Equal(t, "4.4.0", v, "the core jar's version wins")
}

// fakeJava writes a shell script standing in for java: it logs each call's
// arguments to a file and runs body.
func fakeJava(t *testing.T, body string) (java, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	java = fakeKafkad(t, `echo "$@" >> `+calls+"\n"+body)
	return java, calls
}

func readCalls(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestStartKafkaRetriesTakenPort(t *testing.T) {
	// The storage tool succeeds, the broker finds its port taken.
	java, calls := fakeJava(t, `case "$*" in
*StorageTool*) exit 0;;
*) echo "java.net.BindException: Address already in use" >&2; exit 1;;
esac`)
	var stderr bytes.Buffer
	_, err := startKafka(context.Background(), java, "/lib", "1g", 6, &stderr)
	require.ErrorIs(t, err, errPortTaken)
	lines := readCalls(t, calls)
	require.Len(t, lines, 2*startAttempts, "format and start, on fresh ports each time")
	assert.Contains(t, lines[0], "-cp /lib/* kafka.tools.StorageTool format --config ")
	assert.Contains(t, lines[0], " --standalone")
	assert.Regexp(t, `--cluster-id [A-Za-z0-9_][A-Za-z0-9_-]{21} `, lines[0])
	assert.Regexp(t, `^-Xms1g -Xmx1g .* -cp /lib/\* kafka\.Kafka /\S*kbench-kafka-\S*/server\.properties$`, lines[1])
	assert.NotEqual(t, lines[1], lines[3], "another temp dir")
	assert.Contains(t, stderr.String(), "starting again on other ports")
	props := strings.Fields(lines[1])
	assert.NoDirExists(t, filepath.Dir(props[len(props)-1]), "the temp dir is removed")
}

func TestStartKafkaFormatFails(t *testing.T) {
	java, calls := fakeJava(t, `echo "formatting went wrong" >&2; exit 1`)
	_, err := startKafka(context.Background(), java, "/lib", "1g", 6, io.Discard)
	require.ErrorContains(t, err, "formatting went wrong")
	assert.Len(t, readCalls(t, calls), 1, "no broker without storage")
}

func TestStartKafkaStorageToolFallback(t *testing.T) {
	java, calls := fakeJava(t, `case "$*" in
*" kafka.tools.StorageTool "*) echo "Error: Could not find or load main class kafka.tools.StorageTool" >&2; exit 1;;
*StorageTool*) exit 0;;
*) echo "broker exploded" >&2; exit 3;;
esac`)
	var stderr bytes.Buffer
	_, err := startKafka(context.Background(), java, "/lib", "1g", 6, &stderr)
	require.ErrorContains(t, err, "Apache Kafka exited before answering")
	assert.Contains(t, stderr.String(), "broker exploded")
	lines := readCalls(t, calls)
	require.Len(t, lines, 3)
	assert.Contains(t, lines[1], " org.apache.kafka.tools.StorageTool format ")
}

func TestRunJavaToolFailure(t *testing.T) {
	java, _ := fakeJava(t, `echo "partial"; echo "boom" >&2; exit 1`)
	out, err := runJavaTool(context.Background(), java, "/lib", producerPerfClass, "--topic", "t")
	require.Error(t, err)
	assert.Equal(t, "partial\n", out)
	assert.Contains(t, err.Error(), producerPerfClass)
	assert.Contains(t, err.Error(), "boom")

	outFile := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.WriteFile(outFile, []byte(producerPerfOutput), 0o644))
	java, calls := fakeJava(t, "cat "+outFile)
	p, err := runProducerPerf(context.Background(), java, "/lib", "127.0.0.1:1", "t", 200000, 1024)
	require.NoError(t, err)
	assert.Equal(t, int64(200000), p.records)
	assert.Contains(t, readCalls(t, calls)[0], "-Duser.language=en")
	_, err = runProducerPerf(context.Background(), java, "/lib", "127.0.0.1:1", "t", 300000, 1024)
	assert.ErrorContains(t, err, "sent 200000 records, not 300000")
}

func TestPrintComparison(t *testing.T) {
	hist := func(d time.Duration) *histogram {
		h := &histogram{}
		h.Record(d)
		return h
	}
	runs := []*brokerRun{
		{label: "kafkad", target: "fresh kafkad (bin/kafkad) on 127.0.0.1:1",
			results: []result{
				{name: "produce acks=1", records: 100, bytes: 100 << 20, elapsed: time.Second, latency: hist(10 * time.Millisecond)},
				{name: "consume (acks=1 topic)", records: 100, bytes: 100 << 20, elapsed: time.Second},
			},
			producerPerf: producerPerf{records: 100, recordsPerSec: 400, mibPerSec: 40, avgMs: 5, maxMs: 9, p50: 4, p95: 6, p99: 8, p999: 9, elapsed: 250 * time.Millisecond},
			consumerPerf: consumerPerf{records: 100, recordsPerSec: 50, mibPerSec: 5, rebalanceMs: 100, fetchMs: 1900, fetchRecordsPerSec: 60, fetchMibPerSec: 6},
		},
		{label: "Kafka", target: "fresh Apache Kafka 4.3.1 on 127.0.0.1:2",
			results: []result{
				{name: "produce acks=1", records: 100, bytes: 100 << 20, elapsed: 2 * time.Second, latency: hist(40 * time.Millisecond)},
				{name: "consume (acks=1 topic)", records: 100, bytes: 100 << 20, elapsed: 4 * time.Second},
			},
			producerPerf:    producerPerf{records: 100, recordsPerSec: 200, mibPerSec: 20, avgMs: 10, maxMs: 18, p50: 8, p95: 12, p99: 16, p999: 18, elapsed: 500 * time.Millisecond},
			consumerPerfErr: errors.New("kafka-consumer-perf-test read 3 records, not 100\nmore detail"),
		},
	}
	var out bytes.Buffer
	printComparison(&out, options{records: 100, valueSize: 1024, partitions: 6, compression: "none", warmup: 10},
		reference{kafkaVersion: "4.3.1", javaVersion: "openjdk 17"},
		machineInfo{cpus: 2, cpuModel: "Test CPU", kernel: "linux/amd64", goVer: "go1.26", franzGo: "v1"}, runs)
	text := out.String()
	assert.Contains(t, text, "warm-up of 10 records")
	assert.Contains(t, text, "kafkad:  fresh kafkad (bin/kafkad) on 127.0.0.1:1\n")
	assert.Contains(t, text, "Kafka:   fresh Apache Kafka 4.3.1 on 127.0.0.1:2\n")
	assert.Contains(t, text, "machine: 2 CPUs, Test CPU, linux/amd64, go1.26, franz-go v1\n")
	assert.Regexp(t, `produce acks=1\s+kafkad\s+100\s+1\.00\s+100\s+100\.0(\s+(9\.9\d|10\.0\d)){3}\s+10\.00\n`, text)
	assert.Regexp(t, `\n\s+Kafka\s+100\s+2\.00\s+50\s+50\.0(\s+(39\.\d\d|40\.\d\d)){3}\s+40\.00\n`, text)
	assert.Regexp(t, `\n\s+ratio\s+2\.00x\s+2\.00x\s+0\.25x\s+0\.25x\s+0\.25x\s+0\.25x\n`, text)
	assert.Regexp(t, `consume \(acks=1 topic\)\s+kafkad\s+100\s+1\.00\s+100\s+100\.0\s+-\s+-\s+-\s+-\n`, text)
	assert.Regexp(t, `\n\s+ratio\s+4\.00x\s+4\.00x\s+-\s+-\s+-\s+-\n`, text)
	assert.Regexp(t, `acks=all\s+kafkad\s+100\s+0\.25\s+400\s+40\.0\s+5\.00\s+4\s+8\s+9\s+9\n`, text)
	assert.Regexp(t, `\n\s+ratio\s+2\.00x\s+2\.00x\s+0\.50x\s+0\.50x\s+0\.50x\s+0\.50x\s+0\.50x\n`, text)
	assert.Regexp(t, `new group\s+kafkad\s+100\s+2\.00\s+50\s+5\.0\s+100\s+60\s+6\.0\n`, text)
	assert.Regexp(t, `\n\s+Kafka\s+failed: kafka-consumer-perf-test read 3 records, not 100\n`, text)
	assert.NotContains(t, text, "more detail")
	assert.Contains(t, text, "ratio = kafkad / Kafka")
}

func TestRatio(t *testing.T) {
	assert.Equal(t, "1.50x", ratio(3, 2))
	assert.Equal(t, "0.00x", ratio(0, 2))
	assert.Equal(t, "-", ratio(3, 0))
	assert.Equal(t, "-", ratio(-1, 2))
}

func TestTailText(t *testing.T) {
	assert.Equal(t, "b\nc", tailText([]byte("a\nb\nc\n"), 2))
	assert.Equal(t, "a\nb\nc", tailText([]byte("a\nb\nc"), 5))
	assert.Equal(t, "", tailText(nil, 3))
}
