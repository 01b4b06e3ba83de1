package integration

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatVersion reads "Version 1.7.1 (... librdkafka 2.0.2 ...)" from kcat -V.
func kcatVersion() string {
	out, err := exec.Command("kcat", "-V").CombinedOutput()
	if err != nil {
		return "missing"
	}
	m := regexp.MustCompile(`Version (\S+) .*librdkafka (\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		return "unknown"
	}
	return m[1] + " (librdkafka " + m[2] + ")"
}

// TestCompatKcat drives Debian's kcat (librdkafka): metadata, produce with
// keys and headers under every codec, consume back from the beginning and
// from an offset, and a topic auto-created by producing.
func TestCompatKcat(t *testing.T) {
	k := startCompatKafkad(t, brokerOpts{extra: []string{"--num.partitions=3"}})
	version := kcatVersion()
	kcat := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		return runTool(t, 60*time.Second, stdin, nil, compatTool(t, "/usr/bin/kcat"), append([]string{"-b", k.Addr}, args...)...)
	}
	ctx := context.Background()
	adm := kadm.NewClient(k.client(t))
	_, err := adm.CreateTopic(ctx, 4, 1, nil, "kcat-meta")
	require.NoError(t, err)

	compatCheck(t, "kcat", version, "metadata", func(t *testing.T) {
		out := kcat(t, "", "-L", "-t", "kcat-meta")
		v := viewOf(t, k, "kcat-meta")
		assert.Contains(t, out, fmt.Sprintf("%d brokers:", len(v.brokers)))
		for _, b := range v.brokers {
			assert.Contains(t, out, fmt.Sprintf("broker %d at %s:%d", b.NodeID, b.Host, b.Port))
		}
		assert.Contains(t, out, `topic "kcat-meta" with 4 partitions:`)
		ids := func(xs []int32) string {
			s := make([]string, len(xs))
			for i, x := range xs {
				s[i] = fmt.Sprint(x)
			}
			return strings.Join(s, ",")
		}
		for p := int32(0); p < 4; p++ {
			d := v.partitions[p]
			assert.Contains(t, out, fmt.Sprintf("partition %d, leader %d, replicas: %s, isrs: %s", p, d.Leader, ids(d.Replicas), ids(d.ISR)))
		}
	})

	// librdkafka before 2.8 enables gzip, snappy and lz4 only for brokers
	// that still take Produce v0-v2, which KIP-896 brokers (Apache Kafka
	// 4.x, and kafkad) do not: it sends those batches uncompressed
	// (confluentinc/librdkafka#4956). Debian's kcat is built on 2.0.2.
	oldLibrdkafka := regexp.MustCompile(`librdkafka 2\.[0-7]\.`).MatchString(version)
	for i, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		stored := uint8(i)
		if oldLibrdkafka && codec != "zstd" {
			stored = 0
		}
		compatCheck(t, "kcat", version, "produce+consume "+codec, func(t *testing.T) {
			topic := "kcat-" + codec
			_, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
			require.NoError(t, err)
			// Keys pin records to partitions; both partitions get some.
			var in strings.Builder
			want := map[string]string{}
			for i := 0; i < 300; i++ {
				key, value := fmt.Sprintf("key-%d", i%7), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%50))
				fmt.Fprintf(&in, "%s\t%s\n", key, value)
				want[value] = key
			}
			kcat(t, in.String(), "-P", "-t", topic, "-K", "\t", "-z", codec,
				"-H", "source=kcat", "-H", "codec="+codec, "-X", "acks=all", "-X", "enable.idempotence=true")

			// Read back with kcat itself: every record once, with its key
			// and headers, offsets dense per partition.
			out := kcat(t, "", "-C", "-t", topic, "-o", "beginning", "-e", "-q",
				"-f", `%p|%o|%k|%s|%h\n`)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 300)
			next := map[string]int{}
			seen := map[string]bool{}
			for _, line := range lines {
				f := strings.SplitN(line, "|", 5)
				require.Len(t, f, 5, line)
				assert.Equal(t, fmt.Sprint(next[f[0]]), f[1], "partition %s offsets are dense and in order", f[0])
				next[f[0]]++
				assert.Equal(t, want[f[3]], f[2], "key of %s", f[3])
				assert.Equal(t, "source=kcat,codec="+codec, f[4])
				assert.False(t, seen[f[3]], "%s consumed twice", f[3])
				seen[f[3]] = true
			}
			assert.Len(t, next, 2, "both partitions hold records")

			// And with franz-go, so the bytes are checked by a second client.
			cl := k.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := 0
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for got < 300 {
				fs := cl.PollFetches(pctx)
				require.NoError(t, pctx.Err())
				fs.EachRecord(func(r *kgo.Record) {
					got++
					assert.Equal(t, want[string(r.Value)], string(r.Key))
					require.Len(t, r.Headers, 2)
					assert.Equal(t, "kcat", string(r.Headers[0].Value))
					assert.Equal(t, stored, r.Attrs.CompressionType(), "the batch is stored as kcat compressed it")
				})
			}
		})
	}

	compatCheck(t, "kcat", version, "consume from offset and auto-create on produce", func(t *testing.T) {
		kcat(t, "a\nb\nc\nd\n", "-P", "-t", "kcat-auto", "-p", "0")
		md, err := adm.ListTopics(ctx, "kcat-auto")
		require.NoError(t, err)
		require.True(t, md.Has("kcat-auto"))
		assert.Len(t, md["kcat-auto"].Partitions, 3, "num.partitions applies to auto-created topics")
		out := kcat(t, "", "-C", "-t", "kcat-auto", "-p", "0", "-o", "2", "-e", "-q", "-f", `%o=%s\n`)
		assert.Equal(t, "2=c\n3=d\n", out)
		out = kcat(t, "", "-C", "-t", "kcat-auto", "-p", "0", "-o", "-1", "-e", "-q", "-f", `%o=%s\n`)
		assert.Equal(t, "3=d\n", out, "relative offset from the end")
	})
}
