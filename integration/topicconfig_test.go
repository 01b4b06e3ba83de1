package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/internal/testbatch"
)

// createTopic creates a one-partition topic with configs and waits for
// its leader.
func createTopic(t *testing.T, adm *kadm.Client, topic string, configs map[string]string) {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, 1, 1, cfg, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err, topic)
	require.Eventually(t, func() bool {
		md, err := adm.Metadata(ctx, topic)
		return err == nil && md.Topics[topic].Err == nil && len(md.Topics[topic].Partitions) == 1 &&
			md.Topics[topic].Partitions[0].Leader >= 0
	}, 30*time.Second, 50*time.Millisecond)
}

// topicID is a topic's id, for requests that name topics by id from
// some version on (Produce v13, Fetch v13).
func topicID(t *testing.T, adm *kadm.Client, topic string) [16]byte {
	t.Helper()
	md, err := adm.Metadata(context.Background(), topic)
	require.NoError(t, err)
	return md.Topics[topic].ID
}

// fetchedCodecs reads a partition from offset 0 with a raw Fetch and
// returns the compression codec (attributes bits 0-2) of every batch, as
// the broker stored it.
func fetchedCodecs(t *testing.T, cl *kgo.Client, adm *kadm.Client, topic string) []int8 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(t, adm, topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, resp.Topics, 1)
	p := resp.Topics[0].Partitions[0]
	require.NoError(t, kerr.ErrorForCode(p.ErrorCode))
	var out []int8
	for data := p.RecordBatches; len(data) >= 61; {
		size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
		require.LessOrEqual(t, size, len(data))
		var b kmsg.RecordBatch
		require.NoError(t, b.ReadFrom(data[:size]))
		out = append(out, int8(b.Attributes&0x07))
		data = data[size:]
	}
	return out
}

// consumeRecords reads n records of a one-partition topic from the start.
func consumeRecords(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d from %s", len(got), n, topic)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		got = append(got, fs.Records()...)
	}
	require.Len(t, got, n)
	return got
}

// Kafka's codec numbers, as in a batch's attributes.
const (
	codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd int8 = 0, 1, 2, 3, 4
)

// TestCompressionTypeRecompresses: a topic's compression.type (or the
// broker's, when the topic has none) makes the leader store batches in
// that codec whatever the producer used, with every record (key, value,
// headers, offset, timestamp) as produced; producer keeps the
// producer's codec.
func TestCompressionTypeRecompresses(t *testing.T) {
	k := startKafkad(t, brokerOpts{extra: []string{"--compression.type=lz4"}})
	admCl := k.client(t)
	adm := kadm.NewClient(admCl)
	cases := []struct {
		topic    string
		configs  map[string]string
		producer kgo.CompressionCodec
		want     int8
	}{
		{"none-to-zstd", map[string]string{"compression.type": "zstd"}, kgo.NoCompression(), codecZstd},
		{"gzip-to-lz4", map[string]string{"compression.type": "lz4", "compression.lz4.level": "12"}, kgo.GzipCompression(), codecLZ4},
		{"zstd-to-uncompressed", map[string]string{"compression.type": "uncompressed"}, kgo.ZstdCompression(), codecNone},
		{"snappy-to-gzip", map[string]string{"compression.type": "gzip", "compression.gzip.level": "9"}, kgo.SnappyCompression(), codecGzip},
		{"snappy-kept", map[string]string{"compression.type": "producer"}, kgo.SnappyCompression(), codecSnappy},
		{"broker-default", nil, kgo.SnappyCompression(), codecLZ4},
	}
	for _, tc := range cases {
		t.Run(tc.topic, func(t *testing.T) {
			createTopic(t, adm, tc.topic, tc.configs)
			cl := k.client(t, kgo.ProducerBatchCompression(tc.producer), kgo.DefaultProduceTopic(tc.topic),
				kgo.ProducerLinger(0))
			const n = 60
			want := make([]*kgo.Record, 0, n)
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			for i := range n {
				r := recordFor(tc.topic, i)
				r.Timestamp = base.Add(time.Duration(i) * time.Second)
				if i%7 == 0 {
					r.Key = nil
				}
				want = append(want, r)
			}
			// Several produce requests, so there are several batches.
			for i := 0; i < n; i += 20 {
				require.NoError(t, cl.ProduceSync(context.Background(), want[i:i+20]...).FirstErr())
			}

			codecs := fetchedCodecs(t, admCl, adm, tc.topic)
			require.NotEmpty(t, codecs)
			for i, c := range codecs {
				assert.Equal(t, tc.want, c, "batch %d", i)
			}
			got := consumeRecords(t, k.Addr, tc.topic, n)
			for i, w := range want {
				g := got[i]
				require.Equal(t, int64(i), g.Offset)
				assert.Equal(t, w.Offset, g.Offset)
				assert.Equal(t, w.Key, g.Key, "offset %d key", i)
				assert.Equal(t, w.Value, g.Value, "offset %d value", i)
				assert.Equal(t, w.Timestamp.UnixMilli(), g.Timestamp.UnixMilli(), "offset %d timestamp", i)
				require.Len(t, g.Headers, len(w.Headers))
				for h := range w.Headers {
					assert.Equal(t, w.Headers[h].Key, g.Headers[h].Key)
					assert.Equal(t, string(w.Headers[h].Value), string(g.Headers[h].Value))
				}
			}
		})
	}

	// Changing compression.type applies to the next batches.
	_, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: kadm.StringPtr("gzip")}}, "snappy-kept")
	require.NoError(t, err)
	cl := k.client(t, kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.DefaultProduceTopic("snappy-kept"))
	require.Eventually(t, func() bool {
		require.NoError(t, cl.ProduceSync(context.Background(), kgo.StringRecord("after")).FirstErr())
		codecs := fetchedCodecs(t, admCl, adm, "snappy-kept")
		return codecs[len(codecs)-1] == codecGzip
	}, 30*time.Second, 100*time.Millisecond)
}

// TestTimestampBoundsRefused: with CreateTime, a record timestamped
// outside message.timestamp.before.max.ms / after.max.ms (topic, or the
// broker's log.message.timestamp.*.max.ms) is refused with
// INVALID_TIMESTAMP and nothing of its batch is stored; LogAppendTime
// topics do not check.
func TestTimestampBoundsRefused(t *testing.T) {
	k := startKafkad(t, brokerOpts{extra: []string{"--log.message.timestamp.after.max.ms=86400000"}})
	adm := kadm.NewClient(k.client(t))
	createTopic(t, adm, "bounded", map[string]string{
		"message.timestamp.before.max.ms": "3600000", "message.timestamp.after.max.ms": "60000"})
	createTopic(t, adm, "broker-bound", nil)
	createTopic(t, adm, "append-time", map[string]string{
		"message.timestamp.type": "LogAppendTime", "message.timestamp.before.max.ms": "0", "message.timestamp.after.max.ms": "0"})

	// One idempotent producer per topic: a refused batch must not upset
	// the sequence of the batches after it.
	clients := map[string]*kgo.Client{}
	produce := func(topic string, ts time.Time) error {
		cl := clients[topic]
		if cl == nil {
			cl = k.client(t, kgo.DefaultProduceTopic(topic))
			clients[topic] = cl
		}
		r := kgo.KeyStringRecord("k", "at "+ts.String())
		r.Timestamp = ts
		return cl.ProduceSync(context.Background(), r).FirstErr()
	}
	now := time.Now()
	cases := []struct {
		topic string
		ts    time.Time
		want  error
	}{
		{"bounded", now, nil},
		{"bounded", now.Add(-30 * time.Minute), nil},
		{"bounded", now.Add(-2 * time.Hour), kerr.InvalidTimestamp},
		{"bounded", now.Add(10 * time.Minute), kerr.InvalidTimestamp},
		{"broker-bound", now.Add(-365 * 24 * time.Hour), nil},
		{"bounded", now.Add(30 * time.Second), nil},
		{"broker-bound", now.Add(48 * time.Hour), kerr.InvalidTimestamp},
		{"broker-bound", now.Add(time.Hour), nil},
		{"append-time", now.Add(-48 * time.Hour), nil},
		{"append-time", now.Add(48 * time.Hour), nil},
	}
	stored := map[string]int{}
	for _, tc := range cases {
		err := produce(tc.topic, tc.ts)
		if tc.want == nil {
			require.NoError(t, err, "%s at %s", tc.topic, tc.ts.Sub(now))
			stored[tc.topic]++
			continue
		}
		require.ErrorIs(t, err, tc.want, "%s at %s", tc.topic, tc.ts.Sub(now))
	}
	offsets, err := adm.ListEndOffsets(context.Background(), "bounded", "broker-bound", "append-time")
	require.NoError(t, err)
	for topic, n := range stored {
		o, ok := offsets.Lookup(topic, 0)
		require.True(t, ok)
		assert.Equal(t, int64(n), o.Offset, "%s end offset: refused batches stored nothing", topic)
	}

	// The answer names the refused records (KIP-467).
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "bounded", topicID(t, adm, "bounded")
	rp := kmsg.NewProduceRequestTopicPartition()
	batch := testbatch.Encode(-1, -1, -1, "a", "b")
	testbatch.SetTimestamp(batch, now.Add(-2*time.Hour).UnixMilli())
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), k.client(t))
	require.NoError(t, err)
	sp := resp.Topics[0].Partitions[0]
	assert.Equal(t, kerr.InvalidTimestamp.Code, sp.ErrorCode)
	require.Len(t, sp.ErrorRecords, 2)
	assert.Equal(t, int32(1), sp.ErrorRecords[1].RelativeOffset)
	require.NotNil(t, sp.ErrorMessage)
	assert.Contains(t, *sp.ErrorMessage, "timestamp")
}

// TestCompactedTopicRefusesKeylessRecords: cleanup.policy with compact
// refuses a record without a key (INVALID_RECORD) for the whole
// partition, leaving the other partitions of the same request alone;
// delete accepts it.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	adm := kadm.NewClient(k.client(t))
	policies := map[string]string{"compacted": "compact", "compact-delete": "compact,delete", "deleted": "delete"}
	for topic, policy := range policies {
		createTopic(t, adm, topic, map[string]string{"cleanup.policy": policy})
	}

	// With franz-go, as an application would.
	for topic, policy := range policies {
		cl := k.client(t, kgo.DefaultProduceTopic(topic))
		err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("no key")}).FirstErr()
		if policy == "delete" {
			require.NoError(t, err, topic)
		} else {
			require.ErrorIs(t, err, kerr.InvalidRecord, topic)
		}
		require.NoError(t, cl.ProduceSync(context.Background(), kgo.KeyStringRecord("k", "keyed")).FirstErr(), topic)
		// A tombstone has a key.
		require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k")}).FirstErr(), topic)
	}

	// One request, three partitions: only the compacted one is refused.
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	for _, topic := range []string{"compacted", "compact-delete", "deleted"} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID(t, adm, topic)
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testbatch.EncodeNullKeys(-1, -1, -1, "x", "y")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(context.Background(), k.client(t))
	require.NoError(t, err)
	// v13 answers name topics by id only; the order is the request's.
	require.Len(t, resp.Topics, 3)
	for i, topic := range []string{"compacted", "compact-delete"} {
		sp := resp.Topics[i].Partitions[0]
		assert.Equal(t, kerr.InvalidRecord.Code, sp.ErrorCode, topic)
		assert.Len(t, sp.ErrorRecords, 2, topic)
	}
	sp := resp.Topics[2].Partitions[0]
	assert.Equal(t, int16(0), sp.ErrorCode, "deleted")
	assert.Equal(t, int64(3), sp.BaseOffset, "after 1 keyless + 2 keyed")
	offsets, err := adm.ListEndOffsets(context.Background(), "compacted", "compact-delete", "deleted")
	require.NoError(t, err)
	for topic, want := range map[string]int64{"compacted": 2, "compact-delete": 2, "deleted": 5} {
		o, _ := offsets.Lookup(topic, 0)
		assert.Equal(t, want, o.Offset, topic)
	}
}

// TestPreallocateSurvivesCrash: with preallocate the active segment's
// file is segment.bytes long from its creation; after a kill -9 the
// broker recovers every acknowledged record and goes on appending.
func TestPreallocateSurvivesCrash(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	adm := kadm.NewClient(k.client(t))
	const segBytes = 1 << 20
	createTopic(t, adm, "prealloc", map[string]string{"preallocate": "true", "segment.bytes": fmt.Sprint(segBytes)})
	cl := k.client(t, kgo.DefaultProduceTopic("prealloc"))
	var want []*kgo.Record
	for i := range 200 {
		want = append(want, recordFor("prealloc", i))
	}
	require.NoError(t, cl.ProduceSync(context.Background(), want...).FirstErr())

	seg := filepath.Join(k.DataDir, "prealloc-0", "00000000000000000000.log")
	st, err := os.Stat(seg)
	require.NoError(t, err)
	assert.Equal(t, int64(segBytes), st.Size(), "active segment preallocated")

	k.Kill()
	k.Start()
	got := consumeRecords(t, k.Addr, "prealloc", len(want))
	for i, w := range want {
		assert.Equal(t, w.Value, got[i].Value, "offset %d", i)
	}
	cl = k.client(t, kgo.DefaultProduceTopic("prealloc"))
	r := kgo.StringRecord("after crash")
	require.NoError(t, cl.ProduceSync(context.Background(), r).FirstErr())
	assert.Equal(t, int64(len(want)), r.Offset)
}

// TestUnsupportedTopicConfigsRefused: what kafkad cannot act on is
// refused with INVALID_CONFIG and a reason, at creation and alteration;
// configs Kafka 4 removed are unknown.
func TestUnsupportedTopicConfigsRefused(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	adm := kadm.NewClient(k.client(t))
	ctx := context.Background()
	for key, value := range map[string]string{
		"remote.storage.enable":         "true",
		"local.retention.ms":            "60000",
		"message.downconversion.enable": "true",
		"message.format.version":        "3.0",
		"compression.zstd.level":        "99",
	} {
		resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{key: kadm.StringPtr(value)}, "refused")
		require.ErrorIs(t, err, kerr.InvalidConfig, key)
		assert.Contains(t, resp.ErrMessage, key)
	}
	createTopic(t, adm, "plain", nil)
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "remote.storage.enable", Value: kadm.StringPtr("true")}}, "plain")
	require.NoError(t, err)
	var ke *kerr.Error
	require.True(t, errors.As(resps[0].Err, &ke))
	assert.Equal(t, kerr.InvalidConfig, ke)
	assert.Contains(t, resps[0].ErrMessage, "tiered storage")
}

// TestSegmentJitterRollsEarlier: with segment.jitter.ms (topic, or the
// broker's log.roll.jitter.ms) a segment rolls a random time before
// segment.ms. Two records exactly segment.ms apart stay in one segment
// without jitter and roll with it, unless the draw is 0 (1 in 10^12).
func TestSegmentJitterRollsEarlier(t *testing.T) {
	const segMs = int64(1_000_000_000_000)
	k := startKafkad(t, brokerOpts{extra: []string{fmt.Sprintf("--log.roll.jitter.ms=%d", segMs)}})
	adm := kadm.NewClient(k.client(t))
	ms := fmt.Sprint(segMs)
	topics := map[string]map[string]string{
		"jitter":         {"segment.ms": ms, "segment.jitter.ms": ms},
		"broker-jitter":  {"segment.ms": ms},
		"without-jitter": {"segment.ms": ms, "segment.jitter.ms": "0"},
	}
	first := time.Now().Add(-time.Duration(segMs) * time.Millisecond)
	for topic, cfg := range topics {
		createTopic(t, adm, topic, cfg)
		cl := k.client(t, kgo.DefaultProduceTopic(topic))
		for _, ts := range []time.Time{first, first.Add(time.Duration(segMs) * time.Millisecond)} {
			r := kgo.KeyStringRecord("k", "v")
			r.Timestamp = ts
			require.NoError(t, cl.ProduceSync(context.Background(), r).FirstErr(), topic)
		}
	}
	segments := func(topic string) int {
		logs, err := filepath.Glob(filepath.Join(k.DataDir, topic+"-0", "*.log"))
		require.NoError(t, err)
		return len(logs)
	}
	assert.Equal(t, 2, segments("jitter"))
	assert.Equal(t, 2, segments("broker-jitter"))
	assert.Equal(t, 1, segments("without-jitter"))
}

// TestUncleanLeaderElectionEnable: a partition whose only in-sync replica
// is down stays without a leader until unclean.leader.election.enable is
// set; then the out-of-sync replica leads, without the records it missed.
func TestUncleanLeaderElectionEnable(t *testing.T) {
	c := startCluster(t, 2)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, 1, 2, nil, "unclean")
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	v := c.waitAgreement("unclean", func(v map[int32]partitionView) bool { return v[0].isr == "[1 2]" && v[0].leader > 0 })
	leader := c.byID(v[0].leader)
	follower := c.byID(3 - v[0].leader)
	producer := c.client(t, kgo.DefaultProduceTopic("unclean"), kgo.RecordRetries(20))
	for i := range 10 {
		require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr())
	}

	follower.Kill()
	c.waitAgreement("unclean", func(v map[int32]partitionView) bool { return v[0].isr == fmt.Sprintf("[%d]", leader.ID) })
	for i := 10; i < 15; i++ {
		require.NoError(t, producer.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr())
	}
	leader.Kill()
	follower.Start()
	c.waitAgreement("unclean", func(v map[int32]partitionView) bool { return v[0].leader == -1 })

	fadm := kadm.NewClient(follower.client(t))
	_, err = fadm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}}, "unclean")
	require.NoError(t, err)
	c.waitAgreement("unclean", func(v map[int32]partitionView) bool { return v[0].leader == follower.ID })

	got := consumeRecords(t, follower.Addr, "unclean", 10)
	for i, r := range got {
		assert.Equal(t, fmt.Sprint(i), string(r.Value))
	}
	offsets, err := fadm.ListEndOffsets(ctx, "unclean")
	require.NoError(t, err)
	o, _ := offsets.Lookup("unclean", 0)
	assert.Equal(t, int64(10), o.Offset, "the records only the old leader had are gone")
}

// TestRecompressedBatchesReadByJava: the Java consumer (Kafka 4.x) reads
// what the leader recompressed into each codec, snappy included (the
// broker writes raw snappy blocks, which the Java client decodes as well
// as its own xerial framing).
func TestRecompressedBatchesReadByJava(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	adm := kadm.NewClient(k.client(t))
	const perTopic = 20
	var want []string
	for _, c := range []string{"gzip", "snappy", "lz4", "zstd"} {
		topic := "recomp-" + c
		createTopic(t, adm, topic, map[string]string{"compression.type": c})
		cl := k.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
		var recs []*kgo.Record
		for i := range perTopic {
			v := fmt.Sprintf("%s|%d", topic, i)
			recs = append(recs, kgo.StringRecord(v))
			want = append(want, v)
		}
		require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
		codecs := fetchedCodecs(t, k.client(t), adm, topic)
		require.NotEmpty(t, codecs)
		assert.NotEqual(t, codecNone, codecs[0], topic)
	}
	out := javaRun(t, "", nil, javaConsoleConsumer, "--bootstrap-server", k.Addr, "--include", "recomp-.*",
		"--from-beginning", "--max-messages", fmt.Sprint(len(want)), "--timeout-ms", "30000")
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
}
