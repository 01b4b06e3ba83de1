package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeKafkad writes a shell script standing in for kafkad.
func fakeKafkad(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	path := filepath.Join(t.TempDir(), "kafkad")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

func TestStartBrokerExitsEarly(t *testing.T) {
	bin := fakeKafkad(t, `echo "kafkad: unknown key broken" >&2; exit 2`)
	var stderr bytes.Buffer
	_, err := startBroker(context.Background(), bin, 6, &stderr)
	require.ErrorContains(t, err, "exited before answering")
	assert.Contains(t, stderr.String(), "unknown key broken", "the broker's output explains the failure")
}

func TestStartBrokerNeverAnswers(t *testing.T) {
	argsFile := filepath.Join(t.TempDir(), "args")
	bin := fakeKafkad(t, `echo "$@" > `+argsFile+`; exec sleep 30`)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := startBroker(ctx, bin, 6, io.Discard)
	require.ErrorContains(t, err, "did not answer")
	assert.Less(t, time.Since(start), 10*time.Second, "a stuck broker is stopped with SIGTERM, not waited for")

	data, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	args := strings.Fields(string(data))
	require.Len(t, args, 8)
	assert.Equal(t, "--broker.id=1", args[0])
	assert.Regexp(t, `^--log.dirs=.*kbench-[^/]*/data$`, args[1])
	assert.Regexp(t, `^--listeners=PLAINTEXT://127\.0\.0\.1:\d+$`, args[2])
	assert.Regexp(t, `^--etcd.embedded.client.url=http://127\.0\.0\.1:\d+$`, args[3])
	assert.Regexp(t, `^--etcd.embedded.peer.url=http://127\.0\.0\.1:\d+$`, args[4])
	assert.Equal(t, "--num.partitions=6", args[5])
	assert.Equal(t, "--group.initial.rebalance.delay.ms=0", args[6], "as on the Apache Kafka reference")
	assert.Equal(t, "--log.cleaner.backoff.ms=100", args[7], "as on the Apache Kafka reference")
	dataDir := filepath.Dir(strings.TrimPrefix(args[1], "--log.dirs="))
	assert.NoDirExists(t, dataDir, "the temp dir is removed")
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(3)
	require.NoError(t, err)
	require.Len(t, ports, 3)
	assert.NotEqual(t, ports[0], ports[1])
	assert.NotEqual(t, ports[1], ports[2])
	assert.NotEqual(t, ports[0], ports[2])
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--kafkad=bin/kafkad"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, options{kafkad: "bin/kafkad", java: "java", kafkaHeap: "1g", records: 200000, valueSize: 1024, partitions: 6,
		warmup: 50000, compression: "none", timeout: 10 * time.Minute, groups: true, commitTime: 5 * time.Second,
		txn: true, txnRecords: 100000, txnTime: 10 * time.Second, cleaner: true, cleanerRecords: 200000, cleanerUnique: 0.1}, o)

	o, err = parseFlags([]string{"--kafkad=bin/kafkad", "--kafka-lib=.cache/java/lib", "--warmup=0"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ".cache/java/lib", o.kafkaLib)
	assert.Zero(t, o.warmup)

	for _, args := range [][]string{
		nil,
		{"--kafkad=x", "--brokers=y:9092"},
		{"--brokers=y:9092", "--records=0"},
		{"--brokers=y:9092", "--compression=brotli"},
		{"--brokers=y:9092", "extra"},
		{"--brokers=y:9092", "--warmup=-1"},
		{"--kafkad=x", "--kafka-lib=lib", "--value-size=0"},
		{"--kafkad=x", "--groups-only", "--groups=false"},
		{"--kafkad=x", "--commit-time=0s"},
		{"--kafkad=x", "--txn-only", "--txn=false"},
		{"--kafkad=x", "--txn-records=0"},
		{"--kafkad=x", "--txn-time=0s"},
		{"--kafkad=x", "--cleaner-only", "--cleaner=false"},
		{"--kafkad=x", "--cleaner-only", "--txn-only"},
		{"--kafkad=x", "--cleaner-records=0"},
		{"--kafkad=x", "--cleaner-unique=0"},
		{"--kafkad=x", "--cleaner-unique=1.5"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, "%v", args)
	}
}

func TestValueSource(t *testing.T) {
	s := newValueSource(1024)
	a, b := s.value(0), s.value(1)
	assert.Len(t, a, 1024)
	assert.Len(t, b, 1024)
	assert.NotEqual(t, a, b)
	assert.Len(t, s.value(1<<30), 1024, "any index stays in range")
	assert.Len(t, newValueSource(0).value(5), 0)
}

func TestPrintReport(t *testing.T) {
	h := &histogram{}
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	var out bytes.Buffer
	printReport(&out, options{records: 100, valueSize: 1024, partitions: 6, compression: "none"}, "test broker",
		machineInfo{cpus: 2, cpuModel: "Test CPU", kernel: "linux/amd64", goVer: "go1.26", franzGo: "v1"},
		[]result{
			{name: "produce acks=1", records: 100, bytes: 100 << 20, elapsed: 2 * time.Second, latency: h},
			{name: "consume (acks=1 topic)", records: 100, bytes: 100 << 20, elapsed: time.Second},
		})
	text := out.String()
	assert.Contains(t, text, "2 CPUs, Test CPU")
	// Percentiles are bucket midpoints, within 1% of 50, 99 and 100 ms.
	assert.Regexp(t, `produce acks=1\s+100\s+2\.00\s+50\s+50\.0\s+(49\.[5-9]|50\.[0-4])\d\s+(98\.|99\.)\d\d\s+(99\.|100\.)\d\d\s+100\.00\n`, text)
	assert.Regexp(t, `consume \(acks=1 topic\)\s+100\s+1\.00\s+100\s+100\.0\s+-`, text)
}

func TestMachineInfo(t *testing.T) {
	m := machine()
	assert.Positive(t, m.cpus)
	assert.NotEmpty(t, m.cpuModel)
	assert.Equal(t, runtime.Version(), m.goVer)
}
