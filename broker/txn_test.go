package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// withAttributes sets a batch's attributes and recomputes its CRC.
func withAttributes(batch []byte, attrs uint16) []byte {
	binary.BigEndian.PutUint16(batch[21:], attrs)
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch
}

// initTxn finds the coordinator of id (creating __transaction_state) and
// initializes the id, polling while the coordinator loads its shard.
func initTxn(t *testing.T, cl *kgo.Client, id string, timeoutMs int32) (int64, int16) {
	t.Helper()
	var resp *kmsg.InitProducerIDResponse
	require.Eventually(t, func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), timeoutMs
		var err error
		resp, err = req.RequestWith(context.Background(), cl)
		return err == nil && resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.CoordinatorNotAvailable.Code
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, int16(0), resp.ErrorCode, kerr.ErrorForCode(resp.ErrorCode))
	return resp.ProducerID, resp.ProducerEpoch
}

// TestTransactionalRequestErrors: what a client that misuses the
// transactional APIs gets, with Kafka's error codes.
func TestTransactionalRequestErrors(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	createTopic(t, cl, "t", 1, nil)
	pid, epoch := initTxn(t, cl, "app", 60000)

	t.Run("control batch from a client", func(t *testing.T) {
		p := produce(t, cl, produceRequest("t", 0, -1, withAttributes(testBatch(pid, epoch, 0, "marker?"), 0x30)))
		assert.Equal(t, kerr.InvalidRecord.Code, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
	})
	t.Run("control batch without a producer id", func(t *testing.T) {
		p := produce(t, cl, produceRequest("t", 0, -1, withAttributes(testBatch(-1, -1, -1, "marker?"), 0x30)))
		assert.Equal(t, kerr.InvalidRecord.Code, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
	})
	t.Run("transactional batch without a producer id", func(t *testing.T) {
		p := produce(t, cl, produceRequest("t", 0, -1, withAttributes(testBatch(-1, -1, -1, "txn?"), 0x10)))
		assert.Equal(t, kerr.InvalidRecord.Code, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
	})
	t.Run("refused batches leave the log empty", func(t *testing.T) {
		offsets := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "t"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1 // latest
		lt.Partitions = append(lt.Partitions, lp)
		offsets.Topics = append(offsets.Topics, lt)
		resp, err := offsets.RequestWith(ctx, cl)
		require.NoError(t, err)
		assert.Equal(t, int64(0), resp.Topics[0].Partitions[0].Offset)
	})
	t.Run("transactional batch on a partition not in the transaction", func(t *testing.T) {
		// Transactions v1 (Produce v11): the client must have added the
		// partition; the leader verifies with the coordinator.
		createTopic(t, cl, "unadded", 1, nil)
		v11 := kversion.Stable()
		v11.SetMaxKeyVersion(0, 11)
		old, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.MaxVersions(v11))
		require.NoError(t, err)
		t.Cleanup(old.Close)
		req := produceRequest("unadded", 0, -1, withAttributes(testBatch(pid, epoch, 0, "x"), 0x10))
		req.TransactionID = kmsg.StringPtr("app")
		p := produce(t, old, req)
		assert.Equal(t, kerr.InvalidTxnState.Code, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
	})
	t.Run("transaction timeout over the maximum", func(t *testing.T) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("app"), int32((16 * time.Minute).Milliseconds())
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		assert.Equal(t, kerr.InvalidTransactionTimeout.Code, resp.ErrorCode)
	})
	t.Run("add partitions", func(t *testing.T) {
		add := func(id string, pid int64, epoch int16, topic string) int16 {
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.Version = 3
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
			req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
			resp, err := req.RequestWith(ctx, cl)
			require.NoError(t, err)
			return resp.Topics[0].Partitions[0].ErrorCode
		}
		assert.Equal(t, kerr.UnknownTopicOrPartition.Code, add("app", pid, epoch, "nope"))
		assert.Equal(t, kerr.InvalidProducerIDMapping.Code, add("app", pid+1000, epoch, "t"))
		assert.Equal(t, kerr.ProducerFenced.Code, add("app", pid, epoch+5, "t"))
		assert.Equal(t, int16(0), add("app", pid, epoch, "t"))
	})
	t.Run("commit of nothing", func(t *testing.T) {
		initTxn(t, cl, "empty", 60000)
		pid, epoch := initTxn(t, cl, "empty", 60000)
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = 3
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "empty", pid, epoch, true
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		assert.Equal(t, kerr.InvalidTxnState.Code, resp.ErrorCode)
	})
	t.Run("marker for an unknown partition", func(t *testing.T) {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: pid, ProducerEpoch: epoch, Committed: true,
			Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "nope", Partitions: []int32{0}}}}}
		resp, err := cl.Broker(int(tb.cfg.BrokerID)).Request(ctx, req)
		require.NoError(t, err)
		code := resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
		assert.Equal(t, kerr.UnknownTopicOrPartition.Code, code)
	})
	t.Run("describe and list", func(t *testing.T) {
		d := kmsg.NewPtrDescribeTransactionsRequest()
		d.TransactionalIDs = []string{"app", "never-seen"}
		resp, err := d.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, resp.TransactionStates, 2)
		byID := map[string]kmsg.DescribeTransactionsResponseTransactionState{}
		for _, s := range resp.TransactionStates {
			byID[s.TransactionalID] = s
		}
		assert.Equal(t, int16(0), byID["app"].ErrorCode)
		assert.Equal(t, "Ongoing", byID["app"].State)
		assert.Equal(t, pid, byID["app"].ProducerID)
		require.Len(t, byID["app"].Topics, 1)
		assert.Equal(t, []int32{0}, byID["app"].Topics[0].Partitions)
		assert.Equal(t, kerr.TransactionalIDNotFound.Code, byID["never-seen"].ErrorCode)

		l := kmsg.NewPtrListTransactionsRequest()
		l.StateFilters = []string{"Ongoing", "Sleeping"}
		lresp, err := cl.Broker(int(tb.cfg.BrokerID)).Request(ctx, l)
		require.NoError(t, err)
		lr := lresp.(*kmsg.ListTransactionsResponse)
		assert.Equal(t, []string{"Sleeping"}, lr.UnknownStateFilters)
		require.Len(t, lr.TransactionStates, 1)
		assert.Equal(t, "app", lr.TransactionStates[0].TransactionalID)
	})
	t.Run("find coordinator without a key", func(t *testing.T) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKeys = 1, []string{""}
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, resp.Coordinators, 1)
		assert.Equal(t, kerr.InvalidRequest.Code, resp.Coordinators[0].ErrorCode)
	})
}
