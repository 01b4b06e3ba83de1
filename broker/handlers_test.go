package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/embedetcd"
	"github.com/kafkad/kafkad/storage"
)

func createTopic(t *testing.T, cl *kgo.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, configs, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
}

func produce(t *testing.T, cl *kgo.Client, req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp, err := req.RequestWith(context.Background(), cl)
	require.NoError(t, err)
	return resp.Topics[0].Partitions[0]
}

func TestCreateTopicsErrors(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "exists", 2, nil)

	tests := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"invalid name", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"already exists", "exists", 1, 1, nil, kerr.TopicAlreadyExists},
		{"zero partitions", "p0", 0, 1, nil, kerr.InvalidPartitions},
		{"rf above brokers", "rf2", 1, 2, nil, kerr.InvalidReplicationFactor},
		{"unknown config", "cfg1", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
		{"bad config value", "cfg2", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.topic)
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, resp.Err, tc.want)
		})
	}

	t.Run("a topic named twice is an invalid request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		for range 2 {
			ct := kmsg.NewCreateTopicsRequestTopic()
			ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "twice", 1, 1
			req.Topics = append(req.Topics, ct)
		}
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, resp.Topics, 2)
		for _, rt := range resp.Topics {
			assert.Equal(t, kerr.InvalidRequest.Code, rt.ErrorCode)
		}
		md, err := adm.Metadata(ctx)
		require.NoError(t, err)
		assert.False(t, md.Topics.Has("twice"))
	})
	t.Run("validate only creates nothing", func(t *testing.T) {
		resp, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "dry")
		require.NoError(t, err)
		require.NoError(t, resp.Error())
		md, err := adm.Metadata(ctx)
		require.NoError(t, err)
		assert.False(t, md.Topics.Has("dry"))
	})
	t.Run("defaults and configs echoed", func(t *testing.T) {
		resp, err := adm.CreateTopic(ctx, -1, -1, map[string]*string{"retention.ms": kadm.StringPtr("1234")}, "defaults")
		require.NoError(t, err)
		require.NoError(t, resp.Err)
		assert.Equal(t, int32(1), resp.NumPartitions)
		assert.Equal(t, int16(1), resp.ReplicationFactor)
		assert.NotEqual(t, kadm.TopicID{}, resp.ID)
		rc, err := adm.DescribeTopicConfigs(ctx, "defaults")
		require.NoError(t, err)
		cfg, err := rc.On("defaults", nil)
		require.NoError(t, err)
		var found bool
		for _, c := range cfg.Configs {
			if c.Key == "retention.ms" {
				found = true
				assert.Equal(t, "1234", c.MaybeValue())
				assert.Equal(t, kmsg.ConfigSourceDynamicTopicConfig, c.Source)
			}
		}
		assert.True(t, found)
	})
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		tb := startTestBroker(t)
		cl := tb.client(t)
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto")}, {Topic: kmsg.StringPtr("bad topic")}}
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(context.Background(), cl)
		require.NoError(t, err)
		require.Len(t, resp.Topics, 2)
		assert.Equal(t, int16(0), resp.Topics[0].ErrorCode)
		assert.Len(t, resp.Topics[0].Partitions, 1)
		assert.Equal(t, kerr.InvalidTopicException.Code, resp.Topics[1].ErrorCode)
		require.Len(t, resp.Brokers, 1)
		assert.Equal(t, int32(1), resp.Brokers[0].NodeID)
	})
	t.Run("off", func(t *testing.T) {
		tb := startTestBroker(t, func(c *Config) { c.AutoCreateTopics = false })
		cl := tb.client(t)
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("missing")}}
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(context.Background(), cl)
		require.NoError(t, err)
		assert.Equal(t, kerr.UnknownTopicOrPartition.Code, resp.Topics[0].ErrorCode)
	})
}

func TestProduceErrors(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.Log.MaxMessageBytes = 1000 })
	cl := tb.client(t)
	createTopic(t, cl, "t", 1, nil)

	corrupt := testBatch(-1, -1, -1, "v")
	corrupt[len(corrupt)-1] ^= 0xff
	magic1 := testBatch(-1, -1, -1, "v")
	magic1[16] = 1
	tests := []struct {
		name string
		req  *kmsg.ProduceRequest
		want *kerr.Error
	}{
		{"unknown topic", produceRequest("nope", 0, 1, testBatch(-1, -1, -1, "v")), kerr.UnknownTopicOrPartition},
		{"unknown partition", produceRequest("t", 7, 1, testBatch(-1, -1, -1, "v")), kerr.UnknownTopicOrPartition},
		{"crc mismatch", produceRequest("t", 0, 1, corrupt), kerr.CorruptMessage},
		{"magic 1", produceRequest("t", 0, 1, magic1), kerr.UnsupportedForMessageFormat},
		{"truncated batch", produceRequest("t", 0, 1, testBatch(-1, -1, -1, "v")[:30]), kerr.CorruptMessage},
		{"too large", produceRequest("t", 0, 1, testBatch(-1, -1, -1, strings.Repeat("x", 2000))), kerr.MessageTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := produce(t, cl, tc.req)
			assert.Equal(t, tc.want.Code, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
			assert.NotNil(t, p.ErrorMessage)
		})
	}
	t.Run("bad acks", func(t *testing.T) {
		// franz-go rewrites Acks to its own setting, so this goes raw.
		req := produceRequest("t", 0, 2, testBatch(-1, -1, -1, "v"))
		req.Version = 8 // not flexible: rawRequest does not skip header tags
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = req.Version
		require.NoError(t, resp.ReadFrom(rawRequest(t, dial(t, tb.addr), req, 7)))
		p := resp.Topics[0].Partitions[0]
		assert.Equal(t, kerr.InvalidRequiredAcks.Code, p.ErrorCode)
	})
	// Nothing above reached the log.
	p := produce(t, cl, produceRequest("t", 0, -1, testBatch(-1, -1, -1, "ok")))
	require.Equal(t, int16(0), p.ErrorCode)
	assert.Equal(t, int64(0), p.BaseOffset)
}

func TestIdempotentProduceDeduplicates(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	createTopic(t, cl, "idem", 1, nil)
	init, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Equal(t, int16(0), init.ErrorCode)
	pid := init.ProducerID

	first := produce(t, cl, produceRequest("idem", 0, -1, testBatch(pid, 0, 0, "a", "b")))
	require.Equal(t, int16(0), first.ErrorCode)
	retry := produce(t, cl, produceRequest("idem", 0, -1, testBatch(pid, 0, 0, "a", "b")))
	require.Equal(t, int16(0), retry.ErrorCode)
	assert.Equal(t, first.BaseOffset, retry.BaseOffset, "a retry answers with the original offset")
	gap := produce(t, cl, produceRequest("idem", 0, -1, testBatch(pid, 0, 5, "c")))
	assert.Equal(t, kerr.OutOfOrderSequenceNumber.Code, gap.ErrorCode)
	next := produce(t, cl, produceRequest("idem", 0, -1, testBatch(pid, 0, 2, "c")))
	require.Equal(t, int16(0), next.ErrorCode)
	assert.Equal(t, int64(2), next.BaseOffset)

	again, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	require.NoError(t, err)
	assert.NotEqual(t, pid, again.ProducerID, "every InitProducerID gets a fresh id")

	offsets, err := kadm.NewClient(cl).ListEndOffsets(ctx, "idem")
	require.NoError(t, err)
	o, _ := offsets.Lookup("idem", 0)
	assert.Equal(t, int64(3), o.Offset, "the retried batch was written once")
}

func TestFetchErrorsAndOffsets(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	createTopic(t, cl, "f", 1, nil)
	for i := 0; i < 3; i++ {
		require.Equal(t, int16(0), produce(t, cl, produceRequest("f", 0, 1, testBatch(-1, -1, -1, "x", "y"))).ErrorCode)
	}
	fetch := func(offset int64, epoch int32) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "f"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Equal(t, int16(0), resp.ErrorCode)
		return resp.Topics[0].Partitions[0]
	}
	p := fetch(3, -1)
	require.Equal(t, int16(0), p.ErrorCode)
	assert.Equal(t, int64(6), p.HighWatermark)
	require.NotEmpty(t, p.RecordBatches)
	assert.Equal(t, int64(2), int64FromBatch(p.RecordBatches), "fetch starts at the batch holding offset 3")

	assert.Equal(t, kerr.OffsetOutOfRange.Code, fetch(7, -1).ErrorCode)
	atEnd := fetch(6, -1)
	assert.Equal(t, int16(0), atEnd.ErrorCode, "fetching at the end is fine")
	assert.NotNil(t, atEnd.RecordBatches, "no data is an empty record set, not null (librdkafka rejects null)")
	assert.Empty(t, atEnd.RecordBatches)
	assert.NotNil(t, fetch(7, -1).RecordBatches, "errors carry empty records too")
	assert.Equal(t, kerr.UnknownLeaderEpoch.Code, fetch(0, 5).ErrorCode)

	t.Run("session ids", func(t *testing.T) {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.SessionID, req.SessionEpoch = 12, 99, 1
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		assert.Equal(t, kerr.FetchSessionIDNotFound.Code, resp.ErrorCode)
	})

	t.Run("delete records moves the start", func(t *testing.T) {
		adm := kadm.NewClient(cl)
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "f", Partition: 0, At: 2})
		resp, err := adm.DeleteRecords(ctx, offs)
		require.NoError(t, err)
		r, _ := resp.Lookup("f", 0)
		require.NoError(t, r.Err)
		assert.Equal(t, int64(2), r.LowWatermark)
		assert.Equal(t, kerr.OffsetOutOfRange.Code, fetch(1, -1).ErrorCode)
		start, err := adm.ListStartOffsets(ctx, "f")
		require.NoError(t, err)
		o, _ := start.Lookup("f", 0)
		assert.Equal(t, int64(2), o.Offset)

		offs = kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "f", Partition: 0, At: 100})
		resp, err = adm.DeleteRecords(ctx, offs)
		require.NoError(t, err)
		r, _ = resp.Lookup("f", 0)
		require.ErrorIs(t, r.Err, kerr.OffsetOutOfRange)
	})
}

// int64FromBatch reads the base offset of the first batch in b.
func int64FromBatch(b []byte) int64 {
	var v int64
	for _, c := range b[:8] {
		v = v<<8 | int64(c)
	}
	return v
}

func TestTopicAdminLifecycle(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "life", 2, nil)

	t.Run("create partitions", func(t *testing.T) {
		resp, err := adm.CreatePartitions(ctx, 2, "life")
		require.NoError(t, err)
		require.NoError(t, resp["life"].Err)
		md, err := adm.Metadata(ctx, "life")
		require.NoError(t, err)
		assert.Len(t, md.Topics["life"].Partitions, 4)
		resp, err = adm.UpdatePartitions(ctx, 3, "life")
		require.NoError(t, err)
		require.ErrorIs(t, resp["life"].Err, kerr.InvalidPartitions)
	})
	t.Run("incremental and full config changes", func(t *testing.T) {
		_, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("4096")},
			{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		}, "life")
		require.NoError(t, err)
		rc, err := adm.DescribeTopicConfigs(ctx, "life")
		require.NoError(t, err)
		cfg, err := rc.On("life", nil)
		require.NoError(t, err)
		values := map[string]string{}
		for _, c := range cfg.Configs {
			values[c.Key] = c.MaybeValue()
		}
		assert.Equal(t, "4096", values["retention.bytes"])
		assert.Equal(t, "delete,compact", values["cleanup.policy"])

		bad, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("-5")}}, "life")
		require.NoError(t, err)
		require.ErrorIs(t, bad[0].Err, kerr.InvalidConfig)

		_, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("60000")}}, "life")
		require.NoError(t, err)
		rc, err = adm.DescribeTopicConfigs(ctx, "life")
		require.NoError(t, err)
		cfg, _ = rc.On("life", nil)
		for _, c := range cfg.Configs {
			if c.Key == "retention.bytes" {
				assert.Equal(t, kmsg.ConfigSourceDefaultConfig, c.Source, "AlterConfigs replaces the whole set")
			}
			if c.Key == "retention.ms" {
				assert.Equal(t, "60000", c.MaybeValue())
			}
		}
	})
	t.Run("describe cluster and broker configs", func(t *testing.T) {
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, dc.Brokers, 1)
		assert.NotEmpty(t, dc.ClusterID)
		bc, err := adm.DescribeBrokerConfigs(ctx, 1)
		require.NoError(t, err)
		require.NoError(t, bc[0].Err)
	})
	t.Run("delete", func(t *testing.T) {
		resp, err := adm.DeleteTopics(ctx, "life", "never")
		require.NoError(t, err)
		require.NoError(t, resp["life"].Err)
		require.ErrorIs(t, resp["never"].Err, kerr.UnknownTopicOrPartition)
		p := produce(t, cl, produceRequest("life", 0, 1, testBatch(-1, -1, -1, "x")))
		assert.Equal(t, kerr.UnknownTopicOrPartition.Code, p.ErrorCode)
		// Recreating the name gives a fresh, empty topic.
		createTopic(t, cl, "life", 1, nil)
		p = produce(t, cl, produceRequest("life", 0, 1, testBatch(-1, -1, -1, "x")))
		require.Equal(t, int16(0), p.ErrorCode)
		assert.Equal(t, int64(0), p.BaseOffset)
	})
}

func TestListOffsetsByTimestamp(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t, kgo.DefaultProduceTopic("ts"), kgo.AllowAutoTopicCreation())
	ctx := context.Background()
	createTopic(t, cl, "ts", 1, nil)
	for i, ts := range []int64{1000, 5000, 3000} {
		r := kgo.StringRecord("v")
		r.Timestamp = timeMs(ts)
		r.Value = []byte{byte(i)}
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	adm := kadm.NewClient(cl)
	byTime, err := adm.ListOffsetsAfterMilli(ctx, 2000, "ts")
	require.NoError(t, err)
	o, _ := byTime.Lookup("ts", 0)
	assert.Equal(t, int64(1), o.Offset)
	assert.Equal(t, int64(5000), o.Timestamp)

	maxTs, err := adm.ListMaxTimestampOffsets(ctx, "ts")
	require.NoError(t, err)
	o, _ = maxTs.Lookup("ts", 0)
	assert.Equal(t, int64(1), o.Offset)

	after, err := adm.ListOffsetsAfterMilli(ctx, 9000, "ts")
	require.NoError(t, err)
	o, _ = after.Lookup("ts", 0)
	assert.Equal(t, int64(3), o.Offset, "kadm maps 'none' to the end offset")
}

// TestMetadataSeesOtherBrokersWrites: a topic deleted through one broker
// is gone from the next Metadata answer of another (kafkajs lists topics
// right after deleting them, from whichever broker it picks).
func TestMetadataSeesOtherBrokersWrites(t *testing.T) {
	etcd := embedetcd.StartTest(t, testLogger(t))
	a := startTestBrokerOn(t, etcd.Endpoints())
	b := startTestBrokerOn(t, etcd.Endpoints(), func(c *Config) { c.BrokerID = 2 })
	ca, cb := a.client(t), b.client(t)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("seen-%d", i)
		createTopic(t, ca, name, 1, nil)
		md := kmsg.NewPtrMetadataRequest()
		md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(name)}}
		resp, err := md.RequestWith(ctx, cb.Broker(2))
		require.NoError(t, err)
		require.Equal(t, int16(0), resp.Topics[0].ErrorCode, "created through broker 1, seen by broker 2 at once")

		_, err = kadm.NewClient(ca).DeleteTopics(ctx, name)
		require.NoError(t, err)
		resp, err = md.RequestWith(ctx, cb.Broker(2))
		require.NoError(t, err)
		require.Equal(t, kerr.UnknownTopicOrPartition.Code, resp.Topics[0].ErrorCode, "deleted through broker 1, gone from broker 2 at once")
	}
}

// TestStaleTopicSnapshotDoesNotReopenDeletedTopic: a watch event handled
// after a topic's deletion carries the topic as it was; opening its
// partitions from that snapshot must not bring the deleted partition back
// (a produce would then be acknowledged into a deleted topic).
func TestStaleTopicSnapshotDoesNotReopenDeletedTopic(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	createTopic(t, cl, "stale", 1, nil)
	stale, ok := tb.store.Topic("stale")
	require.True(t, ok)

	resp, err := kadm.NewClient(cl).DeleteTopics(context.Background(), "stale")
	require.NoError(t, err)
	require.NoError(t, resp["stale"].Err)

	tb.reconcileTopic(stale)
	_, err = tb.openPartition(stale, stale.Partitions[0])
	require.ErrorIs(t, err, errUnknownTopicOrPartition)
	tb.mu.RLock()
	_, open := tb.parts[storage.TopicPartition{Topic: "stale", Partition: 0}]
	tb.mu.RUnlock()
	assert.False(t, open)
	p := produce(t, cl, produceRequest("stale", 0, 1, testBatch(-1, -1, -1, "x")))
	assert.Equal(t, kerr.UnknownTopicOrPartition.Code, p.ErrorCode)
}
