package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kgoExpectation is one line of franz-go-suite.txt.
type kgoExpectation struct {
	pending bool
	missing string
}

func readKgoExpectations(t *testing.T) map[string]kgoExpectation {
	t.Helper()
	f, err := os.Open("franz-go-suite.txt")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]kgoExpectation{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		switch {
		case len(parts) == 2 && parts[1] == "pass":
			out[parts[0]] = kgoExpectation{}
		case len(parts) == 3 && parts[1] == "pending" && parts[2] != "":
			out[parts[0]] = kgoExpectation{pending: true, missing: parts[2]}
		default:
			t.Fatalf("franz-go-suite.txt: want `name | pass` or `name | pending | missing feature`, got %q", line)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// goList runs `go list` with a format in the repository's module.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	require.NoError(t, err, "go list %v", args)
	return strings.TrimSpace(string(out))
}

var kgoResultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) `)

// TestCompatFranzGoSuite runs franz-go's own kgo tests, at the version
// go.mod pins, against one kafkad through their environment variables, and
// holds the outcome to franz-go-suite.txt: every listed-pass test must pass
// (a skip is not a pass), and every test the suite has must be listed.
func TestCompatFranzGoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the franz-go suite takes about a minute")
	}
	// No initial rebalance delay, as in franz-go's own test cluster: its
	// group tests start many short-lived groups.
	o := brokerOpts{extra: []string{"--group.initial.rebalance.delay.ms=0"}}
	scramSeeds := []string{withKgoScram(t, &o)}
	k := startKafkad(t, o)
	runKgoSuite(t, "franz-go suite (kgo tests)", []string{k.Addr}, scramSeeds, 1)
}

// TestCompatFranzGoSuiteCluster runs the same suite against three brokers
// with RF=3: no test that passes on one broker may fail here.
func TestCompatFranzGoSuiteCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the franz-go suite takes about a minute")
	}
	var scramSeeds []string
	c := startClusterWith(t, 3, func(o *brokerOpts) { scramSeeds = append(scramSeeds, withKgoScram(t, o)) })
	runKgoSuite(t, "franz-go suite, 3 brokers RF=3", c.seeds(), scramSeeds, 3)
}

// kgoScramUser is the SCRAM-SHA-256 user franz-go's SCRAM tests log in as
// (KGO_TEST_SCRAM), bootstrapped with --add-scram.
const kgoScramUser, kgoScramPassword = "kgo", "kgo-secret"

// withKgoScram gives a broker a SASL_PLAINTEXT listener with the kgo user
// and returns its address, for KGO_TEST_SCRAM_SEEDS.
func withKgoScram(t *testing.T, o *brokerOpts) string {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	o.moreListeners = append(o.moreListeners, "SASL_PLAINTEXT://"+addr)
	o.extra = append(o.extra, "--sasl.enabled.mechanisms=SCRAM-SHA-256",
		"--add-scram", fmt.Sprintf("SCRAM-SHA-256=[name=%s,password=%s]", kgoScramUser, kgoScramPassword))
	return addr
}

// runKgoSuite runs franz-go's kgo tests against seeds (and its SCRAM tests
// against scramSeeds) and judges them by franz-go-suite.txt.
func runKgoSuite(t *testing.T, client string, seeds, scramSeeds []string, rf int) {
	version := goList(t, "-m", "-f", "{{.Version}}", "github.com/twmb/franz-go")
	pkgDir := goList(t, "-f", "{{.Dir}}", "github.com/twmb/franz-go/pkg/kgo")
	bin := filepath.Join(t.TempDir(), "kgo.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "github.com/twmb/franz-go/pkg/kgo")
	build.Dir = repoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building franz-go's tests: %s", out)

	want := readKgoExpectations(t)
	listed, err := exec.Command(bin, "-test.list", "^Test").Output()
	require.NoError(t, err)
	var all []string
	var skip []string
	runPending := os.Getenv("KAFKAD_COMPAT_PENDING") == "1"
	for _, name := range strings.Fields(string(listed)) {
		all = append(all, name)
		if e, ok := want[name]; ok && e.pending && !runPending {
			skip = append(skip, regexp.QuoteMeta(name))
		}
	}

	args := []string{"-test.v", "-test.timeout", "8m", "-test.run", "^Test"}
	if len(skip) > 0 {
		args = append(args, "-test.skip", "^("+strings.Join(skip, "|")+")$")
	}
	cmd := exec.Command(bin, args...)
	// Some tests read kgo's own sources, relative to the package directory.
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(),
		"KGO_SEEDS="+strings.Join(seeds, ","),
		"KGO_TEST_SCRAM_SEEDS="+strings.Join(scramSeeds, ","),
		"KGO_TEST_SCRAM="+kgoScramUser+":"+kgoScramPassword,
		fmt.Sprintf("KGO_TEST_RF=%d", rf),
		"KGO_TEST_RECORDS=5000",
		"KGO_LOG_LEVEL=none",
	)
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	_ = cmd.Run() // the outcome is judged test by test below
	t.Logf("franz-go %s suite against %d broker(s) ran in %s", version, len(seeds), time.Since(start).Round(time.Second))

	results := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(output.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := kgoResultLine.FindStringSubmatch(sc.Text()); m != nil {
			results[m[2]] = m[1]
		}
	}

	sort.Strings(all)
	var failures []string
	for _, name := range all {
		e, ok := want[name]
		if !ok {
			failures = append(failures, fmt.Sprintf("%s: not listed in franz-go-suite.txt (got %s)", name, orNotRun(results[name])))
			continue
		}
		row := compatRow{client: client, version: version, check: name}
		got := results[name]
		bad := badSubtests(name, results, want)
		switch {
		case e.pending && got == "PASS" && len(bad) == 0:
			row.outcome = "now-passes"
		case e.pending:
			row.outcome = "pending"
		case got == "PASS" && len(bad) == 0:
			row.outcome = "passed"
		default:
			row.outcome = "failed"
			failures = append(failures, fmt.Sprintf("%s: must pass, got %s %s", name, orNotRun(got), strings.Join(bad, " ")))
		}
		recordCompat(row)
	}
	for name := range want {
		top, _, _ := strings.Cut(name, "/")
		if _, ok := results[top]; !ok && !strings.Contains(name, "/") && !want[name].pending {
			failures = append(failures, name+": listed but the suite has no such test")
		}
	}
	if len(failures) > 0 {
		t.Errorf("franz-go suite against kafkad:\n  %s\n\noutput:\n%s", strings.Join(failures, "\n  "), output.String())
	}
}

func orNotRun(s string) string {
	if s == "" {
		return "no result"
	}
	return s
}

// badSubtests lists subtests of a test that failed or skipped without being
// listed as pending themselves.
func badSubtests(name string, results map[string]string, want map[string]kgoExpectation) []string {
	var bad []string
	for sub, got := range results {
		if !strings.HasPrefix(sub, name+"/") || got == "PASS" {
			continue
		}
		if e, ok := want[sub]; ok && e.pending {
			continue
		}
		bad = append(bad, sub+"="+got)
	}
	sort.Strings(bad)
	return bad
}
