package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactedTopicReplicates: a replica that was down while the leader
// compacted catches up from the cleaned log (gaps in the offsets), and
// after the other two brokers die it leads with every key's latest value
// at the offsets the leader gave them.
func TestCompactedTopicReplicates(t *testing.T) {
	c := startCluster(t, 3, "--log.cleaner.backoff.ms=100")
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"internal.segment.bytes":    kadm.StringPtr("2000"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}, "compacted")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	v := c.waitAgreement("compacted", func(v map[int32]partitionView) bool { return v[0].leader > 0 && v[0].isr == "[1 2 3]" })
	leader := c.byID(v[0].leader)
	var late, other *kafkad
	for _, k := range c.brokers {
		switch {
		case k == leader:
		case late == nil:
			late = k
		default:
			other = k
		}
	}
	late.Stop()

	producer := c.client(t, kgo.DefaultProduceTopic("compacted"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	latest := map[string]string{}
	const n = 600
	for i := range n {
		key, value := fmt.Sprintf("key-%d", i%20), fmt.Sprintf("value-%d", i)
		latest[key] = value
		require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value)}).FirstErr())
	}

	type kv struct {
		offset     int64
		key, value string
	}
	consume := func(k *kafkad) []kv {
		cl := k.client(t, kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		var out []kv
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for len(out) == 0 || out[len(out)-1].offset < n-1 {
			fs := cl.PollFetches(pctx)
			require.NoError(t, pctx.Err())
			fs.EachRecord(func(r *kgo.Record) { out = append(out, kv{r.Offset, string(r.Key), string(r.Value)}) })
		}
		return out
	}
	require.Eventually(t, func() bool { return len(consume(leader)) < n/2 }, 60*time.Second, 200*time.Millisecond,
		"the leader compacts the topic")

	late.Start()
	c.waitAgreement("compacted", func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })
	leader.Kill()
	other.Kill()
	c.waitAgreement("compacted", func(v map[int32]partitionView) bool { return v[0].leader == late.ID })

	got := consume(late)
	values := map[string]string{}
	for i, r := range got {
		values[r.key] = r.value
		if i > 0 {
			require.Greater(t, r.offset, got[i-1].offset)
		}
		// Offsets are the leader's: value-i was written at offset i.
		assert.Equal(t, fmt.Sprintf("value-%d", r.offset), r.value)
	}
	assert.Equal(t, latest, values, "every key's latest value survives on the replica")
	assert.Less(t, len(got), n, "the replica holds the compacted log")
}
