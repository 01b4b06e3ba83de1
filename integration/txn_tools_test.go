package integration

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafka-transactions.sh's main class.
const javaTransactionsCommand = "org.apache.kafka.tools.TransactionsCommand"

// txnToolTable parses a table the transactions tool prints (a header line
// of column names, then rows, columns separated by tabs and padded with
// spaces) into one map per row; a column missing at the end of a row is
// empty.
func txnToolTable(t *testing.T, out string) []map[string]string {
	t.Helper()
	cells := func(line string) []string {
		f := strings.Split(line, "\t")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		for len(f) > 0 && f[len(f)-1] == "" {
			f = f[:len(f)-1]
		}
		return f
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NotEmpty(t, lines, "no output")
	header := cells(lines[0])
	var rows []map[string]string
	for _, line := range lines[1:] {
		f := cells(line)
		if len(f) == 0 {
			continue
		}
		require.LessOrEqual(t, len(f), len(header), "row %q under %q", line, lines[0])
		row := map[string]string{}
		for i, h := range header {
			if i < len(f) {
				row[h] = f[i]
			} else {
				row[h] = ""
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestTxnTimeoutAbortAndTransactionsTool: a franz-go producer with a 5 s
// transaction timeout writes 5 records in a transaction and is then
// abandoned (no commit, no abort, no close). The broker runs with
// transaction.abort.timed.out.transaction.cleanup.interval.ms=1000.
// While the transaction is open, kafka-transactions.sh (Apache Kafka's
// TransactionsCommand) lists it as Ongoing, describe shows its partition,
// and describe-producers shows the producer with the transaction's start
// offset. After the timeout the coordinator aborts it: describe shows
// CompleteAbort, the last stable offset moves past the abort marker,
// read_committed never sees the records, and a later committed
// transaction is visible. Then `kafka-transactions.sh abort` ends an open
// transaction from the partition's side: the last stable offset advances
// and its records are not visible to read_committed.
func TestTxnTimeoutAbortAndTransactionsTool(t *testing.T) {
	const topic, abandoned = "txn-timeout", "txn-timeout-abandoned"
	k := startTxnBroker(t, "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000")
	txnTopic(t, k, topic)
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	cl := k.client(t)
	adminCfg := javaAdminConfig(t)
	tool := func(t *testing.T, args ...string) string {
		t.Helper()
		return javaRun(t, "", nil, javaTransactionsCommand,
			append([]string{"--bootstrap-server", k.Addr, "--command-config", adminCfg}, args...)...)
	}

	p := txnProducer(t, []string{k.Addr}, abandoned, kgo.TransactionTimeout(5*time.Second))
	recs := txnRecords(topic, 0, "T", 5)
	require.NoError(t, p.BeginTransaction())
	txnProduce(t, p, recs...)
	opened := time.Now()
	pid := strconv.FormatInt(recs[0].ProducerID, 10)

	// While open (the tool's JVMs take a second or two each; the
	// transaction has 5 s).
	out := tool(t, "list")
	var listed map[string]string
	for _, row := range txnToolTable(t, out) {
		if row["TransactionalId"] == abandoned {
			listed = row
		}
	}
	require.NotNil(t, listed, "list output:\n%s", out)
	assert.Equal(t, "Ongoing", listed["TransactionState"], "list output:\n%s", out)
	assert.Equal(t, pid, listed["ProducerId"], "list output:\n%s", out)
	assert.Equal(t, "1", listed["Coordinator"], "list output:\n%s", out)

	out = tool(t, "describe-producers", "--topic", topic, "--partition", "0")
	rows := txnToolTable(t, out)
	require.Len(t, rows, 1, "describe-producers output:\n%s", out)
	assert.Equal(t, pid, rows[0]["ProducerId"], "describe-producers output:\n%s", out)
	assert.Equal(t, "0", rows[0]["CurrentTransactionStartOffset"], "describe-producers output:\n%s", out)
	assert.Equal(t, "4", rows[0]["LastSequence"], "describe-producers output:\n%s", out)

	out = tool(t, "describe", "--transactional-id", abandoned)
	if time.Since(opened) < 4*time.Second {
		rows = txnToolTable(t, out)
		require.Len(t, rows, 1, "describe output:\n%s", out)
		assert.Equal(t, "Ongoing", rows[0]["TransactionState"], "describe output:\n%s", out)
		assert.Equal(t, pid, rows[0]["ProducerId"], "describe output:\n%s", out)
		assert.Equal(t, "5000", rows[0]["TransactionTimeoutMs"], "describe output:\n%s", out)
		assert.Equal(t, topic+"-0", rows[0]["TopicPartitions"], "describe output:\n%s", out)
	} else {
		t.Logf("describe ran %s after the transaction opened: not checked as Ongoing\n%s", time.Since(opened), out)
	}

	// The coordinator aborts it once the timeout passed.
	require.Eventually(t, func() bool {
		d, err := adm.DescribeTransactions(ctx, abandoned)
		if err != nil {
			return false
		}
		return d[abandoned].State == "CompleteAbort"
	}, 30*time.Second, 200*time.Millisecond, "the timed-out transaction was never aborted")
	t.Logf("aborted %s after it opened", time.Since(opened).Round(100*time.Millisecond))
	out = tool(t, "describe", "--transactional-id", abandoned)
	rows = txnToolTable(t, out)
	require.Len(t, rows, 1, "describe output:\n%s", out)
	assert.Equal(t, "CompleteAbort", rows[0]["TransactionState"], "describe output:\n%s", out)
	assert.Empty(t, rows[0]["TopicPartitions"], "describe output:\n%s", out)

	// Records 0-4, the abort marker at 5: nothing is unstable any more.
	require.Eventually(t, func() bool { o, err := txnTryListOffset(cl, topic, 0, 1); return err == nil && o == 6 }, 10*time.Second, 100*time.Millisecond,
		"last stable offset after the abort")
	assert.Equal(t, int64(6), txnListOffset(t, cl, topic, 0, 0), "high watermark")
	later := txnProducer(t, []string{k.Addr}, "txn-timeout-later")
	committed := txnRecords(topic, 0, "L", 3)
	require.NoError(t, later.BeginTransaction())
	txnProduce(t, later, committed...)
	txnEnd(t, later, kgo.TryCommit)
	assert.Equal(t, txnValues(committed), txnValues(txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, true), 3)),
		"read_committed: the later transaction only")
	assert.Equal(t, txnJoin(recs, committed), txnValues(txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, false), 8)),
		"read_uncommitted: the aborted records are in the log")

	t.Run("abort", func(t *testing.T) {
		const topic = "txn-hanging"
		txnTopic(t, k, topic)
		before := txnRecords(topic, 0, "before", 2)
		txnProduce(t, k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), before...)
		// An open transaction whose coordinator would keep it for a minute.
		p := txnProducer(t, []string{k.Addr}, "txn-hanging-1", kgo.TransactionTimeout(time.Minute))
		hanging := txnRecords(topic, 0, "H", 5)
		require.NoError(t, p.BeginTransaction())
		txnProduce(t, p, hanging...)
		require.Equal(t, int64(2), hanging[0].Offset)
		require.Equal(t, int64(2), txnListOffset(t, cl, topic, 0, 1), "last stable offset: the open transaction's first offset")

		tool(t, "abort", "--topic", topic, "--partition", "0", "--start-offset", "2")
		// Records 2-6, the abort marker at 7.
		require.Eventually(t, func() bool { o, err := txnTryListOffset(cl, topic, 0, 1); return err == nil && o == 8 }, 10*time.Second, 100*time.Millisecond,
			"last stable offset after kafka-transactions.sh abort")
		assert.Equal(t, int64(8), txnListOffset(t, cl, topic, 0, 0), "high watermark")
		rc := txnConsumer(t, []string{k.Addr}, topic, true)
		assert.Equal(t, txnValues(before), txnValues(txnReadN(t, rc, 2)), "read_committed")
		out := tool(t, "describe-producers", "--topic", topic, "--partition", "0")
		for _, row := range txnToolTable(t, out) {
			assert.Equal(t, "None", row["CurrentTransactionStartOffset"], "describe-producers output:\n%s", out)
		}
	})
}
