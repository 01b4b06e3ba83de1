package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkad/kafkad/controller/embedetcd"
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
	// siblings are the other brokers of a compat cluster: they stop and
	// start with this one (see startCompatKafkad).
	siblings []*kafkad
	out      *syncBuffer
	exited   chan struct{}
}

// brokerOpts configure startKafkad.
type brokerOpts struct {
	etcdEndpoints []string // empty: embedded etcd on free ports
	id            int32    // broker.id; 0 means 1
	extra         []string
	// moreListeners are listeners after the PLAINTEXT one Addr names
	// (e.g. "SASL_PLAINTEXT://127.0.0.1:9093").
	moreListeners []string
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
		"--listeners=" + strings.Join(append([]string{"PLAINTEXT://" + k.Addr}, o.moreListeners...), ","),
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
	for _, s := range k.siblings {
		s.start()
	}
	k.start()
}

func (k *kafkad) start() {
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
	k.stop()
	for _, s := range k.siblings {
		s.stop()
	}
}

func (k *kafkad) stop() {
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

// compatBrokers is how many brokers the client compatibility checks run
// against: KAFKAD_COMPAT_BROKERS (1 by default; `make test` also runs them
// with 3).
func compatBrokers() int {
	if os.Getenv("KAFKAD_COMPAT_BROKERS") == "3" {
		return 3
	}
	return 1
}

// compatClientName marks report rows of a three-broker run.
func compatClientName(client string) string {
	if compatBrokers() == 3 {
		return client + " (3 brokers)"
	}
	return client
}

// startCompatKafkad starts what a compatibility check talks to: one
// broker, or with KAFKAD_COMPAT_BROKERS=3 three brokers on an external
// etcd (auto-created topics with RF=3, min.insync.replicas=2), returned
// as the first broker with the others as siblings that stop and start
// with it.
func startCompatKafkad(t *testing.T, o brokerOpts) *kafkad {
	t.Helper()
	if compatBrokers() == 1 {
		return startKafkad(t, o)
	}
	etcd := embedetcd.StartTest(t, zerolog.Nop())
	var ks []*kafkad
	for id := int32(1); id <= 3; id++ {
		bo := brokerOpts{etcdEndpoints: etcd.Endpoints(), id: id,
			extra: append([]string{"--default.replication.factor=3", "--broker.session.timeout.ms=3000"}, o.extra...)}
		ks = append(ks, startKafkad(t, bo))
	}
	ks[0].siblings = ks[1:]
	return ks[0]
}

// clusterView is the brokers, controller and partition placement of a
// topic as kafkad reports them, for checks that compare a client's view
// with it (whatever the number of brokers).
type clusterView struct {
	brokers    []kadm.BrokerDetail // sorted by id
	controller int32
	partitions map[int32]kadm.PartitionDetail
}

func viewOf(t *testing.T, k *kafkad, topic string) clusterView {
	t.Helper()
	md, err := kadm.NewClient(k.client(t)).Metadata(context.Background(), topic)
	require.NoError(t, err)
	v := clusterView{brokers: md.Brokers, controller: md.Controller, partitions: map[int32]kadm.PartitionDetail{}}
	for p, d := range md.Topics[topic].Partitions {
		v.partitions[p] = d
	}
	return v
}

// leaders is the set of partition leaders, sorted.
func (v clusterView) leaders() []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, p := range v.partitions {
		if !seen[p.Leader] {
			seen[p.Leader] = true
			out = append(out, p.Leader)
		}
	}
	slices.Sort(out)
	return out
}
