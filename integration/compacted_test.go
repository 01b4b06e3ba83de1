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

// uncleanedBelowActive describes a key found twice, in some partition,
// among the records that are certainly below the active segment, or says
// "" if there is none: what Kafka's cleaner leaves after a pass over a
// log that stopped growing. The active segment is under segmentBytes and
// holds its records' keys and values and more, so the records in it are
// among the last whose keys and values add up to under segmentBytes; the
// records before those are below it. (Records below the active segment
// whose key comes again in it stay, as in Kafka: the cleaner's key map
// ends at the active segment.)
func uncleanedBelowActive(recs []*kgo.Record, segmentBytes int) string {
	byPartition := map[int32][]*kgo.Record{}
	for _, r := range recs {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	for p, rs := range byPartition {
		tail, end := 0, len(rs)
		for end > 0 && tail+len(rs[end-1].Key)+len(rs[end-1].Value) < segmentBytes {
			end--
			tail += len(rs[end].Key) + len(rs[end].Value)
		}
		seen := map[string]int64{}
		for _, r := range rs[:end] {
			if at, ok := seen[string(r.Key)]; ok {
				return fmt.Sprintf("partition %d: key %q at offsets %d and %d, below the last %d records", p, r.Key, at, r.Offset, len(rs)-end)
			}
			seen[string(r.Key)] = r.Offset
		}
	}
	return ""
}

// TestCompactedTopicReplicated: a compacted topic (64 KiB segments,
// min.cleanable.dirty.ratio 0.01) with three replicas and
// min.insync.replicas=2. An idempotent acks=all producer writes 1,000 keys
// 20 times over, each value naming its round. Asserted:
//   - a produce of one batch larger than segment.bytes is refused with
//     RECORD_LIST_TOO_LARGE, as in Kafka;
//   - a record without a key is refused with INVALID_RECORD, as Kafka does
//     for compacted topics (on a topic of its own);
//   - each replica's cleaner shrinks its copy of the partition on disk to
//     well under a quarter of what was written;
//   - read from each replica in turn as the leader, from the log start to
//     the high watermark: offsets strictly increase (the gaps are what the
//     cleaner removed), every key is there, and every key's last value is
//     from the last round; below the active segment no key is there twice
//     (the cleaner's part again).
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
		"internal.segment.bytes":    kadm.StringPtr("65536"), // below segment.bytes' 1 MiB minimum
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"min.insync.replicas":       kadm.StringPtr("2"),
	}, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].leader > 0 && v[0].isr == "[1 2 3]" })

	t.Run("keyless record refused", func(t *testing.T) {
		// On a topic of its own, so that a broker without the refusal
		// fails this check only. Not the idempotent producer below: a
		// refused batch would end its producer id's sequence.
		const keyless = "compacted-keyless"
		resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, keyless)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
		cl := c.client(t, kgo.DefaultProduceTopic(keyless), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
		assert.ErrorIs(t, err, kerr.InvalidRecord, "a keyless record on a compacted topic")
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("keyed")}).FirstErr(),
			"a record with a key is taken")
	})

	pad := strings.Repeat("x", 80)
	round := func(round int) []*kgo.Record {
		recs := make([]*kgo.Record, 0, keys)
		for k := 0; k < keys; k++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("key-%04d", k)),
				Value: []byte(fmt.Sprintf("round=%02d %s", round, pad))})
		}
		return recs
	}

	t.Run("batch larger than segment.bytes refused", func(t *testing.T) {
		// Kafka refuses an append larger than the topic's segment.bytes
		// (RECORD_LIST_TOO_LARGE) rather than make a segment over the
		// limit. One round in one batch is about 107 KB.
		const big = "compacted-big-batch"
		resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact"),
			"internal.segment.bytes": kadm.StringPtr("65536")}, big)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
		cl := c.client(t, kgo.DefaultProduceTopic(big), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Second))
		err = cl.ProduceSync(ctx, round(0)...).FirstErr()
		assert.ErrorIs(t, err, kerr.RecordListTooLarge, "1000 records in one batch over a 64 KiB segment.bytes")
	})

	// Batches of at most 16 KiB, so that segments hold several.
	producer := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10),
		kgo.RecordDeliveryTimeout(60*time.Second))
	for r := 0; r < rounds; r++ {
		require.NoError(t, producer.ProduceSync(ctx, round(r)...).FirstErr(), "round %d", r)
	}
	written := keys * rounds
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	end, _ := ends.Lookup(topic, 0)
	require.NoError(t, end.Err)
	require.GreaterOrEqual(t, end.Offset, int64(written), "high watermark")

	// Every replica has the whole log: each record was acknowledged by
	// the ISR of its time, and a replica that fell out since and is back
	// caught up to a log end after the last round. (The leader may have
	// cleaned while the rounds went in, so sizes on disk prove nothing
	// here.)
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })
	var full int64 // the keys and values written: the log is larger uncleaned
	for k := 0; k < keys; k++ {
		full += int64(rounds * (len(fmt.Sprintf("key-%04d", k)) + len(fmt.Sprintf("round=%02d %s", 0, pad))))
	}
	for _, k := range c.brokers {
		t.Logf("broker %d: %d bytes of .log after %d records (%d bytes of keys and values)", k.ID, partitionLogBytes(t, k, topic, 0), written, full)
	}

	// The cleaner's work shows on disk on every replica.
	cleaned := pollFor(60*time.Second, 250*time.Millisecond, func() bool {
		for _, k := range c.brokers {
			if partitionLogBytes(t, k, topic, 0) > full/4 {
				return false
			}
		}
		return true
	})
	assert.True(t, cleaned, "every replica's cleaner shrinks the partition below %d bytes", full/4)
	for _, k := range c.brokers {
		t.Logf("broker %d: %d bytes of .log (cleaned=%v)", k.ID, partitionLogBytes(t, k, topic, 0), cleaned)
	}
	// Whether or not the cleaner ran, every replica is still in sync.
	c.waitAgreement(topic, func(v map[int32]partitionView) bool { return v[0].isr == "[1 2 3]" })

	want := fmt.Sprintf("round=%02d %s", rounds-1, pad)
	for _, k := range c.brokers {
		t.Run(fmt.Sprintf("leader=%d", k.ID), func(t *testing.T) {
			c.leadOn(t, adm, topic, k.ID)
			// Below the active segment each key is left once (the
			// replica's cleaner may still be at its last pass: waited
			// for when the cleaner showed on disk).
			var recs []*kgo.Record
			wait := time.Duration(0)
			if cleaned {
				wait = 30 * time.Second
			}
			pollFor(wait, 250*time.Millisecond, func() bool {
				recs = readToEnd(t, c, topic)
				return uncleanedBelowActive(recs, 65536) == ""
			})
			assert.Empty(t, uncleanedBelowActive(recs, 65536), "%d records read of %d written", len(recs), written)
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
			t.Logf("broker %d leads: %d records from offset %d to %d", k.ID, len(recs), recs[0].Offset, prev)
		})
	}
}
