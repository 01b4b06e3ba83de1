package integration

// The compatibility suite: real Kafka clients in other languages and
// franz-go's own tests, driven against kafkad. Every check goes through
// compatCheck, which
//   - records its outcome for the report `make compat` prints
//     (KAFKAD_COMPAT_REPORT names the file the table is written to), and
//   - consults compat-pending.txt: a check listed there waits for a broker
//     feature the file names. It is not run (and shows as pending) unless
//     KAFKAD_COMPAT_PENDING=1, which runs it and reports it as "now passes"
//     when it does, so that the list only shrinks.
//
// The clients come from `make compat-tools`, which installs them under
// .cache/ at the repository root; a missing client fails its checks with
// that hint rather than skipping them.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// compatRow is one check's outcome.
type compatRow struct {
	client, version, check string
	outcome                string // passed, failed, pending, now-passes
}

var compatReport struct {
	sync.Mutex
	rows []compatRow
}

// pendingChecks maps "client | check" to the missing feature, read once
// from compat-pending.txt.
var pendingChecks = sync.OnceValues(func() (map[string]string, error) {
	f, err := os.Open("compat-pending.txt")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			return nil, fmt.Errorf("compat-pending.txt: want `client | check | missing feature`, got %q", line)
		}
		out[strings.TrimSpace(parts[0])+" | "+strings.TrimSpace(parts[1])] = strings.TrimSpace(parts[2])
	}
	return out, sc.Err()
})

// compatCheck runs one check of a client as a subtest named check and
// records the outcome. A skipped check counts as not passed.
func compatCheck(t *testing.T, client, version, check string, fn func(t *testing.T)) {
	t.Helper()
	pending, err := pendingChecks()
	if err != nil {
		t.Fatal(err)
	}
	// An entry may name the client's version ("java kafka-tools 4.4.0"),
	// for a check that waits on a feature only that version uses.
	missing, isPending := pending[client+" "+version+" | "+check]
	if !isPending {
		missing, isPending = pending[client+" | "+check]
	}
	runPending := os.Getenv("KAFKAD_COMPAT_PENDING") == "1"
	client = compatClientName(client)
	row := compatRow{client: client, version: version, check: check}
	if isPending && !runPending {
		row.outcome = "pending"
		recordCompat(row)
		t.Run(check, func(t *testing.T) { t.Skipf("pending: needs %s (compat-pending.txt)", missing) })
		return
	}
	var passed bool
	ok := t.Run(check, func(t *testing.T) {
		if isPending {
			// Run for information: a failure here is expected, not a regression.
			defer func() {
				if t.Failed() {
					t.Logf("pending check failed as expected (needs %s)", missing)
				}
			}()
		}
		defer func() { passed = !t.Failed() && !t.Skipped() }()
		fn(t)
	})
	_ = ok
	switch {
	case isPending && passed:
		row.outcome = "now-passes"
	case isPending:
		row.outcome = "pending"
	case passed:
		row.outcome = "passed"
	default:
		row.outcome = "failed"
	}
	recordCompat(row)
}

func recordCompat(r compatRow) {
	compatReport.Lock()
	compatReport.rows = append(compatReport.rows, r)
	compatReport.Unlock()
}

// writeCompatReport writes the report table to KAFKAD_COMPAT_REPORT, if set.
func writeCompatReport() error {
	path := os.Getenv("KAFKAD_COMPAT_REPORT")
	if path == "" {
		return nil
	}
	compatReport.Lock()
	defer compatReport.Unlock()
	type key struct{ client, version string }
	counts := map[key]map[string]int{}
	var notes []string
	for _, r := range compatReport.rows {
		k := key{r.client, r.version}
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][r.outcome]++
		switch r.outcome {
		case "failed":
			notes = append(notes, fmt.Sprintf("- FAILED: %s %s: %s", r.client, r.version, r.check))
		case "now-passes":
			notes = append(notes, fmt.Sprintf("- now passes, remove from compat-pending.txt: %s | %s", r.client, r.check))
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	// A client checked in two versions (Kafka's Java clients) has a row
	// per version, in version order.
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].client != keys[j].client {
			return keys[i].client < keys[j].client
		}
		return keys[i].version < keys[j].version
	})
	var b strings.Builder
	b.WriteString("| client | version | passed | failed | pending |\n|---|---|---:|---:|---:|\n")
	for _, k := range keys {
		c := counts[k]
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d |\n", k.client, k.version, c["passed"]+c["now-passes"], c["failed"], c["pending"])
	}
	sort.Strings(notes)
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// repoRoot is the repository's top directory (tests run in integration/).
func repoRoot() string {
	dir, _ := filepath.Abs("..")
	return dir
}

// compatTool returns the path of an installed client file under .cache/
// (or an absolute path), failing the check with the install hint when it
// is missing.
func compatTool(t *testing.T, path string) string {
	t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(repoRoot(), ".cache", path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make compat-tools` (make test does)", path)
	}
	return path
}

// runTool runs a client program with stdin and extra environment and
// returns its standard output; a non-zero exit or the timeout fails the
// check with everything the program printed.
func runTool(t *testing.T, timeout time.Duration, stdin string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (timeout %s)\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, timeout, stdout.String(), stderr.String())
	}
	return stdout.String()
}
