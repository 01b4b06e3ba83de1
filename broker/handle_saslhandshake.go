package broker

// SaslHandshake, versions 0-1.
//
// Picks the mechanism of a SASL_PLAINTEXT connection. v0 (KIP-43) is
// followed by raw SASL tokens in bare size-prefixed frames; v1 (KIP-152)
// by SaslAuthenticate requests. A mechanism the listener does not enable
// gets UNSUPPORTED_SASL_MECHANISM with the enabled list and the connection
// closes. Once authenticated, a v1 handshake starts a KIP-368
// re-authentication when connections.max.reauth.ms is set; otherwise, and
// on PLAINTEXT listeners, the answer is ILLEGAL_SASL_STATE.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleSaslHandshake(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	s := saslFrom(ctx)
	if s == nil || !(s.phase == saslStart || s.phase == saslDone && s.reauth > 0 && req.Version > 0) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	}
	resp.SupportedMechanisms = s.cfg.Mechanisms
	if !b.saslHandshake(s, req.Mechanism, req.Version) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	}
	return resp
}
