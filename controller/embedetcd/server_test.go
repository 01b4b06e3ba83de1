package embedetcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStartTestServesClients(t *testing.T) {
	s := StartTest(t, zerolog.Nop())
	require.Len(t, s.Endpoints(), 1)
	c := newClient(t, s.Endpoints())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "k", "v")
	require.NoError(t, err)
	resp, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, "v", string(resp.Kvs[0].Value))
}

func TestRestartOnSameDirKeepsData(t *testing.T) {
	port := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	cfg := Config{
		Dir:       t.TempDir(),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", port()),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", port()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s, err := Start(cfg, zerolog.Nop())
	require.NoError(t, err)
	c := newClient(t, s.Endpoints())
	_, err = c.Put(ctx, "/kafkad/kept", "yes")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	s.Close()
	s.Close() // idempotent

	s, err = Start(cfg, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	c = newClient(t, s.Endpoints())
	resp, err := c.Get(ctx, "/kafkad/kept")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, "yes", string(resp.Kvs[0].Value))
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"public client url", Config{Dir: "d", ClientURL: "http://0.0.0.0:2379"}},
		{"remote peer url", Config{Dir: "d", PeerURL: "http://10.1.2.3:2380"}},
		{"https", Config{Dir: "d", ClientURL: "https://127.0.0.1:2379"}},
		{"no port", Config{Dir: "d", ClientURL: "http://127.0.0.1"}},
		{"not a url", Config{Dir: "d", ClientURL: "http://[::1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(tc.cfg, zerolog.Nop())
			require.ErrorIs(t, err, ErrStart)
		})
	}
}

func TestDefaults(t *testing.T) {
	e, err := embedConfig(Config{Dir: t.TempDir()}, zerolog.Nop(), new(atomic.Bool))
	require.NoError(t, err)
	assert.Equal(t, DefaultName, e.Name)
	assert.Equal(t, DefaultClientURL, e.ListenClientUrls[0].String())
	assert.Equal(t, DefaultPeerURL, e.AdvertisePeerUrls[0].String())
	assert.Equal(t, "kafkad=http://127.0.0.1:2380", e.InitialCluster)
	assert.False(t, e.UnsafeNoFsync)
}

func TestEtcdLogsRoutedAndQuietOnClose(t *testing.T) {
	var buf syncBuffer
	s := StartTest(t, zerolog.New(&buf))
	c := newClient(t, s.Endpoints())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "k", "v")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	s.Close()
	out := buf.String()
	assert.Contains(t, out, `"component":"etcd"`)
	assert.NotContains(t, out, `"level":"error"`)
	assert.NotContains(t, out, `"level":"warn"`)
}

// syncBuffer is a bytes.Buffer safe for etcd's concurrent loggers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDemoter(t *testing.T) {
	closing := new(atomic.Bool)
	demote := demoter(closing)
	cases := []struct {
		name   string
		msg    string
		fields []zapcore.Field
		want   bool
	}{
		{"real error", "raft failed", []zapcore.Field{zap.Error(errors.New("disk full"))}, false},
		{"benign warning", "simple token is not cryptographically signed", nil, true},
		{"start-up race", "failed to update storage version", []zapcore.Field{zap.Error(errors.New("cannot detect storage schema version: missing term information"))}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, demote(zapcore.Entry{Message: tc.msg}, tc.fields))
		})
	}
	closing.Store(true)
	assert.True(t, demote(zapcore.Entry{Message: "raft failed"}, nil), "everything once closing")
}
