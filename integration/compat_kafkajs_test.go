package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkajsVersion is the version integration/js/package.json pins.
const kafkajsVersion = "2.2.4"

// jsSteps decodes the {"step": name, ...} lines admin.js prints.
func jsSteps(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		got[m["step"].(string)] = m
	}
	return got
}

// jsProduce writes recs with franz-go, uncompressed (kafkajs reads only
// gzip without extra codec packages), and returns them as scripts print them.
func jsProduce(t *testing.T, k *kafkad, recs []*kgo.Record) []scriptRecord {
	t.Helper()
	cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	var out []scriptRecord
	for _, r := range recs {
		out = append(out, scriptFromKgo(r))
	}
	return out
}

// TestCompatKafkaJS drives kafkajs against one broker: the idempotent
// producer (uncompressed and gzip), the admin client (topics, metadata,
// configs, topic offsets), a consumer group committing offsets and
// resuming, and group offsets through the admin client.
func TestCompatKafkaJS(t *testing.T) {
	const client = "kafkajs"
	k := startCompatKafkad(t, brokerOpts{extra: []string{"--num.partitions=3"}})
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	script := func(t *testing.T, name string, stdin any) string {
		t.Helper()
		mods := compatTool(t, "node/node_modules")
		return runTool(t, 60*time.Second, scriptJSON(t, stdin), []string{"NODE_PATH=" + mods}, "node", filepath.Join("js", name))
	}
	createTopic := func(t *testing.T, topic string, parts int32) {
		t.Helper()
		_, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		require.NoError(t, err)
	}

	for _, codec := range []string{"none", "gzip"} {
		compatCheck(t, client, kafkajsVersion, "idempotent producer "+codec, func(t *testing.T) {
			topic := "kjs-produce-" + codec
			createTopic(t, topic, 3)
			want := scriptRecords("kjs-"+codec, 400, 3)
			for i := range want {
				if i%2 == 1 && want[i].Key != nil {
					want[i].Partition = nil // kafkajs' partitioner picks by key
				}
			}
			out := script(t, "producer.js", map[string]any{
				"brokers": []string{k.Addr}, "topic": topic, "compression": codec, "chunk": 50, "records": want,
			})
			// Each send's base offsets say where its records went: in
			// order, per partition, from the base offset on.
			type result struct {
				Send       int   `json:"send"`
				Partition  int32 `json:"partition"`
				BaseOffset int64 `json:"baseOffset"`
			}
			sends := map[int]map[int32]int64{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var r result
				require.NoError(t, json.Unmarshal([]byte(line), &r), line)
				if sends[r.Send] == nil {
					sends[r.Send] = map[int32]int64{}
				}
				sends[r.Send][r.Partition] = r.BaseOffset
			}
			require.Len(t, sends, 8, "sends of 50")

			got := scriptReadAll(t, k, topic, len(want))
			at := map[[2]int64]*kgo.Record{}
			producers := map[int64]bool{}
			for _, r := range got {
				at[[2]int64{int64(r.Partition), r.Offset}] = r
				producers[r.ProducerID] = true
				if codec == "gzip" {
					assert.Equal(t, uint8(1), r.Attrs.CompressionType(), "gzip batch at %d/%d", r.Partition, r.Offset)
				} else {
					assert.Equal(t, uint8(0), r.Attrs.CompressionType())
				}
			}
			// Keyed records: a key keeps to one partition; placed after the
			// fact, so that the order check below covers them too.
			keyPart := map[string]int32{}
			for i := range want {
				send := i / 50
				if want[i].Partition != nil {
					continue
				}
				// Find it among the partitions this send wrote to.
				for p, base := range sends[send] {
					for o := base; ; o++ {
						r := at[[2]int64{int64(p), o}]
						if r == nil {
							break
						}
						if string(r.Value) == *want[i].Value {
							pp := p
							want[i].Partition = &pp
						}
					}
				}
				require.NotNil(t, want[i].Partition, "record %d not found", i)
				if kp, ok := keyPart[*want[i].Key]; ok {
					assert.Equal(t, kp, *want[i].Partition, "key %s in two partitions", *want[i].Key)
				}
				keyPart[*want[i].Key] = *want[i].Partition
			}
			// Every send's records sit at its base offsets, in send order.
			for send := 0; send < 8; send++ {
				nextOff := map[int32]int64{}
				for p, b := range sends[send] {
					nextOff[p] = b
				}
				for i := send * 50; i < send*50+50; i++ {
					p := *want[i].Partition
					r := at[[2]int64{int64(p), nextOff[p]}]
					if assert.NotNil(t, r, "record %d at %d/%d", i, p, nextOff[p]) {
						assert.Equal(t, *want[i].Value, string(r.Value), "record %d at %d/%d", i, p, nextOff[p])
					}
					nextOff[p]++
				}
			}
			var rows []scriptRecord
			for _, r := range got {
				rows = append(rows, scriptFromKgo(r))
			}
			scriptComparePartitioned(t, want, rows, nil)
			require.Len(t, producers, 1, "one producer id")
			for id := range producers {
				assert.GreaterOrEqual(t, id, int64(0), "batches carry the idempotent producer id")
			}
		})
	}

	compatCheck(t, client, kafkajsVersion, "admin topics and offsets", func(t *testing.T) {
		const offTopic = "kjs-offsets"
		createTopic(t, offTopic, 3)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		var recs []*kgo.Record
		for p := int32(0); p < 3; p++ {
			for i := 0; i < 20*int(p+1); i++ {
				recs = append(recs, &kgo.Record{Topic: offTopic, Partition: p, Value: []byte("v"),
					Timestamp: base.Add(time.Duration(i) * time.Second)})
			}
		}
		jsProduce(t, k, recs)
		del := kadm.Offsets{}
		del.Add(kadm.Offset{Topic: offTopic, Partition: 1, At: 5})
		dr, err := adm.DeleteRecords(ctx, del)
		require.NoError(t, err)
		require.NoError(t, dr.Error())

		out := script(t, "admin.js", map[string]any{
			"brokers": []string{k.Addr}, "topic": "kjs-admin", "doomed": "kjs-admin-doomed",
			"offsetsTopic": offTopic, "timestamp": base.Add(30 * time.Second).UnixMilli(),
		})
		got := jsSteps(t, out)
		assert.Equal(t, true, got["createTopics"]["created"])
		assert.Equal(t, false, got["createTopics again"]["created"], "an existing topic is not created again")
		assert.Equal(t, []any{"kjs-admin", "kjs-admin-doomed"}, got["listTopics"]["topics"])
		v := viewOf(t, k, "kjs-admin")
		floats := func(xs []int32) []any {
			out := []any{}
			for _, x := range xs {
				out = append(out, float64(x))
			}
			return out
		}
		var parts []any
		for p := int32(0); p < 4; p++ {
			d := v.partitions[p]
			parts = append(parts, map[string]any{"partition": float64(p), "leader": float64(d.Leader), "replicas": floats(d.Replicas), "isr": floats(d.ISR), "error": 0.0})
		}
		assert.Equal(t, []any{map[string]any{"name": "kjs-admin", "partitions": parts}}, got["fetchTopicMetadata"]["topics"])
		assert.Equal(t, 0.0, got["describeConfigs"]["errorCode"])
		assert.Equal(t, map[string]any{"retention.ms": "3600000", "cleanup.policy": "delete"}, got["describeConfigs"]["entries"])
		assert.Equal(t, 6.0, got["createPartitions"]["partitions"])
		assert.Equal(t, []any{"kjs-admin"}, got["deleteTopics"]["topics"])
		assert.Equal(t, []any{
			map[string]any{"partition": 0.0, "low": 0.0, "high": 20.0, "offset": 20.0},
			map[string]any{"partition": 1.0, "low": 5.0, "high": 40.0, "offset": 40.0},
			map[string]any{"partition": 2.0, "low": 0.0, "high": 60.0, "offset": 60.0},
		}, got["fetchTopicOffsets"]["partitions"])
		// The first offset at or after base+30s; past the end, kafkajs gives the high watermark.
		assert.Equal(t, []any{
			map[string]any{"partition": 0.0, "offset": 20.0},
			map[string]any{"partition": 1.0, "offset": 30.0},
			map[string]any{"partition": 2.0, "offset": 30.0},
		}, got["fetchTopicOffsetsByTimestamp"]["partitions"])
		var nodes []any
		for _, b := range v.brokers {
			nodes = append(nodes, []any{float64(b.NodeID), b.Host, float64(b.Port)})
		}
		assert.Equal(t, nodes, got["describeCluster"]["brokers"])
		assert.Equal(t, float64(v.controller), got["describeCluster"]["controller"])

		// franz-go sees the same topics, partitions and configuration.
		md, err := adm.BrokerMetadata(ctx)
		require.NoError(t, err)
		assert.Equal(t, md.Cluster, got["describeCluster"]["clusterId"])
		td, err := adm.ListTopics(ctx, "kjs-admin", "kjs-admin-doomed")
		require.NoError(t, err)
		assert.False(t, td.Has("kjs-admin-doomed"))
		require.True(t, td.Has("kjs-admin"))
		assert.Len(t, td["kjs-admin"].Partitions, 6)
		rcs, err := adm.DescribeTopicConfigs(ctx, "kjs-admin")
		require.NoError(t, err)
		rc, err := rcs.On("kjs-admin", nil)
		require.NoError(t, err)
		found := false
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				found = true
				assert.Equal(t, "3600000", c.MaybeValue())
			}
		}
		assert.True(t, found, "retention.ms described")
	})

	compatCheck(t, client, kafkajsVersion, "consumer group commit and resume", func(t *testing.T) {
		const topic, group, n, first = "kjs-group", "kjs-group-1", 240, 100
		createTopic(t, topic, 3)
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3),
				Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(i))}}})
		}
		want := jsProduce(t, k, recs)

		next, committed := checkGroupCommitResume(t, adm, topic, group, n, first, want,
			func() string {
				return script(t, "group.js", map[string]any{"brokers": []string{k.Addr}, "topic": topic, "group": group, "max": first})
			},
			func() string {
				return script(t, "group.js", map[string]any{"brokers": []string{k.Addr}, "topic": topic, "group": group, "expect": n - first})
			})
		for p := int32(0); p < 3; p++ {
			if next[p] == 0 {
				assert.Equal(t, int64(-1), committed[strconv.Itoa(int(p))], "partition %d: kafkajs reads no commit", p)
			}
		}
	})

	compatCheck(t, client, kafkajsVersion, "admin group offsets", func(t *testing.T) {
		const topic, group = "kjs-group-admin", "kjs-admin-group"
		createTopic(t, topic, 3)
		var recs []*kgo.Record
		for i := 0; i < 30; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte("v")})
		}
		jsProduce(t, k, recs)
		commit := kadm.Offsets{}
		commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1})
		commit.Add(kadm.Offset{Topic: topic, Partition: 2, At: 9, LeaderEpoch: -1})
		cr, err := adm.CommitOffsets(ctx, group, commit)
		require.NoError(t, err)
		require.NoError(t, cr.Error())

		_, other := scriptLines(t, script(t, "group-admin.js", map[string]any{
			"brokers": []string{k.Addr}, "topic": topic, "group": group, "set": map[string]int64{"1": 4, "2": 10}}))
		assert.JSONEq(t, `{"0":3,"1":-1,"2":9}`, string(other["fetchOffsets"]), "offsets committed with franz-go")
		assert.JSONEq(t, `{"0":3,"1":4,"2":10}`, string(other["fetchOffsets after set"]), "after setOffsets")
		assert.JSONEq(t, `["`+group+`"]`, string(other["listGroups"]))
		assert.JSONEq(t, `{"state":"Empty","errorCode":0}`, string(other["describeGroups"]))
		fetched, err := adm.FetchOffsets(ctx, group)
		require.NoError(t, err)
		require.NoError(t, fetched.Error())
		for p, want := range map[int32]int64{0: 3, 1: 4, 2: 10} {
			o, ok := fetched.Lookup(topic, p)
			require.True(t, ok, "partition %d committed", p)
			assert.Equal(t, want, o.At, "partition %d as franz-go reads it", p)
		}
	})
}
