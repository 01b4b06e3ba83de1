package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkadBin is the binary built by TestMain.
var kafkadBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kafkad-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kafkadBin = filepath.Join(dir, "kafkad")
	build := exec.Command("go", "build", "-o", kafkadBin, "../cmd/kafkad")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kafkad:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := writeCompatReport(); err != nil {
		fmt.Fprintln(os.Stderr, "compat report:", err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output for printing on failure.
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

// kafkad is one broker process.
type kafkad struct {
	t       testing.TB
	ID      int32
	Addr    string
	DataDir string
	args    []string
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
}

// brokerOpts configure startKafkad.
type brokerOpts struct {
	etcdEndpoints []string // empty: embedded etcd on free ports
	id            int32    // broker.id; 0 means 1
	extra         []string
}

// startKafkad starts a broker on free ports with its own data dir and waits
// until it answers Kafka requests.
func startKafkad(t testing.TB, o brokerOpts) *kafkad {
	t.Helper()
	k := &kafkad{t: t, DataDir: t.TempDir(), out: &syncBuffer{}}
	k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	id := o.id
	if id == 0 {
		id = 1
	}
	k.ID = id
	k.args = []string{
		fmt.Sprintf("--broker.id=%d", id),
		"--log.dirs=" + k.DataDir,
		"--listeners=PLAINTEXT://" + k.Addr,
	}
	if len(o.etcdEndpoints) > 0 {
		k.args = append(k.args, "--etcd.endpoints="+strings.Join(o.etcdEndpoints, ","))
	} else {
		k.args = append(k.args,
			fmt.Sprintf("--etcd.embedded.client.url=http://127.0.0.1:%d", freePort(t)),
			fmt.Sprintf("--etcd.embedded.peer.url=http://127.0.0.1:%d", freePort(t)))
	}
	k.args = append(k.args, o.extra...)
	t.Cleanup(func() {
		if k.running() {
			k.Stop()
		}
		if t.Failed() {
			t.Logf("kafkad output:\n%s", k.out.String())
		}
	})
	k.Start()
	return k
}

func (k *kafkad) running() bool {
	if k.exited == nil {
		return false
	}
	select {
	case <-k.exited:
		return false
	default:
		return true
	}
}

// Start (re)starts the process with the same arguments and data dir.
func (k *kafkad) Start() {
	k.t.Helper()
	k.cmd = exec.Command(kafkadBin, k.args...)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	require.NoError(k.t, k.cmd.Start())
	k.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(k.cmd, k.exited)
	k.waitReady()
}

func (k *kafkad) waitReady() {
	k.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addr), kgo.RetryTimeout(time.Second))
	require.NoError(k.t, err)
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := cl.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-k.exited:
			k.t.Fatalf("kafkad exited during start-up:\n%s", k.out.String())
		default:
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kafkad not ready after 60s: %v\n%s", err, k.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (k *kafkad) Stop() {
	k.t.Helper()
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(30 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.exited
		k.t.Errorf("kafkad did not stop within 30s of SIGTERM")
	}
}

// Kill sends SIGKILL: no flush, no snapshot, as after a crash.
func (k *kafkad) Kill() {
	k.t.Helper()
	_ = k.cmd.Process.Kill()
	<-k.exited
}

// client returns a franz-go client for k, closed at cleanup.
func (k *kafkad) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addr)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}
