package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnTopic creates a topic of one partition on a single broker.
func txnTopic(t *testing.T, k *kafkad, topic string) {
	t.Helper()
	resp, err := kadm.NewClient(k.client(t)).CreateTopic(context.Background(), 1, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
}

func txnJoin(parts ...[]*kgo.Record) []string {
	var out []string
	for _, p := range parts {
		out = append(out, txnValues(p)...)
	}
	return out
}

func txnOffsets(recs []*kgo.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Offset
	}
	return out
}

func txnRange(from, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)
	}
	return out
}

// TestTxnFranzGoReadCommitted: a franz-go transactional producer commits
// transaction A, aborts B and commits C (10 records each, one partition).
// A read_committed consumer sees A then C, at their offsets (each
// transaction's marker takes one); a read_uncommitted consumer sees A, B,
// C; both isolation levels of ListOffsets answer the end of the log.
func TestTxnFranzGoReadCommitted(t *testing.T) {
	const topic = "txn-kgo"
	k := startTxnBroker(t)
	txnTopic(t, k, topic)
	p := txnProducer(t, []string{k.Addr}, "txn-kgo-1")
	a, b, c := txnRecords(topic, 0, "A", 10), txnRecords(topic, 0, "B", 10), txnRecords(topic, 0, "C", 10)
	for _, txn := range []struct {
		recs []*kgo.Record
		end  kgo.TransactionEndTry
	}{{a, kgo.TryCommit}, {b, kgo.TryAbort}, {c, kgo.TryCommit}} {
		require.NoError(t, p.BeginTransaction())
		txnProduce(t, p, txn.recs...)
		txnEnd(t, p, txn.end)
	}
	assert.Equal(t, txnRange(0, 10), txnOffsets(a))
	assert.Equal(t, txnRange(11, 10), txnOffsets(b))
	assert.Equal(t, txnRange(22, 10), txnOffsets(c))

	got := txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, true), 20)
	assert.Equal(t, txnJoin(a, c), txnValues(got), "read_committed")
	assert.Equal(t, append(txnRange(0, 10), txnRange(22, 10)...), txnOffsets(got), "read_committed offsets")
	got = txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, false), 30)
	assert.Equal(t, txnJoin(a, b, c), txnValues(got), "read_uncommitted")
	for _, r := range got {
		assert.Equal(t, a[0].ProducerID, r.ProducerID)
	}

	cl := k.client(t)
	assert.Equal(t, int64(33), txnListOffset(t, cl, topic, 0, 0), "high watermark")
	assert.Equal(t, int64(33), txnListOffset(t, cl, topic, 0, 1), "last stable offset")
}

// TestTxnOpenTransactionHoldsLSO: transaction A (10 records) is committed,
// B (5) is written and left open, then 3 records without a transaction
// follow it. read_committed consumers get A and nothing more while B is
// open (not even the later non-transactional records); ListOffsets with
// read_committed answers B's first offset (the last stable offset), below
// the high watermark. Once B commits, B and the 3 records appear in order
// and the last stable offset reaches the high watermark.
func TestTxnOpenTransactionHoldsLSO(t *testing.T) {
	const topic = "txn-lso"
	k := startTxnBroker(t)
	txnTopic(t, k, topic)
	p := txnProducer(t, []string{k.Addr}, "txn-lso-1")
	a, b := txnRecords(topic, 0, "A", 10), txnRecords(topic, 0, "B", 5)
	require.NoError(t, p.BeginTransaction())
	txnProduce(t, p, a...)
	txnEnd(t, p, kgo.TryCommit)
	require.NoError(t, p.BeginTransaction())
	txnProduce(t, p, b...)
	plain := txnRecords(topic, 0, "plain", 3)
	txnProduce(t, k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), plain...)
	require.Equal(t, int64(11), b[0].Offset)
	require.Equal(t, int64(16), plain[0].Offset)

	rc := txnConsumer(t, []string{k.Addr}, topic, true)
	got := txnReadN(t, rc, 10)
	assert.Equal(t, txnValues(a), txnValues(got), "read_committed while B is open")
	assert.Empty(t, txnValues(txnPoll(t, rc, 2*time.Second)), "read_committed past the last stable offset")

	cl := k.client(t)
	assert.Equal(t, int64(19), txnListOffset(t, cl, topic, 0, 0), "high watermark")
	assert.Equal(t, int64(11), txnListOffset(t, cl, topic, 0, 1), "last stable offset: B's first offset")
	// A fresh read_committed consumer stops at the same place.
	assert.Equal(t, txnValues(a), txnValues(txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, true), 10)))

	txnEnd(t, p, kgo.TryCommit)
	got = txnReadN(t, rc, 8)
	assert.Equal(t, txnJoin(b, plain), txnValues(got), "read_committed once B committed")
	assert.Equal(t, int64(20), txnListOffset(t, cl, topic, 0, 0), "high watermark")
	assert.Equal(t, int64(20), txnListOffset(t, cl, topic, 0, 1), "last stable offset")
}

// txnFenced reports whether err says the producer was fenced by a newer
// one with its transactional id.
func txnFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// TestTxnZombieFenced: producer P1 (transactional id X) commits A, then
// begins B and writes it. P2 starts with the same X (InitProducerId),
// writes C and commits: P1 is a zombie now, and its next write is refused
// with PRODUCER_FENCED or INVALID_PRODUCER_EPOCH (and its commit fails).
// P2 then begins D and writes it; P3 takes X over and commits E; P2's
// commit of D is refused with PRODUCER_FENCED or INVALID_PRODUCER_EPOCH.
// read_committed sees A, C, E only (B and D were aborted when X was taken
// over); read_uncommitted sees B and D in the log too, and nothing of the
// zombies' later tries.
func TestTxnZombieFenced(t *testing.T) {
	const topic, id = "txn-zombie", "txn-zombie-x"
	k := startTxnBroker(t)
	txnTopic(t, k, topic)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b, c := txnRecords(topic, 0, "A", 5), txnRecords(topic, 0, "B", 5), txnRecords(topic, 0, "C", 5)
	d, e := txnRecords(topic, 0, "D", 5), txnRecords(topic, 0, "E", 5)

	p1 := txnProducer(t, []string{k.Addr}, id)
	require.NoError(t, p1.BeginTransaction())
	txnProduce(t, p1, a...)
	txnEnd(t, p1, kgo.TryCommit)
	require.NoError(t, p1.BeginTransaction())
	txnProduce(t, p1, b...)

	p2 := txnProducer(t, []string{k.Addr}, id)
	require.NoError(t, p2.BeginTransaction())
	txnProduce(t, p2, c...) // InitProducerId first: fences P1, aborts B
	txnEnd(t, p2, kgo.TryCommit)
	assert.Equal(t, a[0].ProducerID, c[0].ProducerID, "same transactional id, same producer id")
	assert.Greater(t, c[0].ProducerEpoch, a[0].ProducerEpoch, "P2 has a newer epoch")

	// The zombie's write is refused (Produce with the old epoch)...
	err := p1.ProduceSync(ctx, txnRecords(topic, 0, "Z", 3)...).FirstErr()
	require.Error(t, err, "zombie P1's produce")
	assert.True(t, txnFenced(err), "zombie P1's produce: %v", err)
	// ...and its commit fails.
	require.Error(t, p1.EndTransaction(ctx, kgo.TryCommit), "zombie P1's commit")

	// P2, fenced in turn while its transaction is open, cannot commit it
	// (EndTxn with the old epoch).
	require.NoError(t, p2.BeginTransaction())
	txnProduce(t, p2, d...)
	p3 := txnProducer(t, []string{k.Addr}, id)
	require.NoError(t, p3.BeginTransaction())
	txnProduce(t, p3, e...)
	txnEnd(t, p3, kgo.TryCommit)
	err = p2.EndTransaction(ctx, kgo.TryCommit)
	require.Error(t, err, "zombie P2's commit")
	assert.True(t, txnFenced(err), "zombie P2's commit: %v", err)

	got := txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, true), 15)
	assert.Equal(t, txnJoin(a, c, e), txnValues(got), "read_committed")
	got = txnReadN(t, txnConsumer(t, []string{k.Addr}, topic, false), 25)
	assert.Equal(t, txnJoin(a, b, c, d, e), txnValues(got), "read_uncommitted: B and D in the log, nothing of the zombies' later tries")
	cl := k.client(t)
	hw := txnListOffset(t, cl, topic, 0, 0)
	assert.Equal(t, hw, txnListOffset(t, cl, topic, 0, 1), "last stable offset at the high watermark: no transaction left open")
}
