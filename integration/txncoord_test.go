package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
