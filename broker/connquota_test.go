package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// served dials tb and reports whether the broker answers an ApiVersions
// on the new connection within wait; the connection stays open.
func served(t *testing.T, addr string, wait time.Duration) (net.Conn, bool) {
	t.Helper()
	nc := dial(t, addr)
	wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	if _, err := nc.Write(wire); err != nil {
		return nc, false
	}
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(wait)))
	var b [4]byte
	_, err := nc.Read(b[:])
	require.NoError(t, nc.SetReadDeadline(time.Time{}))
	return nc, err == nil
}

// requireUnanswered asserts nc gets nothing, not even a close, within d.
func requireUnanswered(t *testing.T, nc net.Conn, d time.Duration) {
	t.Helper()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(d)))
	var b [1]byte
	_, err := nc.Read(b[:])
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "expected no answer, got %v", err)
	require.NoError(t, nc.SetReadDeadline(time.Time{}))
}

func TestMaxConnectionsPerIP(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.MaxConnectionsPerIP = 2 })
	a, ok := served(t, tb.addr, 10*time.Second)
	require.True(t, ok)
	_, ok = served(t, tb.addr, 10*time.Second)
	require.True(t, ok)

	third := dial(t, tb.addr)
	requireClosed(t, third)

	// A freed slot is available again.
	a.Close()
	require.Eventually(t, func() bool {
		nc, ok := served(t, tb.addr, time.Second)
		nc.Close()
		return ok
	}, 10*time.Second, 50*time.Millisecond)
}

func TestMaxConnectionsPerIPOverrides(t *testing.T) {
	cases := []struct{ name, overrides string }{
		{"by IP", "127.0.0.1:1"},
		{"by host name", "localhost:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// 0 per IP: only the overridden address may connect at all.
			tb := startTestBroker(t, func(c *Config) { c.MaxConnectionsPerIP = 0; c.MaxConnectionsPerIPOverrides = tc.overrides })
			_, ok := served(t, tb.addr, 10*time.Second)
			require.True(t, ok)
			requireClosed(t, dial(t, tb.addr))
		})
	}
}

func TestConnectionLimitsAreDynamic(t *testing.T) {
	tb := startTestBroker(t)
	adm := kadm.NewClient(tb.client(t)) // holds one connection
	ctx := context.Background()
	alter := func(key, value string) {
		t.Helper()
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(value)}}, tb.cfg.BrokerID)
		require.NoError(t, err)
		require.NoError(t, resp[0].Err)
	}
	alter("max.connections.per.ip", "0")
	require.Eventually(t, func() bool {
		nc, ok := served(t, tb.addr, time.Second)
		nc.Close()
		return !ok
	}, 10*time.Second, 100*time.Millisecond)
	requireClosed(t, dial(t, tb.addr))

	// An override for this address lets it connect again, without restart.
	alter("max.connections.per.ip.overrides", "127.0.0.1:100")
	require.Eventually(t, func() bool {
		nc, ok := served(t, tb.addr, time.Second)
		nc.Close()
		return ok
	}, 10*time.Second, 100*time.Millisecond)

	alter("max.connection.creation.rate", "100")
	require.Eventually(t, func() bool { return tb.liveConfig().MaxConnectionCreationRate == 100 }, 10*time.Second, 50*time.Millisecond)

	entries := describeBroker(t, tb, "1")
	assert.Equal(t, "127.0.0.1:100", *entries["max.connections.per.ip.overrides"].Value)
	assert.Equal(t, "0", *entries["max.connections.per.ip"].Value)
	assert.Equal(t, "100", *entries["max.connection.creation.rate"].Value)

	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.connections.per.ip.overrides", Value: kadm.StringPtr("nocount")}}, tb.cfg.BrokerID)
	require.NoError(t, err)
	require.Error(t, resp[0].Err)
}

func TestMaxConnectionsBlocksAccept(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.MaxConnections = 1 })
	first, ok := served(t, tb.addr, 10*time.Second)
	require.True(t, ok)

	// The second connection waits in the listen backlog: not served, not
	// closed, until the first one goes.
	second, ok := served(t, tb.addr, 300*time.Millisecond)
	require.False(t, ok)
	requireUnanswered(t, second, 200*time.Millisecond)
	first.Close()
	readAnswer(t, second, 1)
}

func TestConnectionsMaxIdle(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond })

	idle, ok := served(t, tb.addr, 10*time.Second)
	require.True(t, ok)
	start := time.Now()
	requireClosed(t, idle)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	// A connection with a request every 100 ms outlives the idle time
	// several times over.
	active := dial(t, tb.addr)
	for i := range int32(15) {
		rawRequest(t, active, kmsg.NewPtrApiVersionsRequest(), i)
		time.Sleep(100 * time.Millisecond)
	}

	// A request parked longer than the idle time (a long-polling fetch)
	// keeps its connection open until it is answered.
	cl := tb.client(t)
	createTopic(t, cl, "idle", 1, nil)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 1000, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "idle"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	parked := dial(t, tb.addr)
	start = time.Now()
	rawRequest(t, parked, req, 7)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
}

func TestQueuedMaxRequests(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.QueuedMaxRequests = 1 })
	ctx := context.Background()

	// With the one slot taken, a request is read but not handled.
	require.True(t, tb.requests.acquire(ctx))
	nc, ok := served(t, tb.addr, 300*time.Millisecond)
	require.False(t, ok)
	requireUnanswered(t, nc, 100*time.Millisecond)
	tb.requests.release()
	readAnswer(t, nc, 1)

	// One slot is enough for many clients at once: parked requests (a
	// JoinGroup waiting for the others, a long-polling fetch) do not hold
	// it, so a group of four still forms while they produce.
	createTopic(t, tb.client(t), "queued", 4, nil)
	pollCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	for i := range 4 {
		cl := tb.client(t, kgo.ConsumeTopics("queued"), kgo.ConsumerGroup("g"), kgo.FetchMaxWait(time.Second))
		for j := range 20 {
			r := cl.ProduceSync(ctx, &kgo.Record{Topic: "queued", Value: []byte{byte(i), byte(j)}})
			require.NoError(t, r.FirstErr())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				cl.PollFetches(pollCtx)
			}
		}()
	}
	adm := kadm.NewClient(tb.client(t))
	require.Eventually(t, func() bool {
		groups, err := adm.DescribeGroups(ctx, "g")
		return err == nil && groups["g"].State == "Stable" && len(groups["g"].Members) == 4
	}, 30*time.Second, 100*time.Millisecond)
	end, err := adm.ListEndOffsets(ctx, "queued")
	require.NoError(t, err)
	var total int64
	end.Each(func(o kadm.ListedOffset) { total += o.Offset })
	assert.Equal(t, int64(80), total)
}

func TestParseConnectionOverrides(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string]int32
		err      bool
	}{
		{"empty", "", map[string]int32{}, false},
		{"names and IPs", "hostName:100, 127.0.0.1:200", map[string]int32{"hostName": 100, "127.0.0.1": 200}, false},
		{"IPv6", "[::1]:5,fe80::1:6", map[string]int32{"::1": 5, "fe80::1": 6}, false},
		{"no count", "host", nil, true},
		{"negative", "host:-1", nil, true},
		{"not a number", "host:many", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConnectionOverrides(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestConnectionCreationRateThrottle(t *testing.T) {
	q := newConnQuotas()
	now := time.Unix(1000, 0)
	// A second's worth (10) goes without delay, then each waits 100 ms
	// more than the one before, capped at a second.
	for range 10 {
		assert.Zero(t, q.throttle(10, now))
	}
	assert.Equal(t, 100*time.Millisecond, q.throttle(10, now))
	assert.Equal(t, 200*time.Millisecond, q.throttle(10, now))
	assert.Zero(t, q.throttle(10, now.Add(2*time.Second)), "the allowance refills")
	for range 100 {
		q.throttle(10, now)
	}
	assert.Equal(t, time.Second, q.throttle(10, now))
	assert.Zero(t, q.throttle(unlimited, now))
	assert.Equal(t, time.Second, q.throttle(0, now))
}

func TestMaxConnectionCreationRate(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.MaxConnectionCreationRate = 10 })
	start := time.Now()
	for range 25 {
		nc, ok := served(t, tb.addr, 10*time.Second)
		require.True(t, ok)
		nc.Close()
	}
	// 10 at once, then 15 at 10/s.
	assert.GreaterOrEqual(t, time.Since(start), 1400*time.Millisecond)
}
