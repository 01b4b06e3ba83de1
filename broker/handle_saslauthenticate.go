package broker

// SaslAuthenticate, versions 0-2 (KIP-152).
//
// Carries one SASL token each way after a v1 SaslHandshake. A failure
// answers SASL_AUTHENTICATION_FAILED with Kafka's message and the
// connection closes after the answer. v1+ carries SessionLifetimeMs
// (KIP-368): connections.max.reauth.ms, or 0 when it is 0 (Kafka's
// default, sessions never expire). v2 is the flexible encoding. After authentication, or on a
// PLAINTEXT listener, the answer is ILLEGAL_SASL_STATE.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleSaslAuthenticate(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	s := saslFrom(ctx)
	if s == nil || s.phase != saslAuthenticating || s.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate request received after successful authentication"
		resp.ErrorMessage = &msg
		return resp
	}
	answer, failure := s.step(req.SASLAuthBytes)
	if failure != "" {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &failure
		return resp
	}
	if answer == nil {
		answer = []byte{}
	}
	resp.SASLAuthBytes = answer
	if s.phase == saslDone && !s.expires.IsZero() {
		resp.SessionLifetimeMillis = s.reauth.Milliseconds()
	}
	return resp
}
