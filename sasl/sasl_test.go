package sasl

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kfsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type fakeCreds struct {
	scram map[string]Credential // user + "/" + mechanism
	plain map[string]string
}

func (f fakeCreds) ScramCredential(user, mech string) (Credential, bool) {
	c, ok := f.scram[user+"/"+mech]
	return c, ok
}

func (f fakeCreds) PlainPassword(user string) (string, bool) {
	p, ok := f.plain[user]
	return p, ok
}

// exchange drives a franz-go client mechanism against a Server until
// either side finishes or fails.
func exchange(t *testing.T, mech kfsasl.Mechanism, creds Credentials) (string, error) {
	t.Helper()
	srv, err := NewServer(mech.Name(), creds)
	require.NoError(t, err)
	sess, token, err := mech.Authenticate(context.Background(), "host:9092")
	require.NoError(t, err)
	for range 5 {
		answer, done, err := srv.Step(token)
		if err != nil {
			return "", err
		}
		clientDone, next, err := sess.Challenge(answer)
		require.NoError(t, err, "client refused the server's answer")
		if done {
			require.True(t, clientDone, "server finished before the client")
			return srv.Principal(), nil
		}
		token = next
	}
	t.Fatal("exchange did not finish")
	return "", nil
}

func TestMechanismsAgainstFranzGoClients(t *testing.T) {
	creds := fakeCreds{
		scram: map[string]Credential{
			"alice/" + ScramSHA256: NewCredential(ScramSHA256, "alice-secret", nil, 4096),
			"alice/" + ScramSHA512: NewCredential(ScramSHA512, "alice-secret", nil, 8192),
			"b,o=b/" + ScramSHA256: NewCredential(ScramSHA256, "pw", nil, 4096),
		},
		plain: map[string]string{"carol": "carol-secret"},
	}
	cases := []struct {
		name    string
		mech    kfsasl.Mechanism
		wantErr string
	}{
		{"scram-256 right password", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), ""},
		{"scram-512 right password", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), ""},
		{"scram escaped user name", scram.Auth{User: "b,o=b", Pass: "pw"}.AsSha256Mechanism(), ""},
		{"scram-256 wrong password", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), "Authentication failed: Invalid user credentials"},
		{"scram-512 unknown user", scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism(), "Authentication failed: Invalid user credentials"},
		{"scram authzid differs", scram.Auth{User: "alice", Pass: "alice-secret", Zid: "root"}.AsSha256Mechanism(), "authorization id"},
		{"scram delegation token", scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}.AsSha256Mechanism(), "Invalid user credentials"},
		{"plain jaas user", plain.Auth{User: "carol", Pass: "carol-secret"}.AsMechanism(), ""},
		{"plain scram user", plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), ""},
		{"plain authzid equal", plain.Auth{Zid: "alice", User: "alice", Pass: "alice-secret"}.AsMechanism(), ""},
		{"plain authzid differs", plain.Auth{Zid: "root", User: "alice", Pass: "alice-secret"}.AsMechanism(), "authorization id"},
		{"plain wrong password", plain.Auth{User: "carol", Pass: "nope"}.AsMechanism(), "Authentication failed: Invalid username or password"},
		{"plain unknown user", plain.Auth{User: "mallory", Pass: "x"}.AsMechanism(), "Authentication failed: Invalid username or password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, err := exchange(t, tc.mech, creds)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.NotEmpty(t, user)
				return
			}
			var ae *ErrAuthentication
			require.True(t, errors.As(err, &ae), "want an authentication failure, got %v", err)
			assert.Contains(t, ae.Msg, tc.wantErr)
		})
	}
}

func TestCredentialVerify(t *testing.T) {
	c := NewCredential(ScramSHA512, "secret", []byte("salt"), 4096)
	assert.True(t, c.Verify(ScramSHA512, "secret"))
	assert.False(t, c.Verify(ScramSHA512, "Secret"))
	assert.Equal(t, c, CredentialFromSalted(ScramSHA512, saltedPassword(ScramSHA512, "secret", []byte("salt"), 4096), []byte("salt"), 4096))
}

func FuzzScramServer(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("y,a=x,n==2C,r=q,tokenauth=true"), []byte(",p="))
	creds := fakeCreds{scram: map[string]Credential{"alice/" + ScramSHA256: NewCredential(ScramSHA256, "pw", []byte("s"), 4096)}}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s, _ := NewServer(ScramSHA256, creds)
		if _, _, err := s.Step(first); err == nil {
			_, done, _ := s.Step(final)
			assert.False(t, done, "random proof accepted")
		}
		p, _ := NewServer(Plain, creds)
		_, _, _ = p.Step(first)
	})
}
