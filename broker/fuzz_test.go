package broker

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// fuzzHeapLimit is the most heap a fuzzed connection may leave the broker
// holding; frames are capped at 1 MiB, so anything near this is a leak or
// an allocation driven by a declared count.
const fuzzHeapLimit = 512 << 20

// panicCounter counts the panics the broker recovered (internal/safe logs
// each at error as "recovered panic"); the fuzz target fails on any, since
// a contained panic is still a bug.
type panicCounter struct{ n atomic.Int64 }

func (p *panicCounter) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("recovered panic")) {
		p.n.Add(1)
	}
	return len(b), nil
}

// startFuzzBroker starts one broker with embedded etcd for the whole fuzz
// process (not per input): inputs share it, as hostile clients would.
func startFuzzBroker(f *testing.F, panics *panicCounter) *Broker {
	f.Helper()
	quiet := zerolog.New(io.Discard)
	store := metastore.StartTest(f, quiet)
	cfg := DefaultConfig()
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.SocketRequestMaxBytes = 1 << 20
	cfg.PartialRequestTimeout = 200 * time.Millisecond
	cfg.AutoCreateTopics = false
	logs, err := storage.NewManager([]string{f.TempDir()}, cfg.Log, quiet)
	if err != nil {
		f.Fatal(err)
	}
	b, err := New(cfg, store, logs, zerolog.New(panics).Level(zerolog.ErrorLevel))
	if err != nil {
		f.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = b.Close() })
	return b
}

// seedRequests is one valid request frame per API key and version the
// broker serves, with kmsg's defaults.
func seedRequests(b *Broker) [][]byte {
	var seeds [][]byte
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, k := range b.table.ApiKeys() {
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			req.SetVersion(v)
			seeds = append(seeds, formatter.AppendRequest(nil, req, int32(v)))
		}
	}
	return seeds
}

// FuzzConn feeds frames, valid requests of every API key and version
// mutated by the fuzzer, to a live broker over loopback TCP: no panic may
// escape or even be recovered, the broker must answer ApiVersions on a
// fresh connection afterwards, and its heap must stay bounded. Without
// -fuzz, go test runs the seeds, so make test covers every API once.
func FuzzConn(f *testing.F) {
	panics := &panicCounter{}
	b := startFuzzBroker(f, panics)
	addr := b.Addrs()[0]
	for _, s := range seedRequests(b) {
		f.Add(s)
	}
	var inputs atomic.Int64
	f.Fuzz(func(t *testing.T, wire []byte) {
		before := panics.n.Load()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = nc.Write(wire)
		_ = nc.(*net.TCPConn).CloseWrite()
		// Answers, or the close; parked requests (fetch, join) are cut short.
		_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.Copy(io.Discard, nc)
		nc.Close()

		requireApiVersions(t, addr)
		if n := panics.n.Load() - before; n > 0 {
			t.Fatalf("broker recovered %d panic(s) serving %x", n, wire)
		}
		if inputs.Add(1)%64 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > fuzzHeapLimit {
				t.Fatalf("heap in use %d MiB after %d inputs", ms.HeapInuse>>20, inputs.Load())
			}
		}
	})
}

// requireApiVersions checks the broker answers ApiVersions on a new
// connection.
func requireApiVersions(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("broker down: %v", err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(rawRequest(t, nc, kmsg.NewPtrApiVersionsRequest(), 1)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("broker did not answer ApiVersions: %v (error code %d)", err, resp.ErrorCode)
	}
}
