package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/internal/safe"
	"github.com/kafkad/kafkad/protocol"
)

// maxInFlight bounds the requests read ahead of their answers on one
// connection; past it the reader stops reading (TCP back-pressure).
const maxInFlight = 128

// remoteKey is the context key of the client's address ("host:port"), for
// handlers that report it (group members' client host).
type remoteKey struct{}

// clientHost is the client address as Kafka shows it, "/1.2.3.4".
func clientHost(ctx context.Context) string {
	addr, _ := ctx.Value(remoteKey{}).(string)
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return "/" + host
	}
	return "/" + addr
}

// connKey is the context key of the *conn serving a request, so that work
// a handler hands to another goroutine can drop the connection when it
// panics (see requestGoroutine).
type connKey struct{}

// testHandlerHook, when set by a test, runs before every handler and
// replaces it when it returns true; tests make it panic, or start a
// requestGoroutine that panics, to check that the panic is contained.
var testHandlerHook func(b *Broker, ctx context.Context, r *protocol.Request) (handled bool)

// connWarnings rate-limits the warnings of refused and closed connections,
// which a remote peer can trigger in a loop, to a burst of 20 a second
// across connections; errors (a recovered panic) are never dropped.
var connWarnings = &zerolog.LevelSampler{WarnSampler: &zerolog.BurstSampler{Burst: 20, Period: time.Second}}

// slot carries one request's answer from its handler to the writer.
type slot struct {
	h    protocol.Header
	resp kmsg.Response
	raw  []byte // a v0 SASL token answer, sent without a header
	done chan struct{}
}

type conn struct {
	b      *Broker
	nc     net.Conn
	log    zerolog.Logger
	queue  chan *slot
	ctx    context.Context
	cancel context.CancelFunc
	idle   idleTracker
	// sasl is the authentication state on SASL listeners, else nil.
	sasl *saslConn
}

func (b *Broker) serveConn(nc net.Conn) {
	ctx, cancel := context.WithCancel(context.WithValue(b.ctx, remoteKey{}, nc.RemoteAddr().String()))
	listener := b.listenerOf(nc)
	ctx = context.WithValue(ctx, listenerKey{}, listener)
	auth := b.listenerSASL(listener)
	if auth != nil {
		ctx = context.WithValue(ctx, saslKey{}, auth)
	}
	c := &conn{
		sasl:   auth,
		b:      b,
		nc:     nc,
		log:    b.log.Sample(connWarnings).With().Str("remote", nc.RemoteAddr().String()).Logger(),
		queue:  make(chan *slot, maxInFlight),
		cancel: cancel,
	}
	c.ctx = context.WithValue(ctx, connKey{}, c)
	c.idle.start(b.liveConfig().ConnectionsMaxIdle, func() {
		c.log.Debug().Msg("closing idle connection (connections.max.idle.ms)")
		cancel()
	})
	context.AfterFunc(ctx, c.idle.stop)
	b.goroutine(func() {
		// A panic encoding an answer is contained here, so that it too
		// ends only this connection.
		safe.Run(c.log, "connection writer", c.write)
		// The writer leaves on a write error or after the reader quit; either
		// way the connection is done.
		cancel()
		nc.Close()
	})
	c.read()
}

// read decodes and dispatches requests in arrival order until the client
// goes away or breaks the protocol.
func (c *conn) read() {
	defer close(c.queue)
	// Unblock the reader when the broker or the writer ends the connection.
	stop := context.AfterFunc(c.ctx, func() { c.nc.Close() })
	defer stop()
	pr := &progressReader{nc: c.nc, timeout: c.b.cfg.PartialRequestTimeout}
	br := bufio.NewReaderSize(pr, 64<<10)
	for {
		if c.sasl != nil && c.sasl.raw && c.sasl.phase == saslAuthenticating {
			if !c.rawSASLToken(br) {
				return
			}
			continue
		}
		frame, err := protocol.ReadFrameStarted(br, c.sasl.maxFrame(c.b.cfg.SocketRequestMaxBytes), pr.arm)
		pr.disarm()
		if err != nil {
			if !errors.Is(err, io.EOF) && c.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				c.log.Warn().Err(err).Msg("closing connection: bad frame")
			}
			return
		}
		h, body, err := protocol.ParseHeader(frame)
		if err != nil {
			c.log.Warn().Err(err).Msg("closing connection: bad request header")
			return
		}
		if c.sasl != nil && !c.sasl.admits(h.Key) {
			c.saslWarn().Int16("api_key", h.Key).Str("client_id", h.ClientID).
				Msgf("closing connection: unexpected Kafka request of type %s during SASL handshake", kmsg.NameForKey(h.Key))
			return
		}
		req, api, err := c.b.table.Decode(h, body)
		if err != nil {
			if resp, ok := c.b.table.Fallback(h); ok {
				s := c.enqueue(h)
				if s == nil {
					return
				}
				s.resp = resp
				close(s.done)
				continue
			}
			c.log.Warn().Err(err).Int16("api_key", h.Key).Int16("api_version", h.Version).
				Str("client_id", h.ClientID).Msg("closing connection: request not served")
			return
		}
		s := c.enqueue(h)
		if s == nil || !c.b.requests.acquire(c.ctx) {
			return
		}
		ok := c.dispatch(api, protocol.NewRequest(h, req, func(resp kmsg.Response) {
			s.resp = resp
			close(s.done)
		}))
		c.b.requests.release()
		if !ok {
			return
		}
		if c.sasl != nil && c.sasl.phase == saslFailed {
			c.saslFailed()
			return // the writer sends the failure answer, then closes
		}
	}
}

// enqueue reserves the next answer slot, or returns nil when the
// connection is closing.
func (c *conn) enqueue(h protocol.Header) *slot {
	s := &slot{h: h, done: make(chan struct{})}
	select {
	case c.queue <- s:
		c.idle.pending.Add(1)
		c.idle.touch()
		return s
	case <-c.ctx.Done():
		return nil
	}
}

// dispatch runs the handler; a panic is a bug, never the client's fault to
// take the broker down for: log it and drop this connection. Dropping means
// cancelling it, not only leaving the read loop: the panicked request's
// slot is never answered, and a writer waiting on it would otherwise hold
// the connection (socket, goroutine, queued answers) until the broker
// stops.
func (c *conn) dispatch(api protocol.API, r *protocol.Request) (ok bool) {
	what := "handler api_key=" + strconv.Itoa(int(r.Header.Key)) + " api_version=" + strconv.Itoa(int(r.Header.Version))
	if safe.Run(c.log, what, func() {
		if testHandlerHook != nil && testHandlerHook(c.b, c.ctx, r) {
			return
		}
		api.Handle(c.ctx, r)
	}) {
		c.abort("handler panicked")
		return false
	}
	return true
}

// abort closes the connection now, unanswered requests and all.
func (c *conn) abort(reason string) {
	c.log.Warn().Msg("closing connection: " + reason)
	c.cancel()
}

// requestGoroutine runs fn, work a handler carries on after returning
// (an acks=-1 wait, a parked fetch), as a goroutine Close waits for. A
// panic in fn closes the request's connection: its answer will never come.
func (b *Broker) requestGoroutine(ctx context.Context, what string, fn func()) {
	safe.Go(&b.wg, b.log, what, fn, func() {
		if c, ok := ctx.Value(connKey{}).(*conn); ok {
			c.abort(what + " panicked")
		}
	})
}

// progressReader bounds how long a partially received frame may stall:
// once a frame's size header is in (arm), every read of its body must make
// progress within timeout, or the read fails and the connection closes.
// Without it a client could send headers declaring large frames and then
// nothing, pinning a connection and its buffer for good. Between frames
// it sets no deadline: an idle connection is connections.max.idle.ms's
// business, not this reader's.
type progressReader struct {
	nc      net.Conn
	timeout time.Duration
	armed   bool
}

func (p *progressReader) arm() { p.armed = p.timeout > 0 }

func (p *progressReader) disarm() {
	if p.armed {
		p.armed = false
		_ = p.nc.SetReadDeadline(time.Time{})
	}
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.armed {
		_ = p.nc.SetReadDeadline(time.Now().Add(p.timeout))
	}
	return p.nc.Read(b)
}

// write sends answers in request order. It flushes whenever it would
// otherwise wait, so pipelined answers share syscalls and none is held back.
func (c *conn) write() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	for {
		var s *slot
		var ok bool
		select {
		case s, ok = <-c.queue:
		default:
			if bw.Flush() != nil {
				return
			}
			s, ok = <-c.queue
		}
		if !ok {
			_ = bw.Flush()
			return
		}
		select {
		case <-s.done:
		default:
			if bw.Flush() != nil {
				return
			}
			select {
			case <-s.done:
			case <-c.ctx.Done():
				return
			}
		}
		c.idle.pending.Add(-1)
		c.idle.touch()
		switch {
		case s.raw != nil:
			buf = appendRawToken(buf[:0], s.raw)
		case s.resp == nil:
			continue // acks=0 produce: no answer
		default:
			buf = protocol.AppendResponse(buf[:0], s.h, s.resp)
		}
		if _, err := bw.Write(buf); err != nil {
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin one huge fetch answer's buffer
		}
	}
}
