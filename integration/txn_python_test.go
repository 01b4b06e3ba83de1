package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTxnPythonReadCommitted: confluent-kafka-python (librdkafka,
// integration/python/ck_txn.py) with a transactional.id commits
// transaction A, aborts B and commits C (distinct values, one partition).
// A read_committed confluent-kafka consumer sees exactly A then C; a
// read_uncommitted one sees A, B, C; franz-go agrees with both.
func TestTxnPythonReadCommitted(t *testing.T) {
	const topic = "txn-ck"
	k := startTxnBroker(t)
	txnTopic(t, k, topic)
	script := func(t *testing.T, stdin any) string {
		t.Helper()
		py := compatTool(t, "venv/bin/python")
		return runTool(t, 60*time.Second, scriptJSON(t, stdin), nil, py, filepath.Join("python", "ck_txn.py"))
	}
	values := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	a, b, c := values("A", 7), values("B", 6), values("C", 5)
	out := script(t, map[string]any{
		"mode": "produce", "bootstrap": k.Addr, "topic": topic, "partition": 0, "transactional.id": "txn-ck-1",
		"txns": []map[string]any{{"values": a, "commit": true}, {"values": b, "commit": false}, {"values": c, "commit": true}},
	})
	assert.Equal(t, `{"txn": 0, "committed": true, "records": 7}
{"txn": 1, "committed": false, "records": 6}
{"txn": 2, "committed": true, "records": 5}`, strings.TrimSpace(out))

	consume := func(t *testing.T, level string, expect int) (vals []string, offsets []int64, high int64) {
		t.Helper()
		out := script(t, map[string]any{"mode": "consume", "bootstrap": k.Addr, "topic": topic, "partition": 0,
			"isolation.level": level, "expect": expect})
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var l struct {
				Offset *int64
				Value  string
				End    *struct{ Low, High int64 }
			}
			require.NoError(t, json.Unmarshal([]byte(line), &l), line)
			if l.End != nil {
				high = l.End.High
				continue
			}
			require.NotNil(t, l.Offset, line)
			vals = append(vals, l.Value)
			offsets = append(offsets, *l.Offset)
		}
		return vals, offsets, high
	}
	all := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	vals, offsets, high := consume(t, "read_committed", len(a)+len(c))
	assert.Equal(t, all(a, c), vals, "read_committed")
	// A at 0..6, its marker at 7, B at 8..13, marker 14, C at 15..19, marker 20.
	assert.Equal(t, append(txnRange(0, 7), txnRange(15, 5)...), offsets, "read_committed offsets")
	assert.Equal(t, int64(21), high, "high watermark")
	vals, _, _ = consume(t, "read_uncommitted", len(a)+len(b)+len(c))
	assert.Equal(t, all(a, b, c), vals, "read_uncommitted")

	assert.Equal(t, all(a, c),
		txnValues(txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, true), len(a)+len(c))), "franz-go read_committed")
	assert.Equal(t, all(a, b, c),
		txnValues(txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, false), len(a)+len(b)+len(c))), "franz-go read_uncommitted")
}
