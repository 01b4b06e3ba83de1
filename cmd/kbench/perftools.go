package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Apache Kafka's own benchmark tools, kafka-producer-perf-test and
// kafka-consumer-perf-test, run as their main classes from the same jars as
// the reference broker, against each broker in turn.
const (
	producerPerfClass = "org.apache.kafka.tools.ProducerPerformance"
	consumerPerfClass = "org.apache.kafka.tools.ConsumerPerformance"
	// perfToolTimeout bounds one tool run; 200k records take seconds.
	perfToolTimeout = 3 * time.Minute
	// consumerPerfIdleMs is the consumer tool's --timeout: how long it
	// waits for the next records before giving up.
	consumerPerfIdleMs = 30000
)

// javaToolOpts keep the tools' logging to warnings and their numbers in
// an English locale, whatever the machine's, so that the summary lines
// parse ("1234.5", not "1234,5").
var javaToolOpts = []string{
	"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
	"-Duser.language=en", "-Duser.country=US",
}

// runJavaTool runs one tool's main class and returns its standard output;
// on failure the error carries the tail of both outputs.
func runJavaTool(ctx context.Context, java, lib, class string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, perfToolTimeout)
	defer cancel()
	argv := append(append(append([]string(nil), javaToolOpts...), "-cp", javaClassPath(lib), class), args...)
	cmd := exec.CommandContext(ctx, java, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return stdout.String(), fmt.Errorf("%s: %w\n--- stdout ---\n%s\n--- stderr ---\n%s",
			class, err, tailText(stdout.Bytes(), 10), tailText(stderr.Bytes(), 20))
	}
	return stdout.String(), nil
}

// producerPerf is kafka-producer-perf-test's final summary line.
type producerPerf struct {
	records                           int64
	recordsPerSec, mibPerSec          float64 // the tool's "MB" is 2^20 bytes of values
	avgMs, maxMs, p50, p95, p99, p999 float64 // milliseconds
	elapsed                           time.Duration
}

// producerPerfSummary matches the tool's final line, e.g.
//
//	200000 records sent, 38175.224279 records/sec (37.28 MB/sec), 690.13 ms avg latency, 1130.00 ms max latency, 667 ms 50th, 1021 ms 95th, 1097 ms 99th, 1122 ms 99.9th.
//
// The progress lines printed every few seconds lack the percentiles.
var producerPerfSummary = regexp.MustCompile(`(?m)^(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ([0-9.]+) ms 50th, ([0-9.]+) ms 95th, ([0-9.]+) ms 99th, ([0-9.]+) ms 99\.9th\.?\s*$`)

// parseProducerPerf reads the last summary line of the tool's output.
func parseProducerPerf(out string) (producerPerf, error) {
	all := producerPerfSummary.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		return producerPerf{}, fmt.Errorf("no summary line in kafka-producer-perf-test output:\n%s", tailText([]byte(out), 10))
	}
	m := all[len(all)-1]
	var p producerPerf
	var err error
	if p.records, err = strconv.ParseInt(m[1], 10, 64); err != nil {
		return p, err
	}
	for i, dst := range []*float64{&p.recordsPerSec, &p.mibPerSec, &p.avgMs, &p.maxMs, &p.p50, &p.p95, &p.p99, &p.p999} {
		if *dst, err = strconv.ParseFloat(m[i+2], 64); err != nil {
			return p, fmt.Errorf("summary line %q: %w", m[0], err)
		}
	}
	if p.recordsPerSec > 0 {
		p.elapsed = time.Duration(float64(p.records) / p.recordsPerSec * float64(time.Second))
	}
	return p, nil
}

// runProducerPerf writes n records of size bytes flat out with acks=all
// (the Java producer is idempotent by default) and returns the summary.
func runProducerPerf(ctx context.Context, java, lib, addr, topic string, n, size int) (producerPerf, error) {
	out, err := runJavaTool(ctx, java, lib, producerPerfClass,
		"--bootstrap-server", addr, "--topic", topic,
		"--num-records", strconv.Itoa(n), "--record-size", strconv.Itoa(size), "--throughput", "-1",
		"--command-property", "acks=all")
	if err != nil {
		return producerPerf{}, err
	}
	p, err := parseProducerPerf(out)
	if err == nil && p.records != int64(n) {
		err = fmt.Errorf("kafka-producer-perf-test sent %d records, not %d", p.records, n)
	}
	return p, err
}

// consumerPerf is kafka-consumer-perf-test's result row. Its overall rates
// span the whole run, the consumer group join (rebalance) included; the
// fetch rates leave the join out.
type consumerPerf struct {
	records                            int64
	mib, mibPerSec, recordsPerSec      float64
	rebalanceMs, fetchMs               float64
	fetchMibPerSec, fetchRecordsPerSec float64
}

// Elapsed is the run's whole time, group join plus fetching.
func (c consumerPerf) Elapsed() time.Duration {
	return time.Duration((c.rebalanceMs + c.fetchMs) * float64(time.Millisecond))
}

// parseConsumerPerf reads the tool's result row by its header:
//
//	start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
//	2026-11-25 20:18:55:845, 2026-11-25 20:18:57:781, 195.3125, 100.8846, 200000, 103305.7851, 791, 1145, 170.5786, 174672.4891
func parseConsumerPerf(out string) (consumerPerf, error) {
	var c consumerPerf
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	var header, row []string
	for i, line := range lines {
		if !strings.HasPrefix(line, "start.time, ") {
			continue
		}
		header = strings.Split(strings.TrimSpace(line), ", ")
		for _, next := range lines[i+1:] {
			if f := strings.Split(strings.TrimSpace(next), ", "); len(f) == len(header) {
				row = f
				break
			}
		}
	}
	if row == nil {
		return c, fmt.Errorf("no result row in kafka-consumer-perf-test output:\n%s", tailText([]byte(out), 10))
	}
	fields := map[string]string{}
	for i, name := range header {
		fields[name] = row[i]
	}
	n, err := strconv.ParseInt(fields["data.consumed.in.nMsg"], 10, 64)
	if err != nil {
		return c, fmt.Errorf("data.consumed.in.nMsg: %w", err)
	}
	c.records = n
	for name, dst := range map[string]*float64{
		"data.consumed.in.MB": &c.mib,
		"MB.sec":              &c.mibPerSec,
		"nMsg.sec":            &c.recordsPerSec,
		"rebalance.time.ms":   &c.rebalanceMs,
		"fetch.time.ms":       &c.fetchMs,
		"fetch.MB.sec":        &c.fetchMibPerSec,
		"fetch.nMsg.sec":      &c.fetchRecordsPerSec,
	} {
		v, ok := fields[name]
		if !ok {
			return c, fmt.Errorf("kafka-consumer-perf-test printed no %s column", name)
		}
		if *dst, err = strconv.ParseFloat(v, 64); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	return c, nil
}

// runConsumerPerf reads n records of topic in a new consumer group.
func runConsumerPerf(ctx context.Context, java, lib, addr, topic, group string, n int) (consumerPerf, error) {
	out, err := runJavaTool(ctx, java, lib, consumerPerfClass,
		"--bootstrap-server", addr, "--topic", topic, "--group", group,
		"--num-records", strconv.Itoa(n), "--timeout", strconv.Itoa(consumerPerfIdleMs))
	if err != nil {
		return consumerPerf{}, err
	}
	c, err := parseConsumerPerf(out)
	if err == nil && c.records < int64(n) {
		err = fmt.Errorf("kafka-consumer-perf-test read %d records, not %d", c.records, n)
	}
	return c, err
}
