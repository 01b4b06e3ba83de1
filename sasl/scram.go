package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Iteration bounds: Kafka's ScramMechanism minimum (4096 for both SHA-256
// and SHA-512) and AlterUserScramCredentials' maximum.
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = 4096
)

// Credential is a stored SCRAM credential (RFC 5802 section 3).
type Credential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

func hashFor(mech string) func() hash.Hash {
	if mech == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func saltedPassword(mech, password string, salt []byte, iterations int) []byte {
	h := hashFor(mech)
	sp, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		// Only FIPS-only mode refuses; it allows every input here.
		panic(err)
	}
	return sp
}

// NewCredential derives mech's credential for password with salt (random
// when nil) and iterations.
func NewCredential(mech, password string, salt []byte, iterations int) Credential {
	if salt == nil {
		salt = make([]byte, 32)
		_, _ = rand.Read(salt)
	}
	return credentialFromSalted(mech, saltedPassword(mech, password, salt, iterations), salt, iterations)
}

// CredentialFromSalted builds the credential from an already salted
// password, as AlterUserScramCredentials carries it.
func CredentialFromSalted(mech string, salted, salt []byte, iterations int) Credential {
	return credentialFromSalted(mech, salted, salt, iterations)
}

func credentialFromSalted(mech string, salted, salt []byte, iterations int) Credential {
	h := hashFor(mech)
	clientKey := hmacSum(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return Credential{
		Salt:       salt,
		Iterations: iterations,
		StoredKey:  sum.Sum(nil),
		ServerKey:  hmacSum(h, salted, "Server Key"),
	}
}

// Verify reports whether password derives this credential.
func (c Credential) Verify(mech, password string) bool {
	d := credentialFromSalted(mech, saltedPassword(mech, password, c.Salt, c.Iterations), c.Salt, c.Iterations)
	return subtle.ConstantTimeCompare(d.StoredKey, c.StoredKey) == 1
}

// scramServer runs the two round trips of RFC 5802: client-first →
// server-first, client-final → server-final.
type scramServer struct {
	mech  string
	creds Credentials
	step  int

	user            string
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
	cred            Credential
}

var errScramInvalid = &ErrAuthentication{Msg: "Authentication failed: Invalid user credentials"}

func (s *scramServer) Step(token []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		return s.clientFirst(string(token))
	case 2:
		return s.clientFinal(string(token))
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", ErrMalformed)
}

func (s *scramServer) Principal() string { return s.user }

func (s *scramServer) clientFirst(msg string) ([]byte, bool, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	i := strings.IndexByte(msg, ',')
	if i < 0 {
		return nil, false, fmt.Errorf("%w: invalid SCRAM client first message", ErrMalformed)
	}
	j := strings.IndexByte(msg[i+1:], ',')
	if j < 0 {
		return nil, false, fmt.Errorf("%w: invalid SCRAM client first message", ErrMalformed)
	}
	j += i + 1
	flag, authz := msg[:i], msg[i+1:j]
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return nil, false, &ErrAuthentication{Msg: "Authentication failed: channel binding is not supported"}
	default:
		return nil, false, fmt.Errorf("%w: invalid SCRAM gs2 header", ErrMalformed)
	}
	s.gs2Header = msg[:j+1]
	s.clientFirstBare = msg[j+1:]
	attrs := strings.Split(s.clientFirstBare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, fmt.Errorf("%w: invalid SCRAM client first message", ErrMalformed)
	}
	user, ok := decodeSaslName(attrs[0][2:])
	if !ok || user == "" {
		return nil, false, fmt.Errorf("%w: invalid SCRAM user name", ErrMalformed)
	}
	if authz != "" {
		az, ok := decodeSaslName(strings.TrimPrefix(authz, "a="))
		if !strings.HasPrefix(authz, "a=") || !ok || az != user {
			return nil, false, &ErrAuthentication{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
		}
	}
	// Kafka's extensions (attrs after the nonce) name delegation tokens
	// ("tokenauth=true"); kafkad has none, so a token login is refused.
	for _, ext := range attrs[2:] {
		if ext == "tokenauth=true" {
			return nil, false, errScramInvalid
		}
	}
	cnonce := attrs[1][2:]
	if cnonce == "" {
		return nil, false, fmt.Errorf("%w: empty SCRAM client nonce", ErrMalformed)
	}
	cred, ok := s.creds.ScramCredential(user, s.mech)
	if !ok {
		return nil, false, errScramInvalid
	}
	snonce := make([]byte, 24)
	_, _ = rand.Read(snonce)
	s.user, s.cred = user, cred
	s.nonce = cnonce + base64.RawURLEncoding.EncodeToString(snonce)
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return []byte(s.serverFirst), false, nil
}

func (s *scramServer) clientFinal(msg string) ([]byte, bool, error) {
	k := strings.LastIndex(msg, ",p=")
	if k < 0 {
		return nil, false, fmt.Errorf("%w: SCRAM client final message has no proof", ErrMalformed)
	}
	withoutProof := msg[:k]
	proof, err := base64.StdEncoding.DecodeString(msg[k+3:])
	if err != nil {
		return nil, false, fmt.Errorf("%w: SCRAM proof is not base64", ErrMalformed)
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, false, errScramInvalid
	}
	// Kafka checks only that the nonce ends with the server's: librdkafka
	// 2.0.2 (Debian's kcat) sends the client nonce twice; Kafka accepts it.
	if !strings.HasPrefix(attrs[1], "r=") || !strings.HasSuffix(attrs[1], s.nonce) {
		return nil, false, fmt.Errorf("%w: invalid client nonce in the final client message", ErrMalformed)
	}
	h := hashFor(s.mech)
	authMsg := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	sig := hmacSum(h, s.cred.StoredKey, authMsg)
	if len(proof) != len(sig) {
		return nil, false, errScramInvalid
	}
	clientKey := make([]byte, len(sig))
	for i := range sig {
		clientKey[i] = proof[i] ^ sig[i]
	}
	sum := h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), s.cred.StoredKey) != 1 {
		return nil, false, errScramInvalid
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(h, s.cred.ServerKey, authMsg))), true, nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(n string) (string, bool) {
	if !strings.Contains(n, "=") {
		return n, true
	}
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		if n[i] != '=' {
			b.WriteByte(n[i])
			continue
		}
		switch {
		case strings.HasPrefix(n[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(n[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
