package integration

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkad/kafkad/controller/embedetcd"
)

// produced is what the test knows it wrote, per partition in offset order.
type produced map[int32][]*kgo.Record

// recordFor builds record i of a topic: a key, a value that differs per
// record and headers, so a byte mix-up anywhere shows.
func recordFor(topic string, i int) *kgo.Record {
	value := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 20+i%40)
	value = append(value, fmt.Sprintf("|%s|%d", topic, i)...)
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(fmt.Sprintf("key-%d", i%1000)),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: "idx", Value: []byte(fmt.Sprint(i))},
			{Key: "empty", Value: nil},
		},
	}
}

// produceN writes records [from, from+n) and records where each landed.
func produceN(t *testing.T, cl *kgo.Client, topic string, from, n int, into produced) {
	t.Helper()
	results := make([]*kgo.Record, n)
	errs := make(chan error, 1)
	ctx := context.Background()
	done := make(chan struct{}, n)
	for i := range n {
		r := recordFor(topic, from+i)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
			results[i] = r
			done <- struct{}{}
		})
	}
	for range n {
		<-done
	}
	select {
	case err := <-errs:
		t.Fatalf("produce to %s: %v", topic, err)
	default:
	}
	for _, r := range results {
		into[r.Partition] = append(into[r.Partition], r)
	}
	for p := range into {
		sort.Slice(into[p], func(i, j int) bool { return into[p][i].Offset < into[p][j].Offset })
	}
}

// consumeAll reads a topic from the start until every expected record is
// back and checks each byte-for-byte and in per-partition order.
func consumeAll(t *testing.T, addr, topic string, want produced) {
	t.Helper()
	total := 0
	for _, rs := range want {
		total += len(rs)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	got := produced{}
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for n < total {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d from %s", n, total, topic)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			n++
		})
	}
	require.Equal(t, total, n)
	for p, rs := range want {
		gs := got[p]
		require.Len(t, gs, len(rs), "partition %d", p)
		for i, w := range rs {
			g := gs[i]
			require.Equal(t, w.Offset, g.Offset, "partition %d position %d", p, i)
			require.Equal(t, w.Key, g.Key, "partition %d offset %d key", p, w.Offset)
			require.Equal(t, w.Value, g.Value, "partition %d offset %d value", p, w.Offset)
			require.Len(t, g.Headers, len(w.Headers))
			for h := range w.Headers {
				require.Equal(t, w.Headers[h].Key, g.Headers[h].Key)
				require.Equal(t, len(w.Headers[h].Value), len(g.Headers[h].Value))
				require.True(t, bytes.Equal(w.Headers[h].Value, g.Headers[h].Value))
			}
		}
	}
}

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// TestProduceConsumeEveryCodecAcrossRestart is the end-to-end test:
// a broker on an external etcd (started here), one 6-partition topic per
// codec, 100k keyed records with headers each, consumed back exactly; then
// the broker restarts on the same data and everything is read again and
// producing goes on at the next offsets.
func TestProduceConsumeEveryCodecAcrossRestart(t *testing.T) {
	records := 100_000
	if testing.Short() {
		records = 5_000
	}
	etcd := embedetcd.StartTest(t, zerolog.Nop())
	k := startKafkad(t, brokerOpts{etcdEndpoints: etcd.Endpoints()})
	adm := kadm.NewClient(k.client(t))
	ctx := context.Background()

	want := map[string]produced{}
	for _, c := range codecs {
		topic := "e2e-" + c.name
		resp, err := adm.CreateTopic(ctx, 6, 1, nil, topic)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
		cl := k.client(t, kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(5*time.Millisecond))
		want[topic] = produced{}
		produceN(t, cl, topic, 0, records, want[topic])
		require.Len(t, want[topic], 6, "keys spread over all partitions")
		consumeAll(t, k.Addr, topic, want[topic])
	}

	k.Stop()
	k.Start()
	for _, c := range codecs {
		topic := "e2e-" + c.name
		consumeAll(t, k.Addr, topic, want[topic])
		cl := k.client(t, kgo.ProducerBatchCompression(c.codec))
		before := map[int32]int64{}
		for p, rs := range want[topic] {
			before[p] = rs[len(rs)-1].Offset
		}
		more := produced{}
		produceN(t, cl, topic, records, 1000, more)
		for p, rs := range more {
			assert.Equal(t, before[p]+1, rs[0].Offset, "partition %d continues after the restart", p)
			want[topic][p] = append(want[topic][p], rs...)
		}
		consumeAll(t, k.Addr, topic, want[topic])
	}
}

// TestEmbeddedEtcdDefault runs a broker in the zero-config mode: etcd
// embedded in the broker under its data dir. Topics and data survive a
// restart, so the metadata lived in that etcd.
func TestEmbeddedEtcdDefault(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	ctx := context.Background()
	cl := k.client(t, kgo.DefaultProduceTopic("embedded"), kgo.AllowAutoTopicCreation())
	want := produced{}
	produceN(t, cl, "embedded", 0, 500, want)
	consumeAll(t, k.Addr, "embedded", want)
	adm := kadm.NewClient(cl)
	before, err := adm.ListTopics(ctx, "embedded")
	require.NoError(t, err)

	k.Stop()
	k.Start()
	after, err := kadm.NewClient(k.client(t)).ListTopics(ctx, "embedded")
	require.NoError(t, err)
	assert.Equal(t, before["embedded"].ID, after["embedded"].ID, "same topic id after restart")
	consumeAll(t, k.Addr, "embedded", want)
}
