package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The helpers named script* are shared by the checks that drive a client
// through a script (confluent-kafka Python, kafkajs): records travel as
// JSON, keys, values and header values as strings or null.

// scriptRecord is a record given to a client script or read back by one.
type scriptRecord struct {
	Partition *int32     `json:"partition"`
	Offset    int64      `json:"offset,omitempty"`
	Key       *string    `json:"key"`
	Value     *string    `json:"value"`
	Headers   [][]string `json:"headers"` // [name, value]; a null value is lost, so none is sent
	Timestamp int64      `json:"timestamp,omitempty"`
}

func scriptStr(s string) *string { return &s }

// scriptRecords makes n records spread over parts explicit partitions
// (parts 0: no partition, the client's partitioner picks by key). They
// carry a null key, an empty value, duplicate and empty header values
// and multi-byte text, besides the ordinary ones.
func scriptRecords(tag string, n, parts int) []scriptRecord {
	out := make([]scriptRecord, n)
	for i := range out {
		r := scriptRecord{
			Key:     scriptStr(fmt.Sprintf("key-%d", i%7)),
			Value:   scriptStr(fmt.Sprintf("%s-value-%d-%s", tag, i, strings.Repeat("x", i%40))),
			Headers: [][]string{{"source", tag}, {"i", strconv.Itoa(i)}},
		}
		if parts > 0 {
			p := int32(i % parts)
			r.Partition = &p
		}
		switch i % 10 {
		case 3:
			if parts > 0 {
				r.Key = nil
			}
		case 4:
			r.Value = scriptStr("")
		case 5:
			r.Headers = append(r.Headers, []string{"dup", "a"}, []string{"dup", "b"}, []string{"empty", ""})
		case 6:
			r.Headers = nil
		case 7:
			*r.Value += " héllo 世界"
		}
		out[i] = r
	}
	return out
}

// scriptLines decodes a script's JSON-lines output: records (lines with an
// "offset") and the other lines by their single top-level key.
func scriptLines(t *testing.T, out string) (recs []scriptRecord, other map[string]json.RawMessage) {
	t.Helper()
	other = map[string]json.RawMessage{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(line, &m), "script output line %q", line)
		if _, ok := m["offset"]; ok {
			var r scriptRecord
			require.NoError(t, json.Unmarshal(line, &r))
			recs = append(recs, r)
			continue
		}
		for k, v := range m {
			other[k] = v
		}
	}
	require.NoError(t, sc.Err())
	return recs, other
}

// scriptJSON marshals v for a script's standard input.
func scriptJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// scriptFromKgo turns a franz-go record into the form scripts print.
func scriptFromKgo(r *kgo.Record) scriptRecord {
	p := r.Partition
	out := scriptRecord{Partition: &p, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	if r.Key != nil {
		out.Key = scriptStr(string(r.Key))
	}
	if r.Value != nil {
		out.Value = scriptStr(string(r.Value))
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, []string{h.Key, string(h.Value)})
	}
	return out
}

// scriptReadAll reads n records of topic from the start with franz-go,
// without a group, and fails on more.
func scriptReadAll(t *testing.T, k *kafkad, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := k.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records of %s", len(out), n, topic)
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	require.Len(t, out, n, "records in %s", topic)
	return out
}

// scriptHeaders compares header lists, with nil and empty the same.
func scriptHeaders(h [][]string) string {
	b, _ := json.Marshal(h)
	if len(h) == 0 {
		return "[]"
	}
	return string(b)
}

// scriptComparePartitioned checks that got (read back by any client) holds
// exactly the records of want, which all name their partition: per
// partition the same records in the same order at dense offsets from
// base[partition].
func scriptComparePartitioned(t *testing.T, want []scriptRecord, got []scriptRecord, base map[int32]int64) {
	t.Helper()
	wantBy := map[int32][]scriptRecord{}
	for _, r := range want {
		wantBy[*r.Partition] = append(wantBy[*r.Partition], r)
	}
	gotBy := map[int32][]scriptRecord{}
	for _, r := range got {
		require.NotNil(t, r.Partition)
		gotBy[*r.Partition] = append(gotBy[*r.Partition], r)
	}
	require.Equal(t, len(want), len(got), "record count")
	for p, ws := range wantBy {
		gs := gotBy[p]
		require.Len(t, gs, len(ws), "records in partition %d", p)
		sort.SliceStable(gs, func(i, j int) bool { return gs[i].Offset < gs[j].Offset })
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, base[p]+int64(i), g.Offset, "partition %d record %d offset", p, i)
			assert.Equal(t, w.Key, g.Key, "partition %d offset %d key", p, g.Offset)
			assert.Equal(t, w.Value, g.Value, "partition %d offset %d value", p, g.Offset)
			assert.Equal(t, scriptHeaders(w.Headers), scriptHeaders(g.Headers), "partition %d offset %d headers", p, g.Offset)
		}
	}
	assert.Len(t, gotBy, len(wantBy), "partitions read")
}

// ckVersion is "confluent-kafka version (librdkafka version)" of the venv.
func ckVersion() string {
	py := filepath.Join(repoRoot(), ".cache", "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return "missing"
	}
	out, err := exec.Command(py, "-c", "import confluent_kafka as c; print(c.__version__, c.libversion()[0])").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 2 {
		return "unknown"
	}
	return f[0] + " (librdkafka " + f[1] + ")"
}

// TestCompatPython drives confluent-kafka-python (librdkafka) against one
// broker: idempotent acks=all producing, every codec produced and consumed
// back, consuming assigned partitions from explicit offsets, topic
// administration, and a consumer group committing offsets and resuming.
func TestCompatPython(t *testing.T) {
	const client = "confluent-kafka-python"
	version := ckVersion()
	k := startCompatKafkad(t, brokerOpts{extra: []string{"--num.partitions=3"}})
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	script := func(t *testing.T, name string, stdin any) string {
		t.Helper()
		py := compatTool(t, "venv/bin/python")
		return runTool(t, 60*time.Second, scriptJSON(t, stdin), nil, py, filepath.Join("python", name))
	}
	createTopic := func(t *testing.T, topic string, parts int32) {
		t.Helper()
		_, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		require.NoError(t, err)
	}

	compatCheck(t, client, version, "idempotent produce acks=all", func(t *testing.T) {
		const topic, n = "ck-idempotent", 600
		createTopic(t, topic, 3)
		want := scriptRecords("idem", n, 0) // keyed: librdkafka's partitioner places them
		out := script(t, "ck_produce.py", map[string]any{
			"bootstrap": k.Addr, "topic": topic, "records": want,
			"config": map[string]any{"max.in.flight.requests.per.connection": 5, "batch.num.messages": 50},
		})
		var reports []struct {
			I         int   `json:"i"`
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset"`
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				I         int   `json:"i"`
				Partition int32 `json:"partition"`
				Offset    int64 `json:"offset"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &r), line)
			reports = append(reports, r)
		}
		require.Len(t, reports, n, "delivery reports")
		// Put each record where its delivery report says it went; that
		// must be where franz-go finds it, and a key keeps to one partition.
		keyPart := map[string]int32{}
		delivered := make([]bool, n)
		for _, r := range reports {
			require.False(t, delivered[r.I], "record %d reported twice", r.I)
			delivered[r.I] = true
			p := r.Partition
			want[r.I].Partition = &p
			key := *want[r.I].Key
			if kp, ok := keyPart[key]; ok {
				assert.Equal(t, kp, p, "key %s in two partitions", key)
			}
			keyPart[key] = p
		}
		got := scriptReadAll(t, k, topic, n)
		var rows []scriptRecord
		producers := map[int64]bool{}
		byOffset := map[[2]int64]int{}
		for _, r := range reports {
			byOffset[[2]int64{int64(r.Partition), r.Offset}] = r.I
		}
		for _, r := range got {
			rows = append(rows, scriptFromKgo(r))
			producers[r.ProducerID] = true
			i, ok := byOffset[[2]int64{int64(r.Partition), r.Offset}]
			if assert.True(t, ok, "no delivery report for %d/%d", r.Partition, r.Offset) {
				assert.Equal(t, *want[i].Value, string(r.Value), "record at %d/%d is the one reported", r.Partition, r.Offset)
			}
		}
		scriptComparePartitioned(t, want, rows, nil)
		require.Len(t, producers, 1, "one producer id for all batches")
		for id := range producers {
			assert.GreaterOrEqual(t, id, int64(0), "batches carry the idempotent producer id")
		}
	})

	for i, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		compatCheck(t, client, version, "produce+consume "+codec, func(t *testing.T) {
			topic := "ck-codec-" + codec
			createTopic(t, topic, 2)
			want := scriptRecords(codec, 300, 2)
			script(t, "ck_produce.py", map[string]any{
				"bootstrap": k.Addr, "topic": topic, "compression": codec, "records": want,
			})
			// Back through librdkafka's consumer ...
			out := script(t, "ck_consume.py", map[string]any{
				"bootstrap": k.Addr, "topic": topic, "assign": [][2]int64{{0, -2}, {1, -2}}, "expect": 300,
			})
			got, other := scriptLines(t, out)
			scriptComparePartitioned(t, want, got, nil)
			assert.JSONEq(t, `{"0":[0,150],"1":[0,150]}`, string(other["watermarks"]))
			// ... and through franz-go, which also shows the codec stored.
			var rows []scriptRecord
			for _, r := range scriptReadAll(t, k, topic, 300) {
				rows = append(rows, scriptFromKgo(r))
				assert.Equal(t, uint8(i), r.Attrs.CompressionType(), "codec of the batch at %d/%d", r.Partition, r.Offset)
			}
			scriptComparePartitioned(t, want, rows, nil)
		})
	}

	compatCheck(t, client, version, "consume assigned from offsets", func(t *testing.T) {
		const topic = "ck-assign"
		createTopic(t, topic, 3)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		var recs []*kgo.Record
		var want []scriptRecord
		for p := int32(0); p < 3; p++ {
			for i := 0; i < 100; i++ {
				r := &kgo.Record{
					Topic: topic, Partition: p, Timestamp: base.Add(time.Duration(i) * time.Second),
					Key:     []byte(fmt.Sprintf("k%d-%d", p, i)),
					Value:   []byte(fmt.Sprintf("v%d-%d", p, i)),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}},
				}
				recs = append(recs, r)
			}
		}
		cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
		// The log of partition 0 starts at 10 once these are deleted.
		del := kadm.Offsets{}
		del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10})
		dr, err := adm.DeleteRecords(ctx, del)
		require.NoError(t, err)
		require.NoError(t, dr.Error())
		// Partition 0 from the beginning (10), 1 from 40, 2 from 99.
		from := map[int32]int64{0: 10, 1: 40, 2: 99}
		for _, r := range recs {
			if r.Offset >= from[r.Partition] {
				want = append(want, scriptFromKgo(r))
			}
		}
		out := script(t, "ck_consume.py", map[string]any{
			"bootstrap": k.Addr, "topic": topic, "assign": [][2]int64{{0, -2}, {1, 40}, {2, 99}},
			"expect": len(want),
			"times":  map[string]int64{"0": base.Add(50 * time.Second).UnixMilli(), "1": base.Add(1500 * time.Millisecond).UnixMilli(), "2": base.Add(time.Hour).UnixMilli()},
		})
		got, other := scriptLines(t, out)
		scriptComparePartitioned(t, want, got, from)
		for i := range got {
			for _, w := range want {
				if *w.Partition == *got[i].Partition && w.Offset == got[i].Offset {
					assert.Equal(t, w.Timestamp, got[i].Timestamp, "timestamp at %d/%d", *w.Partition, w.Offset)
				}
			}
		}
		assert.JSONEq(t, `{"0":[10,100],"1":[0,100],"2":[0,100]}`, string(other["watermarks"]))
		// offsets_for_times: the first record at or after the time, -1 past the end.
		assert.JSONEq(t, `{"0":50,"1":2,"2":-1}`, string(other["times"]))
	})

	compatCheck(t, client, version, "admin topics and configs", func(t *testing.T) {
		out := script(t, "ck_admin.py", map[string]any{"bootstrap": k.Addr, "topic": "ck-admin", "doomed": "ck-admin-doomed"})
		got := map[string]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			got[m["step"].(string)] = m
		}
		assert.Equal(t, []any{"ck-admin", "ck-admin-doomed"}, got["create"]["topics"])
		assert.EqualValues(t, 3, got["create"]["partitions"])
		// ck-admin is gone by now: its leaders must be live brokers.
		var brokerIDs []any
		for _, b := range viewOf(t, k, "ck-admin-doomed").brokers {
			brokerIDs = append(brokerIDs, float64(b.NodeID))
		}
		require.NotEmpty(t, got["create"]["leaders"])
		assert.Subset(t, brokerIDs, got["create"]["leaders"])
		assert.Equal(t, "3600000", got["describe_configs"]["retention_ms"])
		assert.Equal(t, "delete", got["describe_configs"]["cleanup_policy"])
		assert.EqualValues(t, 5, got["create_partitions"]["partitions"])
		assert.Equal(t, "7200000", got["incremental_alter_configs"]["retention_ms"])
		assert.Equal(t, []any{"ck-admin"}, got["delete"]["topics"])
		v := viewOf(t, k, "ck-admin-doomed")
		var nodes []any
		for _, b := range v.brokers {
			nodes = append(nodes, []any{float64(b.NodeID), b.Host, float64(b.Port)})
		}
		assert.Equal(t, nodes, got["describe_cluster"]["nodes"])
		assert.EqualValues(t, v.controller, got["describe_cluster"]["controller"])

		// What franz-go sees agrees.
		td, err := adm.ListTopics(ctx, "ck-admin", "ck-admin-doomed")
		require.NoError(t, err)
		assert.False(t, td.Has("ck-admin-doomed"), "deleted topic is gone")
		require.True(t, td.Has("ck-admin"))
		assert.Len(t, td["ck-admin"].Partitions, 5)
		rcs, err := adm.DescribeTopicConfigs(ctx, "ck-admin")
		require.NoError(t, err)
		rc, err := rcs.On("ck-admin", nil)
		require.NoError(t, err)
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				assert.Equal(t, "7200000", c.MaybeValue())
			}
		}
		md, err := adm.BrokerMetadata(ctx)
		require.NoError(t, err)
		assert.Equal(t, md.Cluster, got["describe_cluster"]["cluster_id"])
	})

	compatCheck(t, client, version, "consumer group commit and resume", func(t *testing.T) {
		const topic, group, n, first = "ck-group", "ck-group-1", 240, 100
		createTopic(t, topic, 3)
		cl := k.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3),
				Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(i))}}})
		}
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
		var want []scriptRecord
		for _, r := range recs {
			want = append(want, scriptFromKgo(r))
		}

		// First member: takes 100 records and commits where it stopped;
		// the second member of the same group resumes at the commits.
		checkGroupCommitResume(t, adm, topic, group, n, first, want,
			func() string {
				return script(t, "ck_group.py", map[string]any{"bootstrap": k.Addr, "topic": topic, "group": group, "max": first})
			},
			func() string {
				return script(t, "ck_group.py", map[string]any{"bootstrap": k.Addr, "topic": topic, "group": group, "max": nil})
			})
	})
}

// checkGroupCommitResume checks a client's group consumer in two runs of
// one group on a 3-partition topic of n records: the first member reads
// first records in per-partition order and commits where it stopped (as
// franz-go and the client both read the commits back), the second resumes
// at the commits and reads the rest, in order, every record exactly once,
// and commits each partition's end. It returns the first run's read
// positions and the commits the client read after it.
func checkGroupCommitResume(t *testing.T, adm *kadm.Client, topic, group string, n, first int, want []scriptRecord,
	firstMember, secondMember func() string,
) (next map[int32]int64, firstCommitted map[string]int64) {
	t.Helper()
	ctx := context.Background()
	got1, other := scriptLines(t, firstMember())
	require.Len(t, got1, first)
	next = map[int32]int64{}
	for _, r := range got1 {
		assert.Equal(t, next[*r.Partition], r.Offset, "partition %d consumed in order from the start", *r.Partition)
		next[*r.Partition] = r.Offset + 1
	}
	require.NoError(t, json.Unmarshal(other["committed"], &firstCommitted))
	fetched, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	require.NoError(t, fetched.Error())
	for p := int32(0); p < 3; p++ {
		o, ok := fetched.Lookup(topic, p)
		if next[p] == 0 {
			assert.False(t, ok && o.At >= 0, "partition %d: nothing consumed, nothing committed", p)
			continue
		}
		require.True(t, ok, "partition %d committed", p)
		assert.Equal(t, next[p], o.At, "partition %d: committed offset as franz-go reads it", p)
		assert.Equal(t, next[p], firstCommitted[strconv.Itoa(int(p))], "partition %d: committed offset as the client reads it", p)
	}
	firstNext := maps.Clone(next)

	got2, other := scriptLines(t, secondMember())
	require.Len(t, got2, n-first)
	for _, r := range got2 {
		assert.Equal(t, next[*r.Partition], r.Offset, "partition %d resumed at the commit, in order", *r.Partition)
		next[*r.Partition] = r.Offset + 1
	}
	scriptComparePartitioned(t, want, append(got1, got2...), nil)
	var committed map[string]int64
	require.NoError(t, json.Unmarshal(other["committed"], &committed))
	assert.Equal(t, map[string]int64{"0": int64(n / 3), "1": int64(n / 3), "2": int64(n / 3)}, committed)
	fetched, err = adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	for p := int32(0); p < 3; p++ {
		o, _ := fetched.Lookup(topic, p)
		assert.Equal(t, int64(n/3), o.At, "partition %d committed at its end", p)
	}
	return firstNext, firstCommitted
}
