package broker

// SASL authentication on SASL_PLAINTEXT listeners: the per-connection
// state machine, as Kafka's SaslServerAuthenticator runs it.
//
//	start ──ApiVersions──▶ start
//	start ──SaslHandshake v0/v1 (enabled mechanism)──▶ authenticating
//	authenticating ──SaslAuthenticate (v1 handshake) or raw token (v0)──▶ … ──▶ authenticated
//
// Before authentication every other request closes the connection
// ("Unexpected Kafka request of type … during SASL handshake"); a failed
// exchange answers SASL_AUTHENTICATION_FAILED (SaslAuthenticate) and closes
// after the answer, a v0 raw exchange just closes, as Kafka does. The
// handlers run on the connection's read goroutine (answerNow), so the state
// needs no lock: the next request is not read before the previous one
// changed it.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/sasl"
)

// saslMaxReceive bounds frames before authentication: Kafka's
// sasl.server.max.receive.size default.
const saslMaxReceive = 524288

// SASLListener is a SASL_PLAINTEXT listener's settings.
type SASLListener struct {
	// Mechanisms are the enabled mechanisms (sasl.enabled.mechanisms or
	// listener.name.<l>.sasl.enabled.mechanisms), in the order the
	// handshake answer lists them.
	Mechanisms []string
	// PlainUsers are the user_<name>="password" entries of
	// listener.name.<l>.plain.sasl.jaas.config.
	PlainUsers map[string]string
}

type saslPhase int

const (
	saslStart saslPhase = iota
	saslAuthenticating
	saslDone
	saslFailed
)

// saslConn is one connection's authentication state; nil on listeners
// that do not authenticate.
type saslConn struct {
	cfg       SASLListener
	phase     saslPhase
	raw       bool // v0 handshake: tokens come as bare size-prefixed frames
	mechanism string
	server    sasl.Server
	principal string

	// KIP-368: with connections.max.reauth.ms (reauth > 0) a session ends
	// at expires; the client re-authenticates on the same connection
	// (same mechanism, same principal) or is closed at its next request.
	reauth       time.Duration
	expires      time.Time
	reauthing    bool
	badMechanism string // a re-authentication asked for another mechanism
}

type saslKey struct{}

func saslFrom(ctx context.Context) *saslConn {
	s, _ := ctx.Value(saslKey{}).(*saslConn)
	return s
}

// listenerSASL returns a fresh authentication state for a connection on
// listener, or nil when listener does not authenticate.
func (b *Broker) listenerSASL(listener string) *saslConn {
	if cfg, ok := b.cfg.SASL[listener]; ok {
		return &saslConn{cfg: cfg, reauth: b.cfg.ConnectionsMaxReauth}
	}
	return nil
}

// admits reports whether a request of key may be served in the current
// phase; false closes the connection.
func (s *saslConn) admits(key int16) bool {
	switch s.phase {
	case saslDone:
		return s.expires.IsZero() || time.Now().Before(s.expires)
	case saslStart:
		return key == int16(kmsg.ApiVersions) || key == int16(kmsg.SASLHandshake)
	case saslAuthenticating:
		return !s.raw && key == int16(kmsg.SASLAuthenticate)
	}
	return false
}

// maxFrame is the largest frame accepted in the current phase.
func (s *saslConn) maxFrame(configured int32) int32 {
	if s == nil || s.phase == saslDone {
		return configured
	}
	return min(configured, saslMaxReceive)
}

// saslCredentials looks credentials up in the metadata store's cache and
// the listener's JAAS users.
type saslCredentials struct {
	store *metastore.Store
	plain map[string]string
}

func (c saslCredentials) ScramCredential(user, mech string) (sasl.Credential, bool) {
	sc, ok := c.store.ScramCredential(user, mech)
	if !ok {
		return sasl.Credential{}, false
	}
	return sasl.Credential{Salt: sc.Salt, Iterations: sc.Iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, true
}

func (c saslCredentials) PlainPassword(user string) (string, bool) {
	p, ok := c.plain[user]
	return p, ok
}

// handshake starts mechanism; false means it is not enabled.
func (b *Broker) saslHandshake(s *saslConn, mechanism string, version int16) bool {
	if s.phase == saslDone {
		// A re-authentication: Kafka answers the handshake and fails the
		// SaslAuthenticate that follows if the mechanism changed.
		s.reauthing = true
		if mechanism != s.mechanism {
			s.badMechanism = mechanism
			s.phase = saslAuthenticating
			return true
		}
	}
	if !slices.Contains(s.cfg.Mechanisms, mechanism) {
		s.phase = saslFailed
		return false
	}
	srv, err := sasl.NewServer(mechanism, saslCredentials{store: b.store, plain: s.cfg.PlainUsers})
	if err != nil {
		s.phase = saslFailed
		return false
	}
	s.server, s.mechanism, s.raw, s.phase = srv, mechanism, version == 0, saslAuthenticating
	return true
}

// saslStep feeds one client token; a non-empty message is the failure to
// tell the client (Kafka's wording).
func (s *saslConn) step(token []byte) (answer []byte, failure string) {
	if s.badMechanism != "" {
		s.phase = saslFailed
		return nil, fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", s.badMechanism, s.mechanism)
	}
	answer, done, err := s.server.Step(token)
	if err != nil {
		s.phase = saslFailed
		var ae *sasl.ErrAuthentication
		if errors.As(err, &ae) {
			return nil, ae.Msg
		}
		return nil, "Authentication failed during authentication due to invalid credentials with SASL mechanism " + s.mechanism
	}
	if done {
		if p := s.server.Principal(); s.reauthing && p != s.principal {
			s.phase = saslFailed
			return nil, fmt.Sprintf("Cannot change principals during re-authentication from User:%s: User:%s", s.principal, p)
		}
		s.phase = saslDone
		s.principal = s.server.Principal()
		s.server, s.reauthing = nil, false
		if s.reauth > 0 {
			s.expires = time.Now().Add(s.reauth)
		}
	}
	return answer, ""
}

// readRawToken reads one v0 SASL token: a size-prefixed frame with no
// Kafka header.
func readRawToken(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > saslMaxReceive {
		return nil, fmt.Errorf("broker: SASL token of %d bytes exceeds %d", n, saslMaxReceive)
	}
	tok := make([]byte, n)
	if _, err := io.ReadFull(r, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// saslLogSampler rate-limits the warnings a client can trigger in a loop
// by failing authentication.
var saslLogSampler = &zerolog.BurstSampler{Burst: 10, Period: time.Second}

// rawSASLToken serves one token of a v0 (headerless) exchange. A failure
// closes the connection without an answer, as Kafka does.
func (c *conn) rawSASLToken(br io.Reader) bool {
	tok, err := readRawToken(br)
	if err != nil {
		if !errors.Is(err, io.EOF) && c.ctx.Err() == nil {
			c.saslWarn().Err(err).Msg("closing connection: bad SASL token")
		}
		return false
	}
	answer, failure := c.sasl.step(tok)
	if failure != "" {
		c.saslFailed()
		return false
	}
	s := c.enqueue(protocol.Header{})
	if s == nil {
		return false
	}
	if answer == nil {
		answer = []byte{}
	}
	s.raw = answer
	close(s.done)
	return true
}

func (c *conn) saslFailed() {
	c.saslWarn().Str("mechanism", c.sasl.mechanism).
		Msg("closing connection: SASL authentication failed")
}

func appendRawToken(buf, tok []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(tok)))
	return append(buf, tok...)
}

// saslWarn starts a rate-limited warning about an authentication problem.
func (c *conn) saslWarn() *zerolog.Event {
	l := c.log.Sample(saslLogSampler)
	return l.Warn()
}
