package main

import (
	"bytes"
	"context"
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
	// the broker usually answer within seconds.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long a broker gets to shut down before SIGKILL.
	stopTimeout = 15 * time.Second
)

// brokerProc is a kafkad process kbench started, with its own temp dir
// (data dir and output log) that stop removes.
type brokerProc struct {
	addr    string
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returns; waitErr is then set
	waitErr error
}

// startBroker runs kafkad on free loopback ports with a temp data dir and
// waits until it answers Kafka metadata requests.
func startBroker(ctx context.Context, bin string, stderr io.Writer) (*brokerProc, error) {
	dir, err := os.MkdirTemp("", "kbench-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &brokerProc{
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		dir:     dir,
		logPath: filepath.Join(dir, "kafkad.log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = exec.Command(bin,
		"--broker.id=1",
		"--log.dirs="+filepath.Join(dir, "data"),
		"--listeners=PLAINTEXT://"+p.addr,
		fmt.Sprintf("--etcd.embedded.client.url=http://127.0.0.1:%d", ports[1]),
		fmt.Sprintf("--etcd.embedded.peer.url=http://127.0.0.1:%d", ports[2]),
	)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.stop(stderr, true)
		return nil, err
	}
	return p, nil
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
			return fmt.Errorf("kafkad exited before answering: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("kafkad did not answer on %s: %w (last error: %v)", p.addr, ctx.Err(), err)
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
		fmt.Fprintf(stderr, "--- last lines of kafkad output (%s) ---\n%s\n", p.logPath, tail(p.logPath, 40))
	}
	os.RemoveAll(p.dir)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
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
