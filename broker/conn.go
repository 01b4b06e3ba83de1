package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime/debug"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

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
		log:    b.log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		queue:  make(chan *slot, maxInFlight),
		ctx:    ctx,
		cancel: cancel,
	}
	b.goroutine(func() {
		c.write()
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
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if c.sasl != nil && c.sasl.raw && c.sasl.phase == saslAuthenticating {
			if !c.rawSASLToken(br) {
				return
			}
			continue
		}
		frame, err := protocol.ReadFrame(br, c.sasl.maxFrame(c.b.cfg.SocketRequestMaxBytes))
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
		if s == nil {
			return
		}
		if !c.dispatch(api, protocol.NewRequest(h, req, func(resp kmsg.Response) {
			s.resp = resp
			close(s.done)
		})) {
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
		return s
	case <-c.ctx.Done():
		return nil
	}
}

// dispatch runs the handler; a panic is a bug, never the client's fault to
// take the broker down for: log it and drop this connection.
func (c *conn) dispatch(api protocol.API, r *protocol.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error().Interface("panic", v).Int16("api_key", r.Header.Key).
				Int16("api_version", r.Header.Version).Bytes("stack", debug.Stack()).
				Msg("closing connection: handler panicked")
			ok = false
		}
	}()
	api.Handle(c.ctx, r)
	return true
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
