package integration

// The limits half of a broker that survives hostile clients: Kafka's
// per-request metadata bound on CreateTopics and CreatePartitions, the
// connection quotas, idle expiry and the bounded request queue, driven on
// a real kafkad process.

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// closedByBroker dials addr and reports whether the broker closes the
// connection (EOF or reset) within wait.
func closedByBroker(t *testing.T, addr string, wait time.Duration) bool {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(wait)))
	_, err = io.ReadAll(nc)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestHugeCreateTopicsIsRefused(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	ctx := context.Background()
	cl := k.client(t)
	adm := kadm.NewClient(cl)

	start := time.Now()
	resp, err := adm.CreateTopic(ctx, math.MaxInt32, 1, nil, "huge")
	require.ErrorIs(t, err, kerr.PolicyViolation)
	assert.Equal(t, "Unable to perform excessively large batch operation.", resp.ErrMessage)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The broker keeps serving: a topic within the bound is created and
	// grown, and records go through it.
	_, err = adm.CreateTopic(ctx, 100, 1, nil, "fine")
	require.NoError(t, err)
	grown, err := adm.CreatePartitions(ctx, math.MaxInt32-100, "fine")
	require.NoError(t, err)
	require.ErrorIs(t, grown["fine"].Err, kerr.PolicyViolation)
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "fine", Value: []byte("v")}).FirstErr())
	md, err := adm.Metadata(ctx, "fine")
	require.NoError(t, err)
	assert.Len(t, md.Topics["fine"].Partitions, 100)
	assert.True(t, k.running())
}

func TestConnectionQuotasAndIdleExpiry(t *testing.T) {
	k := startKafkad(t, brokerOpts{extra: []string{
		"--connections.max.idle.ms=1000", "--queued.max.requests=1",
	}})
	ctx := context.Background()

	// connections.max.idle.ms: a silent connection goes after about a
	// second; a client that keeps asking keeps its connection.
	start := time.Now()
	require.True(t, closedByBroker(t, k.Addr, 10*time.Second))
	assert.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond)

	cl := k.client(t)
	adm := kadm.NewClient(cl)
	_, err := adm.CreateTopic(ctx, 1, 1, nil, "quota")
	require.NoError(t, err)
	// queued.max.requests=1 still serves a producer and a group consumer.
	consumer := k.client(t, kgo.ConsumeTopics("quota"), kgo.ConsumerGroup("quota-g"), kgo.FetchMaxWait(2*time.Second))
	for i := range 30 {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "quota", Value: []byte{byte(i)}}).FirstErr())
		time.Sleep(100 * time.Millisecond)
	}
	got := 0
	for got < 30 {
		fs := consumer.PollFetches(ctx)
		require.NoError(t, fs.Err())
		got += fs.NumRecords()
	}

	// max.connections.per.ip, altered at run time with kafka-configs.sh:
	// 0 refuses every new connection from this address at once.
	j := javaKafkaPinned
	out := kafkaConfigs(t, j, k, "--entity-type", "brokers", "--entity-name", "1", "--alter",
		"--add-config", "max.connections.per.ip=0")
	assert.Contains(t, out, "Completed updating config for broker 1.")
	require.Eventually(t, func() bool { return closedByBroker(t, k.Addr, 500*time.Millisecond) }, 10*time.Second, 100*time.Millisecond)
	// The broker closes first and logs after.
	assert.Eventually(t, func() bool {
		return strings.Contains(k.out.String(), "connection refused: the address already has its maximum of connections")
	}, 10*time.Second, 50*time.Millisecond)
}
