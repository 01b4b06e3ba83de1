package broker

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// header builds a request header v1 (key, version, correlation id, client id).
func header(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
}

func sized(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

// TestBadInputClosesOnlyThatConnection sends each kind of bad request on its
// own connection and checks that the broker answers as Kafka does (the v0
// ApiVersions fallback) or closes that connection, while a client on
// another connection keeps producing and consuming.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.SocketRequestMaxBytes = 1 << 16 })

	// A healthy client, connected before and used after the abuse.
	good := tb.client(t, kgo.DefaultProduceTopic("survivor"), kgo.AllowAutoTopicCreation())
	ctx := context.Background()
	require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr())

	tests := []struct {
		name string
		wire []byte
	}{
		{"frame larger than socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, 1<<20)},
		{"negative frame size", []byte{0xff, 0xff, 0xff, 0xfe}},
		{"frame too small for a header", sized([]byte{0, 3})},
		{"unknown api key", sized(header(999, 0, 1))},
		{"metadata version too new", sized(header(int16(kmsg.Metadata), 99, 1))},
		{"produce version below the floor", sized(header(int16(kmsg.Produce), 2, 1))},
		// Metadata v4 claiming five topics and carrying none.
		{"truncated body", sized(append(header(int16(kmsg.Metadata), 4, 1), 0, 0, 0, 5))},
		{"client id longer than the frame", sized(append(header(int16(kmsg.Metadata), 1, 1)[:8], 0x7f, 0xff))},
		{"garbage", sized([]byte("GET / HTTP/1.1\r\nHost: kafkad\r\n\r\n"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := dial(t, tb.addr)
			_, err := nc.Write(tc.wire)
			require.NoError(t, err)
			requireClosed(t, nc)
		})
	}

	t.Run("apiversions too new gets the v0 fallback", func(t *testing.T) {
		nc := dial(t, tb.addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 4
		wire := kmsg.NewRequestFormatter().AppendRequest(nil, req, 42)
		binary.BigEndian.PutUint16(wire[6:], 77) // claim v77
		_, err := nc.Write(wire)
		require.NoError(t, err)
		body := readAnswer(t, nc, 42)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		require.NoError(t, resp.ReadFrom(body))
		assert.Equal(t, int16(35), resp.ErrorCode)
		var found bool
		for _, k := range resp.ApiKeys {
			if k.ApiKey == int16(kmsg.ApiVersions) {
				found = true
				assert.Equal(t, int16(4), k.MaxVersion)
			}
		}
		assert.True(t, found, "fallback lists ApiVersions itself")
		// The connection stays usable, as for a client retrying lower.
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		back := kmsg.NewPtrApiVersionsResponse()
		back.Version = 3
		require.NoError(t, back.ReadFrom(rawRequest(t, nc, req, 43)))
		assert.Equal(t, int16(0), back.ErrorCode)
	})

	require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr())
	fresh := tb.client(t, kgo.ConsumeTopics("survivor"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 2 {
		fs := fresh.PollFetches(ctx)
		require.NoError(t, fs.Err())
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	assert.Equal(t, []string{"before", "after"}, got)
}

// TestPipelinedAnswersInOrder writes many requests before reading any and
// checks answers come back in request order, including a long-polling fetch
// queued ahead of quick requests.
func TestPipelinedAnswersInOrder(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := context.Background()
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "pipe", 1, 1
	create.Topics = append(create.Topics, ct)
	resp, err := create.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Equal(t, int16(0), resp.Topics[0].ErrorCode)

	nc := dial(t, tb.addr)
	f := kmsg.NewRequestFormatter()
	var wire []byte
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 11, 300, 1, 1<<20
	fetch.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "pipe"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	wire = append(wire, f.AppendRequest(nil, fetch, 0)...) // AppendRequest sizes from dst[0]
	for i := int32(1); i <= 20; i++ {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = int16(i % 13)
		wire = append(wire, f.AppendRequest(nil, md, i)...)
	}
	_, err = nc.Write(wire)
	require.NoError(t, err)
	for i := int32(0); i <= 20; i++ {
		readAnswer(t, nc, i) // asserts the correlation id
	}
}
