package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// findTxnCoordinator asks the cluster which broker coordinates id.
func findTxnCoordinator(t *testing.T, cl *kgo.Client, id string) int32 {
	t.Helper()
	var node int32 = -1
	require.Eventually(t, func() bool {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = 1, id, []string{id}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != 0 {
			return false
		}
		node = resp.Coordinators[0].NodeID
		return true
	}, 30*time.Second, 50*time.Millisecond)
	return node
}

// describeTxn asks broker node for id's state (DescribeTransactions).
func describeTxn(cl *kgo.Client, node int32, id string) (string, error) {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(node)).Request(ctx, req)
	if err != nil {
		return "", err
	}
	st := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
	if st.ErrorCode != 0 {
		return "", fmt.Errorf("error code %d", st.ErrorCode)
	}
	return st.State, nil
}

// TestTxnCoordinatorKilledDuringPrepareCommit: the transaction
// coordinator has stored PrepareCommit but cannot reach one partition's
// leader (stopped with SIGSTOP) when it is killed -9. The broker that
// takes its shard over finishes the commit once that leader is back: a
// read_committed consumer sees every record of the transaction on both
// partitions, exactly once, and nothing of a transaction aborted before.
func TestTxnCoordinatorKilledDuringPrepareCommit(t *testing.T) {
	c := startCluster(t, 3)
	admin := c.client(t)
	const id = "prepare-commit-failover"
	coord := findTxnCoordinator(t, admin, id)
	var others []int32
	for _, k := range c.brokers {
		if k.ID != coord {
			others = append(others, k.ID)
		}
	}
	stopped, live := others[0], others[1]

	// p0 lives only on the broker that will be stopped, p1 only on the
	// other broker that is not the coordinator.
	topic := "txn-failover"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, b := range []int32{stopped, live} {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), []int32{b}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), admin)
	require.NoError(t, err)
	require.Equal(t, int16(0), resp.Topics[0].ErrorCode)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prod := c.client(t, kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(time.Minute))
	produce := func(tag string, n int) {
		require.NoError(t, prod.BeginTransaction())
		for i := 0; i < n; i++ {
			r := &kgo.Record{Partition: int32(i % 2), Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
			require.NoError(t, prod.ProduceSync(ctx, r).FirstErr())
		}
	}
	produce("aborted", 10)
	require.NoError(t, prod.EndTransaction(ctx, kgo.TryAbort))
	produce("committed", 100)

	// The stopped broker cannot take the marker; the commit is stored as
	// PrepareCommit and answered.
	sb := c.byID(stopped)
	require.NoError(t, sb.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = sb.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	require.NoError(t, prod.EndTransaction(ctx, kgo.TryCommit))
	state, err := describeTxn(admin, coord, id)
	require.NoError(t, err)
	require.Equal(t, "PrepareCommit", state)

	c.byID(coord).Kill()
	require.NoError(t, sb.cmd.Process.Signal(syscall.SIGCONT))
	resumed = true

	// Another broker takes the shard over and completes the commit.
	var next int32
	require.Eventually(t, func() bool {
		next = findTxnCoordinator(t, admin, id)
		if next == coord {
			return false
		}
		state, err := describeTxn(admin, next, id)
		return err == nil && state == "CompleteCommit"
	}, time.Minute, 100*time.Millisecond)

	cons := c.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for len(seen) < 100 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	require.Len(t, seen, 100)
	for i := 0; i < 100; i++ {
		assert.Equal(t, 1, seen[fmt.Sprintf("committed-%d", i)], "committed-%d", i)
	}
	for v := range seen {
		assert.NotContains(t, v, "aborted")
	}
}

// listOffset answers ListOffsets latest for partition 0 of topic at an
// isolation level (1: read_committed, the last stable offset).
func listOffset(t *testing.T, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var off int64 = -1
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			return false
		}
		off = resp.Topics[0].Partitions[0].Offset
		return true
	}, 30*time.Second, 50*time.Millisecond)
	return off
}

// readCommitted consumes partition 0 of topic from the start with
// read_committed until want values arrived, then polls once more for a
// second to see that nothing else is readable.
func readCommitted(t *testing.T, k *kafkad, topic string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons := k.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []string
	for len(out) < want && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	require.Len(t, out, want)
	extra, cancelExtra := context.WithTimeout(context.Background(), time.Second)
	defer cancelExtra()
	cons.PollFetches(extra).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// TestTxnStateSurvivesKill: after kill -9 the broker rebuilds the last
// stable offset (held by a transaction still open) and the aborted
// transactions from its log; read_committed consumers see exactly the
// committed records before and after, and the open transaction can still
// be committed through the restarted coordinator.
func TestTxnStateSurvivesKill(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	admin := k.client(t)
	const topic = "txn-kill"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)

	txnProducer := func(id string) *kgo.Client {
		return k.client(t, kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(time.Minute))
	}
	values := func(tag string, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s-%d", tag, i))
		}
		return out
	}
	txn := func(cl *kgo.Client, tag string, end *kgo.TransactionEndTry) {
		require.NoError(t, cl.BeginTransaction())
		for _, v := range values(tag, 10) {
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr())
		}
		if end != nil {
			require.NoError(t, cl.EndTransaction(ctx, *end))
		}
	}
	commit, abort := kgo.TryCommit, kgo.TryAbort
	txn(txnProducer("a"), "committed", &commit)
	txn(txnProducer("b"), "aborted", &abort)
	open := txnProducer("c")
	txn(open, "open", nil)
	plain := k.client(t, kgo.DefaultProduceTopic(topic))
	for _, v := range values("plain", 5) {
		require.NoError(t, plain.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr())
	}

	lso, hw := listOffset(t, admin, topic, 1), listOffset(t, admin, topic, 0)
	require.Less(t, lso, hw, "the open transaction holds the last stable offset")
	before := readCommitted(t, k, topic, 10)
	assert.Equal(t, values("committed", 10), before)

	k.Kill()
	k.Start()
	assert.Equal(t, lso, listOffset(t, admin, topic, 1), "last stable offset rebuilt")
	assert.Equal(t, hw, listOffset(t, admin, topic, 0))
	assert.Equal(t, values("committed", 10), readCommitted(t, k, topic, 10), "aborted records filtered after recovery")

	// The open transaction lives on in the coordinator's etcd state.
	require.NoError(t, open.EndTransaction(ctx, kgo.TryCommit))
	want := append(append(values("committed", 10), values("open", 10)...), values("plain", 5)...)
	assert.Equal(t, want, readCommitted(t, k, topic, 25))
}
