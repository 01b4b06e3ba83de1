package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cleanerFlags make the log cleaner of a test broker look for work every
// 200 ms (Kafka's default backoff is 15 s) with a small key map.
var cleanerFlags = []string{
	"--log.cleaner.backoff.ms=200",
	"--log.cleaner.dedupe.buffer.size=8388608",
}

// partitionLogBytes is the size of the .log files of one partition in a
// broker's data directory (the test knows where the brokers keep their
// logs; kafkad has no DescribeLogDirs yet). A missing directory is 0.
func partitionLogBytes(t *testing.T, k *kafkad, topic string, p int32) int64 {
	t.Helper()
	dir := filepath.Join(k.DataDir, fmt.Sprintf("%s-%d", topic, p))
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		info, err := e.Info()
		if os.IsNotExist(err) {
			continue // deleted by the cleaner or retention while we looked
		}
		require.NoError(t, err)
		n += info.Size()
	}
	return n
}

// pollFor calls cond every tick until it holds or timeout passed, on the
// test's goroutine (cond may use require), and says whether it held.
func pollFor(timeout, tick time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(tick)
	}
}

// leadOn makes broker id the leader of topic's partition 0: the replica
// list is reordered to put it first (a reassignment to the same replica
// set) and a preferred leader election moves leadership there.
func (c *cluster) leadOn(t *testing.T, adm *kadm.Client, topic string, id int32) {
	t.Helper()
	ctx := context.Background()
	order := []int32{id}
	for _, k := range c.brokers {
		if k.ID != id {
			order = append(order, k.ID)
		}
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, order)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	require.NoError(t, err)
	require.NoError(t, res.Error())
	require.True(t, pollFor(30*time.Second, 100*time.Millisecond, func() bool {
		// A fresh client each time: franz-go answers a Metadata request
		// from its cache for up to 5 s (MetadataMinAge).
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
		require.NoError(t, err)
		defer cl.Close()
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			return false
		}
		p := md.Topics[topic].Partitions[0]
		return len(p.Replicas) == len(order) && p.Replicas[0] == id
	}), "replica order %v", order)
	require.Eventually(t, func() bool {
		el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false
		}
		err = el[topic][0].Err
		return err == nil || err == kerr.ElectionNotNeeded
	}, 30*time.Second, 200*time.Millisecond, "preferred election of broker %d", id)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader == id && v[0].isr == "[1 2 3]" })
}

// readToEnd reads every partition of topic from its log start to the high
// watermark it had when called, with a fresh client, and returns the
// records.
func readToEnd(t *testing.T, c *cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx := context.Background()
	ends, err := kadm.NewClient(c.client(t)).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	left := map[int32]int64{} // partition: the last offset still to read
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset - 1
		}
	})
	cl := c.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	var recs []*kgo.Record
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(pctx)
		require.NoError(t, pctx.Err(), "read %d records of %s; still to read up to: %v", len(recs), topic, left)
		for _, e := range fs.Errors() {
			t.Fatalf("fetching %s: %v", topic, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			if last, ok := left[r.Partition]; ok && r.Offset >= last {
				delete(left, r.Partition)
			}
		})
	}
	return recs
}

// TestCompactedTopicReplicated: a compacted topic (segment.bytes 64 KiB,
// min.cleanable.dirty.ratio 0.01) with three replicas and
// min.insync.replicas=2. An idempotent acks=all producer writes 1,000 keys
// 20 times over, each value naming its round. Asserted:
//   - a record without a key is refused with INVALID_RECORD, as Kafka does
//     for compacted topics (on a topic of its own; needs the `topiccfg`
//     branch);
//   - each replica's cleaner shrinks its copy of the partition on disk to
//     well under a quarter of what was written (needs the `cleaner`
//     branch);
//   - read from each replica in turn as the leader, from the log start to
//     the high watermark: offsets strictly increase (the gaps are what the
//     cleaner removed), every key is there, and every key's last value is
//     from the last round; the records that a later record of their key
//     replaces add up to less than one segment, the active one (the
//     cleaner's part again).
func TestCompactedTopicReplicated(t *testing.T) {
	const (
		topic        = "compacted-rf3"
		keys, rounds = 1000, 20
	)
	c := startCluster(t, 3, cleanerFlags...)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"min.insync.replicas":       kadm.StringPtr("2"),
	}, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader > 0 && v[0].isr == "[1 2 3]" })

	t.Run("keyless record refused", func(t *testing.T) {
		// On a topic of its own, so that a branch without the refusal
		// fails this check only. Not the idempotent producer below: a
		// refused batch would end its producer id's sequence.
		const keyless = "compacted-keyless"
		resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, keyless)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
		cl := c.client(t, kgo.DefaultProduceTopic(keyless), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
		assert.ErrorIs(t, err, kerr.InvalidRecord, "a keyless record on a compacted topic (topiccfg branch)")
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("keyed")}).FirstErr(),
			"a record with a key is taken")
	})

	producer := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordDeliveryTimeout(60*time.Second))
	pad := strings.Repeat("x", 80)
	for round := 0; round < rounds; round++ {
		recs := make([]*kgo.Record, 0, keys)
		for k := 0; k < keys; k++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("key-%04d", k)),
				Value: []byte(fmt.Sprintf("round=%02d %s", round, pad))})
		}
		require.NoError(t, producer.ProduceSync(ctx, recs...).FirstErr(), "round %d", round)
	}
	written := keys * rounds
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	end, _ := ends.Lookup(topic, 0)
	require.NoError(t, end.Err)
	require.GreaterOrEqual(t, end.Offset, int64(written), "high watermark")

	// Every replica has the whole log before any cleaning check.
	var full int64
	require.True(t, pollFor(30*time.Second, 100*time.Millisecond, func() bool {
		for _, k := range c.brokers {
			if n := partitionLogBytes(t, k, topic, 0); n < int64(written)*80 {
				return false
			}
		}
		return true
	}), "the followers replicate every round")
	for _, k := range c.brokers {
		full = max(full, partitionLogBytes(t, k, topic, 0))
	}
	t.Logf("%d records, %d bytes of .log per replica before cleaning", written, full)

	// The cleaner's work shows on disk on every replica.
	cleaned := pollFor(60*time.Second, 250*time.Millisecond, func() bool {
		for _, k := range c.brokers {
			if partitionLogBytes(t, k, topic, 0) > full/4 {
				return false
			}
		}
		return true
	})
	assert.True(t, cleaned, "every replica's cleaner shrinks the partition below %d bytes (cleaner branch)", full/4)
	for _, k := range c.brokers {
		t.Logf("broker %d: %d bytes of .log (cleaned=%v)", k.ID, partitionLogBytes(t, k, topic, 0), cleaned)
	}

	want := fmt.Sprintf("round=%02d %s", rounds-1, pad)
	for _, k := range c.brokers {
		t.Run(fmt.Sprintf("leader=%d", k.ID), func(t *testing.T) {
			c.leadOn(t, adm, topic, k.ID)
			recs := readToEnd(t, c, topic)
			last := map[string]string{}
			prev := int64(-1)
			for _, r := range recs {
				require.Greater(t, r.Offset, prev, "offsets strictly increase")
				prev = r.Offset
				require.NotNil(t, r.Key, "record at offset %d has no key", r.Offset)
				last[string(r.Key)] = string(r.Value)
			}
			require.Len(t, last, keys, "every key is there")
			for key, v := range last {
				require.Equal(t, want, v, "the last value of %s", key)
			}
			// Below the active segment each key is left once: the
			// records a later one of the same key replaces all sit in
			// the active segment, under segment.bytes.
			assert.Less(t, supersededBytes(recs), 65536, "bytes of replaced records after cleaning, %d records read of %d written (cleaner branch)", len(recs), written)
			t.Logf("broker %d leads: %d records from offset %d to %d", k.ID, len(recs), recs[0].Offset, prev)
		})
	}
}
