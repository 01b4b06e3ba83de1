package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// readyTimeout bounds the wait for a fresh broker: embedded etcd plus
	// the broker, or a JVM starting Kafka, usually answer within seconds.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long a broker gets to shut down before SIGKILL.
	stopTimeout = 15 * time.Second
	// startAttempts is how often a broker is started on fresh ports when
	// one of the ports picked was taken by someone else in the meantime.
	startAttempts = 3
)

// errPortTaken means the broker exited because a port picked for it was
// taken between freePorts and its bind; starting again on other ports is
// the cure.
var errPortTaken = errors.New("a port picked for the broker was taken meanwhile")

// brokerProc is a broker process kbench started (kafkad or Apache Kafka),
// with its own temp dir (data and output log) that stop removes.
type brokerProc struct {
	name    string // for messages: "kafkad", "Apache Kafka"
	addr    string
	dir     string
	logPath string
	etcdURL string // the embedded etcd's client URL (kafkad only)
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returns; waitErr is then set
	waitErr error
}

// startBroker runs kafkad on free loopback ports with a temp data dir and
// waits until it answers Kafka metadata requests. Settings that differ
// from kafkad's defaults match the Apache Kafka reference (startKafka).
func startBroker(ctx context.Context, bin string, partitions int, stderr io.Writer) (*brokerProc, error) {
	return startRetrying(func() (*brokerProc, error) {
		dir, ports, addr, err := workspace("kbench-", 3)
		if err != nil {
			return nil, err
		}
		etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		cmd := exec.Command(bin,
			"--broker.id=1",
			"--log.dirs="+filepath.Join(dir, "data"),
			"--listeners=PLAINTEXT://"+addr,
			"--etcd.embedded.client.url="+etcdURL,
			fmt.Sprintf("--etcd.embedded.peer.url=http://127.0.0.1:%d", ports[2]),
			fmt.Sprintf("--num.partitions=%d", partitions),
			// A lone consumer (the perf tool's) joins at once, as on Kafka.
			"--group.initial.rebalance.delay.ms=0",
			fmt.Sprintf("--log.cleaner.backoff.ms=%d", cleanerBackoffMs),
		)
		p, err := launch(ctx, "kafkad", dir, addr, cmd, stderr)
		if p != nil {
			p.etcdURL = etcdURL
		}
		return p, err
	})
}

// dataDir is the broker's log dir (startBroker's and startKafka's layout).
func (p *brokerProc) dataDir() string { return filepath.Join(p.dir, "data") }

// workspace makes a temp dir and picks n free loopback ports for a broker;
// addr is 127.0.0.1 on the first port.
func workspace(prefix string, n int) (dir string, ports []int, addr string, err error) {
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", nil, "", err
	}
	if ports, err = freePorts(n); err != nil {
		os.RemoveAll(dir)
		return "", nil, "", err
	}
	return dir, ports, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// startRetrying calls start again, up to startAttempts times, while it
// fails with errPortTaken.
func startRetrying(start func() (*brokerProc, error)) (*brokerProc, error) {
	for attempt := 1; ; attempt++ {
		p, err := start()
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return p, err
		}
	}
}

// launch starts cmd, logging to dir/<name>.log, and waits until the broker
// answers on addr. On failure the process is stopped and dir removed.
func launch(ctx context.Context, name, dir, addr string, cmd *exec.Cmd, stderr io.Writer) (*brokerProc, error) {
	p := &brokerProc{
		name:    name,
		addr:    addr,
		dir:     dir,
		logPath: filepath.Join(dir, "broker.log"),
		cmd:     cmd,
		exited:  make(chan struct{}),
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		if p.hasExited() && logMentionsPortTaken(p.logPath) {
			os.RemoveAll(dir)
			fmt.Fprintf(stderr, "%s: a port was taken meanwhile, starting again on other ports\n", name)
			return nil, errPortTaken
		}
		p.stop(stderr, true)
		return nil, err
	}
	return p, nil
}

func (p *brokerProc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// logMentionsPortTaken tells whether a broker's output says a bind failed:
// Go says "bind: address already in use", Java "Address already in use".
func logMentionsPortTaken(path string) bool {
	data, _ := os.ReadFile(path)
	return bytes.Contains(bytes.ToLower(data), []byte("address already in use"))
}

// freePorts returns n distinct loopback ports nothing listens on right
// now; all are held open together so none is handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady pings the broker until it answers, it exits, or readyTimeout
// passes.
func (p *brokerProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(pingCtx)
		pingCancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before answering: %v", p.name, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s: %w (last error: %v)", p.name, p.addr, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// stop ends the broker (SIGTERM, then SIGKILL after stopTimeout) and
// removes its directory; with showLog the tail of its output goes to
// stderr first, since the directory is about to disappear.
func (p *brokerProc) stop(stderr io.Writer, showLog bool) {
	select {
	case <-p.exited:
		// It died on its own: whatever it said is the explanation.
		showLog = true
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if showLog {
		fmt.Fprintf(stderr, "--- last lines of %s output (%s) ---\n%s\n", p.name, p.logPath, tail(p.logPath, 40))
	}
	os.RemoveAll(p.dir)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tailText(data, n)
}

// tailText returns the last n lines of text.
func tailText(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == '\n' {
			if n--; n == 0 {
				return string(data[i+1:])
			}
		}
	}
	return string(data)
}
