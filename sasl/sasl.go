package sasl

import (
	"errors"
	"slices"
)

// Mechanism names, as Kafka spells them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	gssapi      = "GSSAPI"
	oauthBearer = "OAUTHBEARER"
)

// Supported lists the mechanisms kafkad implements.
var Supported = []string{Plain, ScramSHA256, ScramSHA512}

// IsSupported reports whether kafkad implements mech.
func IsSupported(mech string) bool { return slices.Contains(Supported, mech) }

// IsKnown reports whether mech is one Kafka itself implements (so a config
// naming it is valid Kafka, just not served by kafkad).
func IsKnown(mech string) bool {
	return IsSupported(mech) || mech == gssapi || mech == oauthBearer
}

// ErrAuthentication is a failed authentication; its message is what the
// client is told, as Kafka's SaslAuthenticationException.
type ErrAuthentication struct{ Msg string }

func (e *ErrAuthentication) Error() string { return e.Msg }

// ErrMalformed is a token that breaks the mechanism's grammar.
var ErrMalformed = errors.New("sasl: malformed token")

// Credentials looks up what authentication checks a user against.
type Credentials interface {
	// ScramCredential returns user's credential for a SCRAM mechanism.
	ScramCredential(user, mechanism string) (Credential, bool)
	// PlainPassword returns a password configured in a PLAIN JAAS line
	// (user_<name>="pw"), if any.
	PlainPassword(user string) (string, bool)
}

// Server is one authentication exchange on one connection.
type Server interface {
	// Step consumes the client's next token and returns the answer. done
	// says the exchange is over and succeeded. A failure returns an error
	// (an *ErrAuthentication for bad credentials).
	Step(token []byte) (answer []byte, done bool, err error)
	// Principal is the authenticated user, once done.
	Principal() string
}

// NewServer starts an exchange for mechanism, which must be supported.
func NewServer(mechanism string, creds Credentials) (Server, error) {
	switch mechanism {
	case Plain:
		return &plainServer{creds: creds}, nil
	case ScramSHA256, ScramSHA512:
		return &scramServer{mech: mechanism, creds: creds}, nil
	}
	return nil, errors.New("sasl: unsupported mechanism " + mechanism)
}
