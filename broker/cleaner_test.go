package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A compacted topic is cleaned by the running broker: a consumer reading
// from the start sees one record per key below the active segment, the
// latest, and every key's latest value.
func TestCompactedTopicIsCleaned(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.Cleaner.BackoffMs = 20 })
	cl := tb.client(t)
	str := func(s string) *string { return &s }
	createTopic(t, cl, "compacted", 1, map[string]*string{
		"cleanup.policy":            str("compact"),
		"internal.segment.bytes":    str("300"),
		"min.cleanable.dirty.ratio": str("0.01"),
	})
	ctx := context.Background()
	latest := map[string]string{}
	for round := range 10 {
		for k := range 4 {
			key, value := fmt.Sprintf("key-%d", k), fmt.Sprintf("value-%d-%d", round, k)
			latest[key] = value
			r := &kgo.Record{Topic: "compacted", Key: []byte(key), Value: []byte(value)}
			require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
		}
	}

	consumeAll := func() []*kgo.Record {
		c := tb.client(t, kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer c.Close()
		var out []*kgo.Record
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for len(out) == 0 || out[len(out)-1].Offset < 39 {
			fs := c.PollFetches(pctx)
			require.NoError(t, pctx.Err())
			fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		}
		return out
	}
	require.Eventually(t, func() bool { return len(consumeAll()) < 40 }, 20*time.Second, 100*time.Millisecond,
		"the cleaner removes superseded records")
	recs := consumeAll()
	got := map[string]string{}
	for _, r := range recs {
		got[string(r.Key)] = string(r.Value)
	}
	assert.Equal(t, latest, got, "every key's latest value survives")
	assert.Equal(t, int64(39), recs[len(recs)-1].Offset, "offsets are unchanged")
	for i := 1; i < len(recs); i++ {
		assert.Greater(t, recs[i].Offset, recs[i-1].Offset)
	}

	// As in Kafka, records of a compact-only topic cannot be deleted.
	resp, err := kadm.NewClient(cl).DeleteRecords(ctx, kadm.Offsets{"compacted": {0: {At: 10}}})
	require.NoError(t, err)
	dr, ok := resp.Lookup("compacted", 0)
	require.True(t, ok)
	require.ErrorIs(t, dr.Err, kerr.PolicyViolation)
}
