package sasl

import (
	"bytes"
	"crypto/subtle"
	"strconv"
)

// plainServer checks "authzid\0user\0password" (RFC 4616). Like Kafka, the
// authorization id must be empty or the user itself.
type plainServer struct {
	creds Credentials
	user  string
}

var errPlainInvalid = &ErrAuthentication{Msg: "Authentication failed: Invalid username or password"}

func (s *plainServer) Step(token []byte) ([]byte, bool, error) {
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return nil, false, &ErrAuthentication{Msg: "Invalid SASL/PLAIN response: expected 3 tokens, got " + strconv.Itoa(len(parts))}
	}
	authz, user, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return nil, false, &ErrAuthentication{Msg: "Authentication failed: username not specified"}
	}
	if pw == "" {
		return nil, false, &ErrAuthentication{Msg: "Authentication failed: password not specified"}
	}
	if authz != "" && authz != user {
		return nil, false, &ErrAuthentication{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	if !s.check(user, pw) {
		return nil, false, errPlainInvalid
	}
	s.user = user
	return nil, true, nil
}

// check tries the JAAS-configured password, then the SCRAM credentials.
func (s *plainServer) check(user, pw string) bool {
	if want, ok := s.creds.PlainPassword(user); ok {
		return subtle.ConstantTimeCompare([]byte(want), []byte(pw)) == 1
	}
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		if c, ok := s.creds.ScramCredential(user, mech); ok {
			return c.Verify(mech, pw)
		}
	}
	return false
}

func (s *plainServer) Principal() string { return s.user }
