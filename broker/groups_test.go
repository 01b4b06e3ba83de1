package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupConsumeCommitAndOffsetFetchVersions runs a franz-go group
// consumer through the coordinator APIs, then reads the commits back with
// an old (v1) and a batched (v8) OffsetFetch, and checks the internal
// offsets topic clients expect appeared.
func TestGroupConsumeCommitAndOffsetFetchVersions(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) {
		c.Group.InitialRebalanceDelay = 0
		c.OffsetsTopicPartitions = 3
	})
	ctx := context.Background()
	producer := tb.client(t, kgo.DefaultProduceTopic("g"))
	createTopic(t, producer, "g", 3, nil)
	for i := 0; i < 30; i++ {
		require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr())
	}

	consumer := tb.client(t, kgo.ConsumerGroup("grp"), kgo.ConsumeTopics("g"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	got := 0
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for got < 30 {
		fs := consumer.PollFetches(pctx)
		require.NoError(t, pctx.Err())
		got += fs.NumRecords()
	}
	require.NoError(t, consumer.CommitUncommittedOffsets(ctx))

	adm := kadm.NewClient(producer)
	lags, err := adm.Lag(ctx, "grp")
	require.NoError(t, err)
	l := lags["grp"]
	require.NoError(t, l.Error())
	assert.Equal(t, "Stable", l.State)
	assert.Equal(t, int64(0), l.Lag.Total(), "everything consumed was committed")

	old := kmsg.NewPtrOffsetFetchRequest()
	old.Version = 1
	old.Group = "grp"
	old.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "g", Partitions: []int32{0, 1, 2, 9}}}
	oldResp := kmsg.NewPtrOffsetFetchResponse()
	oldResp.Version = 1
	require.NoError(t, oldResp.ReadFrom(rawRequest(t, dial(t, tb.addr), old, 3)))
	require.Len(t, oldResp.Topics, 1)
	var sum int64
	for _, p := range oldResp.Topics[0].Partitions {
		if p.Partition == 9 {
			assert.Equal(t, int64(-1), p.Offset, "no commit: -1")
			continue
		}
		sum += p.Offset
	}
	assert.Equal(t, int64(30), sum, "v1 sees the commits")

	batched := kmsg.NewPtrOffsetFetchRequest()
	batched.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "grp"}, {Group: "nobody"}}
	resp, err := batched.RequestWith(ctx, producer)
	require.NoError(t, err)
	require.Len(t, resp.Groups, 2)
	require.Len(t, resp.Groups[0].Topics, 1)
	assert.Len(t, resp.Groups[0].Topics[0].Partitions, 3)
	assert.Empty(t, resp.Groups[1].Topics, "a group without commits has no offsets")

	md, err := adm.Metadata(ctx, "__consumer_offsets")
	require.NoError(t, err)
	require.NoError(t, md.Topics["__consumer_offsets"].Err)
	assert.True(t, md.Topics["__consumer_offsets"].IsInternal)

	consumer.Close()
	deleted, err := adm.DeleteGroup(ctx, "grp")
	require.NoError(t, err)
	require.NoError(t, deleted.Err)
}
