package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// machineInfo describes where the figures were measured; numbers without
// it cannot be compared.
type machineInfo struct {
	cpus     int
	cpuModel string
	kernel   string
	goVer    string
	franzGo  string
}

func machine() machineInfo {
	m := machineInfo{cpus: runtime.NumCPU(), cpuModel: cpuModel(), goVer: runtime.Version(), franzGo: "unknown"}
	m.kernel = runtime.GOOS + "/" + runtime.GOARCH
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel += " " + strings.TrimSpace(string(rel))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/twmb/franz-go" {
				m.franzGo = dep.Version
			}
		}
	}
	return m
}

// cpuModel reads the first model line of /proc/cpuinfo; x86 calls it
// "model name", some ARM kernels "Hardware" or "Processor".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	found := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k = strings.TrimSpace(k)
		if _, seen := found[k]; ok && !seen {
			found[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"model name", "Hardware", "Processor", "cpu model", "cpu"} {
		if v := found[k]; v != "" {
			return v
		}
	}
	return "unknown"
}

// printReport writes the run's settings, the machine and one table row per
// workload.
func printReport(w io.Writer, o options, target string, m machineInfo, results []result) {
	fmt.Fprintf(w, "\n%s\n", settingsLine(o))
	fmt.Fprintf(w, "broker:  %s\n", target)
	fmt.Fprintf(w, "machine: %s\n\n", m)
	fmt.Fprintf(w, "%-24s %9s %8s %10s %8s %9s %9s %9s %9s\n",
		"workload", "records", "seconds", "records/s", "MiB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms")
	for _, r := range results {
		secs := r.elapsed.Seconds()
		var rate, mib float64
		if secs > 0 {
			rate, mib = float64(r.records)/secs, float64(r.bytes)/secs/(1<<20)
		}
		fmt.Fprintf(w, "%-24s %9d %8.2f %10.0f %8.1f", r.name, r.records, secs, rate, mib)
		if r.latency != nil {
			h := r.latency
			fmt.Fprintf(w, " %9s %9s %9s %9s\n", ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Percentile(99.9)), ms(h.Max()))
		} else {
			fmt.Fprintf(w, " %9s %9s %9s %9s\n", "-", "-", "-", "-")
		}
	}
	fmt.Fprintln(w, "\nlatency: Produce call to promise, per record; MiB/s counts keys and values")
}

// settingsLine is the report's first line: what every workload does.
func settingsLine(o options) string {
	s := fmt.Sprintf("kbench: %d records of %d B values, %d partitions, compression %s", o.records, o.valueSize, o.partitions, o.compression)
	if o.warmup > 0 {
		s += fmt.Sprintf(", after an unmeasured warm-up of %d records per workload", o.warmup)
	}
	return s
}

// String is the report's machine line.
func (m machineInfo) String() string {
	return fmt.Sprintf("%d CPUs, %s, %s, %s, franz-go %s", m.cpus, m.cpuModel, m.kernel, m.goVer, m.franzGo)
}

// printComparison writes the report of a run against two brokers, the
// one under test first and Apache Kafka second: per workload a row per
// broker and a row of ratios, first to second.
func printComparison(w io.Writer, o options, ref reference, m machineInfo, runs []*brokerRun) {
	subject, kafka := runs[0], runs[1]
	fmt.Fprintf(w, "\n%s\n", settingsLine(o))
	printTargets(w, m, runs)

	fmt.Fprintf(w, "\nfranz-go %s workloads\n", m.franzGo)
	fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s %9s %9s %9s %9s\n",
		"workload", "broker", "records", "seconds", "records/s", "MiB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms")
	for i, a := range subject.results {
		name := a.name
		for _, r := range runs {
			if i >= len(r.results) {
				continue
			}
			res := r.results[i]
			fmt.Fprintf(w, "%-24s %-7s %9d %8.2f %10.0f %8.1f", name, r.label, res.records, res.elapsed.Seconds(), res.rate(), res.mibPerSec())
			if h := res.latency; h != nil {
				fmt.Fprintf(w, " %9s %9s %9s %9s\n", ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Percentile(99.9)), ms(h.Max()))
			} else {
				fmt.Fprintf(w, " %9s %9s %9s %9s\n", "-", "-", "-", "-")
			}
			name = ""
		}
		if i >= len(kafka.results) {
			continue
		}
		b := kafka.results[i]
		fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s", "", "ratio", "", "", ratio(a.rate(), b.rate()), ratio(a.mibPerSec(), b.mibPerSec()))
		if a.latency != nil && b.latency != nil {
			fmt.Fprintf(w, " %9s %9s %9s %9s\n",
				ratio(float64(a.latency.Percentile(50)), float64(b.latency.Percentile(50))),
				ratio(float64(a.latency.Percentile(99)), float64(b.latency.Percentile(99))),
				ratio(float64(a.latency.Percentile(99.9)), float64(b.latency.Percentile(99.9))),
				ratio(float64(a.latency.Max()), float64(b.latency.Max())))
		} else {
			fmt.Fprintf(w, " %9s %9s %9s %9s\n", "-", "-", "-", "-")
		}
	}
	fmt.Fprintln(w, "latency: Produce call to promise, per record; MiB/s counts keys and values")

	fmt.Fprintf(w, "\nApache Kafka %s perf tools, %d records of %d B, topic of %d partitions\n", ref.kafkaVersion, o.records, o.valueSize, o.partitions)
	fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s %9s %9s %9s %9s %9s\n",
		"kafka-producer-perf-test", "broker", "records", "seconds", "records/s", "MiB/s", "avg ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms")
	name := "acks=all"
	for _, r := range runs {
		if r.producerPerfErr != nil {
			fmt.Fprintf(w, "%-24s %-7s %s\n", name, r.label, oneLine(r.producerPerfErr))
		} else {
			p := r.producerPerf
			fmt.Fprintf(w, "%-24s %-7s %9d %8.2f %10.0f %8.1f %9.2f %9.0f %9.0f %9.0f %9.0f\n",
				name, r.label, p.records, p.elapsed.Seconds(), p.recordsPerSec, p.mibPerSec, p.avgMs, p.p50, p.p99, p.p999, p.maxMs)
		}
		name = ""
	}
	if subject.producerPerfErr == nil && kafka.producerPerfErr == nil {
		a, b := subject.producerPerf, kafka.producerPerf
		fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s %9s %9s %9s %9s %9s\n", "", "ratio", "", "",
			ratio(a.recordsPerSec, b.recordsPerSec), ratio(a.mibPerSec, b.mibPerSec), ratio(a.avgMs, b.avgMs),
			ratio(a.p50, b.p50), ratio(a.p99, b.p99), ratio(a.p999, b.p999), ratio(a.maxMs, b.maxMs))
	}
	fmt.Fprintf(w, "\n%-24s %-7s %9s %8s %10s %8s %12s %15s %11s\n",
		"kafka-consumer-perf-test", "broker", "records", "seconds", "records/s", "MiB/s", "rebalance ms", "fetch records/s", "fetch MiB/s")
	name = "new group"
	for _, r := range runs {
		if r.consumerPerfErr != nil {
			fmt.Fprintf(w, "%-24s %-7s %s\n", name, r.label, oneLine(r.consumerPerfErr))
		} else {
			c := r.consumerPerf
			fmt.Fprintf(w, "%-24s %-7s %9d %8.2f %10.0f %8.1f %12.0f %15.0f %11.1f\n",
				name, r.label, c.records, c.Elapsed().Seconds(), c.recordsPerSec, c.mibPerSec, c.rebalanceMs, c.fetchRecordsPerSec, c.fetchMibPerSec)
		}
		name = ""
	}
	if subject.consumerPerfErr == nil && kafka.consumerPerfErr == nil {
		a, b := subject.consumerPerf, kafka.consumerPerf
		fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s %12s %15s %11s\n", "", "ratio", "", "",
			ratio(a.recordsPerSec, b.recordsPerSec), ratio(a.mibPerSec, b.mibPerSec), ratio(a.rebalanceMs, b.rebalanceMs),
			ratio(a.fetchRecordsPerSec, b.fetchRecordsPerSec), ratio(a.fetchMibPerSec, b.fetchMibPerSec))
	}
	fmt.Fprintln(w, "perf tools: Java clients with their defaults (the producer idempotent, linger.ms=5); MiB/s counts values;")
	fmt.Fprintln(w, "the consumer's records/s and MiB/s include joining the group (rebalance), its fetch rates do not")

	fmt.Fprintf(w, "\nratio = %s / %s, same machine, same invocation, one broker at a time:\n", subject.label, kafka.label)
	fmt.Fprintf(w, "records/s and MiB/s above 1.00x: %s is faster; latency (ms) and rebalance ms below 1.00x: %s is quicker\n", subject.label, subject.label)
}

// printTargets writes which broker each row label stands for, and the
// machine.
func printTargets(w io.Writer, m machineInfo, runs []*brokerRun) {
	for _, r := range runs {
		fmt.Fprintf(w, "%-8s %s\n", r.label+":", r.target)
	}
	fmt.Fprintf(w, "machine: %s\n", m)
}

// ratio formats a/b as "1.23x", or "-" when b is not positive.
func ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// oneLine is the first line of an error, for a table cell.
func oneLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return "failed: " + line
}

// rate is records per second.
func (r result) rate() float64 {
	if secs := r.elapsed.Seconds(); secs > 0 {
		return float64(r.records) / secs
	}
	return 0
}

// mibPerSec is MiB of keys and values per second.
func (r result) mibPerSec() float64 {
	if secs := r.elapsed.Seconds(); secs > 0 {
		return float64(r.bytes) / secs / (1 << 20)
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// printReplication shows the three-broker RF=3 cluster against the single
// kafkad: what replication costs.
func printReplication(w io.Writer, single, cluster *brokerRun) {
	fmt.Fprintf(w, "\nreplication: %s\n", cluster.target)
	fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s %9s %9s %9s %9s\n",
		"workload", "broker", "records", "seconds", "records/s", "MiB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms")
	for i, c := range cluster.results {
		if i >= len(single.results) {
			break
		}
		s := single.results[i]
		for j, row := range []struct {
			label string
			res   result
		}{{"RF=1", s}, {"RF=3", c}} {
			name := ""
			if j == 0 {
				name = s.name
			}
			fmt.Fprintf(w, "%-24s %-7s %9d %8.2f %10.0f %8.1f", name, row.label, row.res.records, row.res.elapsed.Seconds(), row.res.rate(), row.res.mibPerSec())
			if h := row.res.latency; h != nil {
				fmt.Fprintf(w, " %9s %9s %9s %9s\n", ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Percentile(99.9)), ms(h.Max()))
			} else {
				fmt.Fprintf(w, " %9s %9s %9s %9s\n", "-", "-", "-", "-")
			}
		}
		fmt.Fprintf(w, "%-24s %-7s %9s %8s %10s %8s\n", "", "ratio", "", "", ratio(c.rate(), s.rate()), ratio(c.mibPerSec(), s.mibPerSec()))
	}
	fmt.Fprintln(w, "ratio = RF=3 / RF=1 (kafkad), same machine, same invocation; the three brokers share its CPUs and disk")
}
