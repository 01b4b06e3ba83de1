package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

// setHandlerHook installs testHandlerHook for one test; set it before the
// broker starts serving the requests it targets.
func setHandlerHook(t *testing.T, hook func(b *Broker, ctx context.Context, r *protocol.Request) bool) {
	t.Helper()
	testHandlerHook = hook
	t.Cleanup(func() { testHandlerHook = nil })
}

// sendMetadata writes a Metadata request from clientID on nc.
func sendMetadata(t *testing.T, nc interface{ Write([]byte) (int, error) }, clientID string) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, 1)
	_, err := nc.Write(wire)
	require.NoError(t, err)
}

// A handler that panics, inline or in the goroutine it handed its work
// to, closes its client's connection (for real: the broker side closes,
// so the client reads EOF) while the broker keeps serving everyone else.
func TestPanicClosesOnlyThatConnection(t *testing.T) {
	setHandlerHook(t, func(b *Broker, ctx context.Context, r *protocol.Request) bool {
		switch r.Header.ClientID {
		case "panic-inline":
			panic("test: injected handler panic")
		case "panic-later":
			// Like an acks=-1 waiter: the answer was to come from here.
			b.requestGoroutine(ctx, "test waiter", func() { panic("test: injected waiter panic") })
			return true
		}
		return false
	})
	tb := startTestBroker(t)
	good := tb.client(t, kgo.DefaultProduceTopic("survivor"), kgo.AllowAutoTopicCreation())
	ctx := context.Background()
	require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr())

	for _, clientID := range []string{"panic-inline", "panic-later"} {
		t.Run(clientID, func(t *testing.T) {
			nc := dial(t, tb.addr)
			sendMetadata(t, nc, clientID)
			requireClosed(t, nc)

			// A fresh connection is answered, and the old client still works.
			fresh := dial(t, tb.addr)
			resp := kmsg.NewPtrApiVersionsResponse()
			require.NoError(t, resp.ReadFrom(rawRequest(t, fresh, kmsg.NewPtrApiVersionsRequest(), 7)))
			assert.Equal(t, int16(0), resp.ErrorCode)
			require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("after "+clientID)).FirstErr())
		})
	}
}

// A frame whose header is in but whose body stalls is dropped after
// PartialRequestTimeout; one that trickles in slower than that overall,
// but keeps making progress, is served.
func TestPartialFrameTimeout(t *testing.T) {
	tb := startTestBroker(t, func(c *Config) { c.PartialRequestTimeout = 300 * time.Millisecond })

	t.Run("stalled body closes", func(t *testing.T) {
		nc := dial(t, tb.addr)
		wire := binary.BigEndian.AppendUint32(nil, 50<<20)
		_, err := nc.Write(append(wire, header(int16(kmsg.Metadata), 1, 1)...))
		require.NoError(t, err)
		start := time.Now()
		requireClosed(t, nc)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("slow but progressing frame served", func(t *testing.T) {
		nc := dial(t, tb.addr)
		wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("trickle-client-with-a-long-name")).
			AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 9)
		for i := range wire {
			_, err := nc.Write(wire[i : i+1])
			require.NoError(t, err)
			time.Sleep(30 * time.Millisecond) // the frame takes ~1.5 s, each byte 30 ms
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		require.NoError(t, resp.ReadFrom(readAnswer(t, nc, 9)))
		assert.Equal(t, int16(0), resp.ErrorCode)
	})
}

// Headers declaring the largest allowed frame, followed by a little data,
// cost memory for the data, not for the declaration.
func TestDeclaredFrameSizeNotAllocated(t *testing.T) {
	tb := startTestBroker(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const conns = 8
	for range conns {
		nc := dial(t, tb.addr)
		wire := binary.BigEndian.AppendUint32(nil, uint32(tb.cfg.SocketRequestMaxBytes))
		_, err := nc.Write(append(wire, make([]byte, 4096)...))
		require.NoError(t, err)
	}
	// A request on a later connection is answered, so the broker has had
	// the time to read the headers (an up-front allocation of 8 x 100 MiB
	// follows a header at once).
	fresh := dial(t, tb.addr)
	require.NoError(t, kmsg.NewPtrApiVersionsResponse().ReadFrom(rawRequest(t, fresh, kmsg.NewPtrApiVersionsRequest(), 3)))
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(conns*8<<20),
		"allocated far more than the bytes received")
}

// A Produce frame whose topic count fills its body is refused before
// decoding: the connection closes and the broker allocates about the frame,
// not the ~64 bytes per declared topic kmsg would have.
func TestHostileArrayCountRefused(t *testing.T) {
	tb := startTestBroker(t)
	const size = 4 << 20
	body := header(int16(kmsg.Produce), 7, 1)
	body = append(body, 0xff, 0xff, 0, 1, 0, 0, 0, 0) // null transactional id, acks 1, timeout 0
	body = binary.BigEndian.AppendUint32(body, size)
	body = append(body, make([]byte, size)...)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	nc := dial(t, tb.addr)
	_, err := nc.Write(sized(body))
	require.NoError(t, err)
	requireClosed(t, nc)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8*size))

	fresh := dial(t, tb.addr)
	require.NoError(t, kmsg.NewPtrApiVersionsResponse().ReadFrom(rawRequest(t, fresh, kmsg.NewPtrApiVersionsRequest(), 3)))
}

// Connection warnings a client can trigger in a loop are rate-limited;
// errors are not.
func TestConnWarningsRateLimited(t *testing.T) {
	var out bytes.Buffer
	log := zerolog.New(&out).Sample(connWarnings)
	for range 200 {
		log.Warn().Msg("closing connection: bad frame")
	}
	log.Error().Msg("recovered panic")
	lines := strings.Count(out.String(), "\n")
	assert.LessOrEqual(t, lines, 21+20, "warnings not limited") // this second's burst, maybe the next's
	assert.Contains(t, out.String(), "recovered panic")
}
