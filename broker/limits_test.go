package broker

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopicsPartitionBound(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	adm := kadm.NewClient(cl)

	t.Run("2^31-1 partitions are refused at once", func(t *testing.T) {
		start := time.Now()
		resp, err := adm.CreateTopic(ctx, math.MaxInt32, 1, nil, "huge")
		require.ErrorIs(t, err, kerr.PolicyViolation)
		assert.Equal(t, "Unable to perform excessively large batch operation.", resp.ErrMessage)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("the bound is over the whole request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		for _, name := range []string{"half1", "half2"} {
			ct := kmsg.NewCreateTopicsRequestTopic()
			ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, 5000, 1
			req.Topics = append(req.Topics, ct)
		}
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		for _, rt := range resp.Topics {
			assert.Equal(t, kerr.PolicyViolation.Code, rt.ErrorCode, rt.Topic)
		}
	})
	t.Run("a huge replica assignment is refused", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "assigned", -1, -1
		for p := range int32(maxRecordsPerUserOp + 1) {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{tb.cfg.BrokerID}
			ct.ReplicaAssignment = append(ct.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, ct)
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		assert.Equal(t, kerr.PolicyViolation.Code, resp.Topics[0].ErrorCode)
	})
	t.Run("under the bound still works", func(t *testing.T) {
		resp, err := adm.CreateTopic(ctx, 50, 1, nil, "fine")
		require.NoError(t, err)
		require.NoError(t, resp.Err)
	})
	t.Run("CreatePartitions to 2^31-1 is refused, the topic keeps its count", func(t *testing.T) {
		resp, err := adm.CreatePartitions(ctx, math.MaxInt32-50, "fine") // adds to the current count
		require.NoError(t, err)
		require.ErrorIs(t, resp["fine"].Err, kerr.PolicyViolation)
		md, err := adm.Metadata(ctx, "fine")
		require.NoError(t, err)
		assert.Len(t, md.Topics["fine"].Partitions, 50)
		grown, err := adm.CreatePartitions(ctx, 2, "fine")
		require.NoError(t, err)
		require.NoError(t, grown["fine"].Err)
	})
	md, err := adm.Metadata(ctx)
	require.NoError(t, err)
	for _, name := range []string{"huge", "half1", "half2", "assigned"} {
		assert.False(t, md.Topics.Has(name), name)
	}
}
