package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kafkad/kafkad/controller/embedetcd"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// testBroker is an in-process broker on a free loopback port, backed by a
// real embedded etcd.
type testBroker struct {
	*Broker
	addr string
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func startTestBroker(t *testing.T, edit ...func(*Config)) *testBroker {
	t.Helper()
	etcd := embedetcd.StartTest(t, testLogger(t))
	return startTestBrokerOn(t, etcd.Endpoints(), edit...)
}

// startTestBrokerOn starts an in-process broker on a running etcd, so
// that several brokers can share one.
func startTestBrokerOn(t *testing.T, endpoints []string, edit ...func(*Config)) *testBroker {
	t.Helper()
	logger := testLogger(t)
	client, err := metastore.Dial(endpoints, logger)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	store := metastore.New(client, "/kafkad/", logger)
	require.NoError(t, store.Start(context.Background()))
	t.Cleanup(store.Close)

	cfg := DefaultConfig()
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.SessionTimeout = 3 * time.Second
	for _, e := range edit {
		e(&cfg)
	}
	logs, err := storage.NewManager([]string{t.TempDir()}, cfg.Log, logger)
	require.NoError(t, err)
	b, err := New(cfg, store, logs, logger)
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Close() })
	return &testBroker{Broker: b, addr: b.Addrs()[0]}
}

// client returns a franz-go client on tb. Produce and Fetch are capped at
// v12 so that the hand-built requests in these tests, which name topics,
// go out in a version that carries names (v13+ carry only topic IDs).
func (tb *testBroker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(0, 12)
	versions.SetMaxKeyVersion(1, 12)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr), kgo.MaxVersions(versions)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// rawRequest writes one request frame on nc and reads the answer's body
// after the correlation id; for flexible versions the body still starts
// with the response header's tag section.
func rawRequest(t *testing.T, nc net.Conn, req kmsg.Request, corr int32) []byte {
	t.Helper()
	wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, corr)
	_, err := nc.Write(wire)
	require.NoError(t, err)
	return readAnswer(t, nc, corr)
}

func readAnswer(t *testing.T, nc net.Conn, corr int32) []byte {
	t.Helper()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	var size [4]byte
	_, err := io.ReadFull(nc, size[:])
	require.NoError(t, err)
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(nc, buf)
	require.NoError(t, err)
	require.Equal(t, corr, int32(binary.BigEndian.Uint32(buf)))
	return buf[4:]
}

// requireClosed asserts the broker closed nc: a read ends in EOF or a
// reset, not in the deadline.
func requireClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) {
		require.False(t, ne.Timeout(), "connection was not closed")
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return nc
}
