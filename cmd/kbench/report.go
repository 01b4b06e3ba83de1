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
	fmt.Fprintf(w, "\nkbench: %d records of %d B values, %d partitions, compression %s\n", o.records, o.valueSize, o.partitions, o.compression)
	fmt.Fprintf(w, "broker:  %s\n", target)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s, %s, franz-go %s\n\n", m.cpus, m.cpuModel, m.kernel, m.goVer, m.franzGo)
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

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
