package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnJavaClasses compiles the transaction programs of integration/java/src
// against the jars in .cache/java/lib and returns the class directory.
func txnJavaClasses(t *testing.T) string {
	t.Helper()
	lib := javaKafkaPinned.lib(t)
	classes := t.TempDir()
	src := filepath.Join(repoRoot(), "integration", "java", "src")
	runTool(t, 90*time.Second, "", nil, "javac", "-cp", filepath.Join(lib, "*"), "-d", classes,
		filepath.Join(src, "TxnCopy.java"), filepath.Join(src, "TxnWordCount.java"))
	return classes
}

// txnJavaCommand is a JVM running class from classes with the Kafka jars.
func txnJavaCommand(t *testing.T, ctx context.Context, classes, class string, args ...string) *exec.Cmd {
	t.Helper()
	lib := javaKafkaPinned.lib(t)
	jvm := []string{
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", classes + ":" + filepath.Join(lib, "*"), class,
	}
	cmd := exec.CommandContext(ctx, "java", append(jvm, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// txnJavaExit runs a Java program to its end and returns its standard
// output and exit status (the program may exit non-zero on purpose).
func txnJavaExit(t *testing.T, classes, class string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := txnJavaCommand(t, ctx, classes, class, args...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", class, err, stdout.String(), stderr.String())
	}
	if exit != nil && exit.ExitCode() != 42 {
		t.Logf("%s exited %d; stderr:\n%s", class, exit.ExitCode(), stderr.String())
	}
	return stdout.String(), cmd.ProcessState.ExitCode()
}

// TestTxnJavaConsumeTransformProduceCrash: integration/java/src/TxnCopy.java
// (kafka-clients) copies 2000 records from a 3-partition input topic to an
// output topic in transactions of at most 50 records, committing its
// consumer offsets in each transaction (sendOffsetsToTransaction with the
// consumer's group metadata). Its first run crashes (Runtime.halt) after 7
// committed transactions with half of the 8th in the log; the second run,
// with the same transactional.id and group, finishes the job. Asserted:
//   - after the crash, read_committed sees exactly the 7 transactions;
//   - the second run resumes exactly where the committed offsets were: the
//     two runs' committed records add up to the input;
//   - read_committed sees every input record exactly once in the output
//     (set equality, count), and per input partition in input order;
//   - the half transaction is in the log (read_uncommitted sees it) but
//     never visible to read_committed;
//   - the group's committed offsets are the input's end offsets.
func TestTxnJavaConsumeTransformProduceCrash(t *testing.T) {
	const (
		in, out, group, txnID = "txn-copy-in", "txn-copy-out", "txn-copy", "txn-copy-1"
		n, perTxn, haltAfter  = 2000, 50, 7
	)
	k := startTxnBroker(t)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	for _, topic := range []string{in, out} {
		resp, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
	}
	var input []*kgo.Record
	for i := 0; i < n; i++ {
		input = append(input, &kgo.Record{Topic: in, Partition: int32(i % 3),
			Key: []byte(fmt.Sprintf("k-%d", i)), Value: []byte(strconv.Itoa(i))})
	}
	javaProduce(t, k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), input)
	classes := txnJavaClasses(t)
	copyRun := func(t *testing.T, extra ...string) (lines [][]string, exit int) {
		t.Helper()
		stdout, exit := txnJavaExit(t, classes, "TxnCopy", append([]string{k.Addr, in, out, group, txnID, strconv.Itoa(perTxn)}, extra...)...)
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			lines = append(lines, strings.Split(line, "\t"))
		}
		return lines, exit
	}
	sum := func(lines [][]string, kind string) (txns, records int) {
		for _, f := range lines {
			if f[0] == kind {
				n, err := strconv.Atoi(f[2])
				require.NoError(t, err)
				txns++
				records += n
			}
		}
		return txns, records
	}

	// First run: crash mid-transaction.
	lines, exit := copyRun(t, strconv.Itoa(haltAfter))
	require.Equal(t, 42, exit, "the first run halts on purpose; output %q", lines)
	txns, before := sum(lines, "txn")
	require.Equal(t, haltAfter, txns, "committed transactions before the crash")
	_, halted := sum(lines, "halt")
	require.Positive(t, halted, "records of the open transaction")
	t.Logf("first run: %d records in %d transactions committed, %d records left in an open transaction", before, txns, halted)

	// Only the committed transactions are visible, while the crashed one is
	// still open (held at the LSO) until the restart aborts it.
	rc := txnConsumer(t, []string{k.Addr}, out, true)
	assert.Len(t, txnReadN(t, rc, before), before, "read_committed after the crash")

	// Second run: the same transactional.id fences the crashed one and
	// aborts its transaction; the consumer resumes from the committed offsets.
	lines, exit = copyRun(t)
	require.Equal(t, 0, exit, "second run; output %q", lines)
	_, after := sum(lines, "txn")
	require.Len(t, lines[len(lines)-1], 3)
	assert.Equal(t, "done", lines[len(lines)-1][0])
	assert.Equal(t, n, before+after, "records committed by the two runs: the second resumes at the committed offsets")

	// read_committed: every input exactly once.
	rc = txnConsumer(t, []string{k.Addr}, out, true)
	got := txnReadN(t, rc, n)
	seen := map[string]bool{}
	lastSrc := map[string]int64{} // input partition -> last input offset, per output partition
	for _, r := range got {
		v := string(r.Value)
		require.False(t, seen[v], "%s twice in the output", v)
		seen[v] = true
		i, err := strconv.Atoi(strings.TrimPrefix(v, "copied-"))
		require.NoError(t, err, "value %q", v)
		assert.Equal(t, fmt.Sprintf("k-%d", i), string(r.Key))
		require.Len(t, r.Headers, 1)
		var sp, so int64
		_, err = fmt.Sscanf(string(r.Headers[0].Value), "%d/%d", &sp, &so)
		require.NoError(t, err)
		assert.Equal(t, int64(i%3), sp, "record %d's input partition", i)
		assert.Equal(t, int64(i/3), so, "record %d's input offset", i)
		key := fmt.Sprintf("%d<-%d", r.Partition, sp)
		if last, ok := lastSrc[key]; ok {
			assert.Greater(t, so, last, "output partition %d: input %d/%d after %d", r.Partition, sp, so, last)
		}
		lastSrc[key] = so
	}
	for i := 0; i < n; i++ {
		require.True(t, seen[fmt.Sprintf("copied-%d", i)], "input %d missing from the output", i)
	}

	// read_uncommitted: the aborted half transaction is in the log.
	ru := txnConsumer(t, []string{k.Addr}, out, false)
	all := txnReadN(t, ru, n+halted)
	dups := 0
	count := map[string]int{}
	for _, r := range all {
		count[string(r.Value)]++
		if count[string(r.Value)] == 2 {
			dups++
		}
	}
	assert.Equal(t, halted, dups, "records of the aborted transaction written again by the second run")

	assert.Equal(t, javaEndOffsets(t, adm, in), javaCommitted(t, adm, group, in), "committed offsets of the group")
}

// txnUntil calls cond, which must block for a moment (a poll), until it
// holds, failing after timeout.
func txnUntil(t *testing.T, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s after %s", msg, timeout)
		}
	}
}

// TestTxnStreamsWordCountCoordinatorKilled: a Kafka Streams word count
// (integration/java/src/TxnWordCount.java, processing.guarantee=
// exactly_once_v2) on three brokers, RF=3 topics (internal ones too) with
// min.insync.replicas=2. Half of 5000 lines are counted; the broker that
// coordinates the application's transactions (FindCoordinator, key type 1,
// for the transactional id ListTransactions names) is killed with SIGKILL;
// the second half is written. Asserted: the last count per word that a
// read_committed consumer sees equals the count in the input, and no count
// ever went past it (nothing counted twice across the failover).
func TestTxnStreamsWordCountCoordinatorKilled(t *testing.T) {
	const (
		in, out, app = "txn-wc-lines", "txn-wc-counts", "txn-wc"
		lines        = 5000
	)
	c := startTxnCluster(t, 3)
	createGroupTopic(t, c, in, 3)
	createGroupTopic(t, c, out, 3)
	ctx := context.Background()

	line := func(i int) string {
		return fmt.Sprintf("w%d w%d w%d", i%20, (i*i)%17, (i/7)%11)
	}
	want := map[string]int64{}
	for i := 0; i < lines; i++ {
		for _, w := range strings.Fields(line(i)) {
			want[w]++
		}
	}
	producer := c.client(t, kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte(strconv.Itoa(i)), Value: []byte(line(i))})
		}
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		require.NoError(t, producer.ProduceSync(ctx, recs...).FirstErr())
	}
	produce(0, lines/2)

	// The Streams application runs until its stdin closes.
	classes := txnJavaClasses(t)
	runCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := txnJavaCommand(t, runCtx, classes, "TxnWordCount", strings.Join(c.seeds(), ","), app, in, out, t.TempDir(), "3")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var stopOnce sync.Once
	var waitErr error
	stop := func() error {
		stopOnce.Do(func() {
			stdin.Close()
			waitErr = cmd.Wait()
		})
		return waitErr
	}
	t.Cleanup(func() {
		_ = stop()
		if t.Failed() {
			t.Logf("TxnWordCount stdout:\n%s\nstderr (tail):\n%s", stdout.String(), txnTail(stderr.String(), 80))
		}
	})

	// The counts as a read_committed consumer sees them.
	rc := c.client(t, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	last := map[string]int64{}
	highest := map[string]int64{}
	updates := 0
	readCounts := func() {
		t.Helper()
		for _, r := range txnPoll(t, rc, 500*time.Millisecond) {
			require.Len(t, r.Value, 8, "count of %q", r.Key)
			n := int64(binary.BigEndian.Uint64(r.Value))
			w := string(r.Key)
			last[w] = n
			highest[w] = max(highest[w], n)
			updates++
		}
	}
	var firstHalf int64
	for i := 0; i < lines/2; i++ {
		firstHalf += int64(len(strings.Fields(line(i))))
	}
	sumCounts := func() int64 {
		var s int64
		for _, n := range last {
			s += n
		}
		return s
	}
	// Kill mid-run: once part of the first half is counted. (readCounts
	// polls in this goroutine, paced by the fetch wait, rather than inside
	// require.Eventually, whose condition runs on another goroutine and
	// may outlive the test.)
	txnUntil(t, 90*time.Second, "no counts from the Streams application", func() bool {
		readCounts()
		return sumCounts() > 0
	})

	adm := kadm.NewClient(c.client(t))
	var txnIDs []string
	require.Eventually(t, func() bool {
		listed, err := adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			return false
		}
		txnIDs = txnIDs[:0]
		for _, id := range listed.TransactionalIDs() {
			if strings.HasPrefix(id, app+"-") {
				txnIDs = append(txnIDs, id)
			}
		}
		return len(txnIDs) > 0
	}, 30*time.Second, 200*time.Millisecond, "ListTransactions names no transactional id of %s", app)
	var victim int32 = -1
	require.Eventually(t, func() bool {
		coords := adm.FindTxnCoordinators(ctx, txnIDs...)
		r, ok := coords[txnIDs[0]]
		if !ok || r.Err != nil || r.NodeID < 0 {
			return false
		}
		victim = r.NodeID
		return true
	}, 30*time.Second, 200*time.Millisecond, "no coordinator for %v", txnIDs)
	t.Logf("transactional ids %v; killing their coordinator, broker %d, at %d of %d words counted", txnIDs, victim, sumCounts(), firstHalf)
	c.byID(victim).Kill()

	produce(lines/2, lines)
	txnUntil(t, 150*time.Second, "final counts never matched the input", func() bool {
		readCounts()
		for w, n := range want {
			if last[w] != n {
				return false
			}
		}
		return len(last) == len(want)
	})
	t.Logf("%d of %d words counted", sumCounts(), 3*lines)
	// One more look for late (double) updates.
	readCounts()
	assert.Equal(t, want, last, "final count per word")
	assert.Equal(t, want, highest, "highest count ever seen per word (above the final: counted twice)")
	coords := adm.FindTxnCoordinators(ctx, txnIDs...)
	t.Logf("%d count updates read; coordinator of %s now broker %d", updates, txnIDs[0], coords[txnIDs[0]].NodeID)

	require.NoError(t, stop(), "TxnWordCount exit")
	assert.Contains(t, stdout.String(), "closed")
	t.Logf("TxnWordCount output:\n%s", stdout.String())
}
