package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kfsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/sasl"
)

// startSASLBroker runs a broker with a PLAINTEXT and a SASL_PLAINTEXT
// listener and alice's SCRAM credentials in etcd; it returns the SASL
// listener's address.
func startSASLBroker(t *testing.T, edit ...func(*Config)) (*testBroker, string) {
	t.Helper()
	tb := startTestBroker(t, append([]func(*Config){func(c *Config) {
		c.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1"}, {Name: "SASL_PLAINTEXT", Host: "127.0.0.1"}}
		c.SASL = map[string]SASLListener{"SASL_PLAINTEXT": {
			Mechanisms: []string{sasl.ScramSHA512, sasl.ScramSHA256, sasl.Plain},
			PlainUsers: map[string]string{"carol": "carol-secret"},
		}}
	}}, edit...)...)
	for _, mech := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
		c := sasl.NewCredential(mech, "alice-secret", nil, sasl.DefaultIterations)
		_, err := tb.store.PutScramCredential(context.Background(), "alice", mech,
			metastore.ScramCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, false)
		require.NoError(t, err)
	}
	return tb, tb.Addrs()[1]
}

func TestSASLClientsProduceAndConsume(t *testing.T) {
	tb, saslAddr := startSASLBroker(t)
	cases := []struct {
		name string
		mech kfsasl.Mechanism
	}{
		{"SCRAM-SHA-256", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()},
		{"SCRAM-SHA-512", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()},
		{"PLAIN with a SCRAM credential", plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()},
		{"PLAIN with a JAAS user", plain.Auth{User: "carol", Pass: "carol-secret"}.AsMechanism()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := "sasl-" + strings.ReplaceAll(tc.name, " ", "-")
			cl := (&testBroker{Broker: tb.Broker, addr: saslAddr}).client(t, kgo.SASL(tc.mech),
				kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics(topic))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, cl.ProduceSync(ctx, kgo.StringRecord("hello "+tc.name)).FirstErr())
			fs := cl.PollFetches(ctx)
			require.NoError(t, fs.Err())
			require.Equal(t, 1, fs.NumRecords())
			assert.Equal(t, "hello "+tc.name, string(fs.Records()[0].Value))

			// Metadata names the SASL listener's port, not the PLAINTEXT one.
			md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			require.NoError(t, err)
			require.Len(t, md.Brokers, 1)
			assert.Equal(t, saslAddr, brokerAddr(md.Brokers[0]))
		})
	}
}

func brokerAddr(b kmsg.MetadataResponseBroker) string {
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

func TestSASLFailuresClose(t *testing.T) {
	tb, saslAddr := startSASLBroker(t)
	bad := []struct {
		name string
		mech kfsasl.Mechanism
	}{
		{"wrong SCRAM password", scram.Auth{User: "alice", Pass: "wrong"}.AsSha256Mechanism()},
		{"unknown SCRAM user", scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism()},
		{"wrong PLAIN password", plain.Auth{User: "carol", Pass: "wrong"}.AsMechanism()},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cl := (&testBroker{Broker: tb.Broker, addr: saslAddr}).client(t, kgo.SASL(tc.mech), kgo.RequestRetries(0))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := cl.Ping(ctx)
			require.Error(t, err)
			assert.True(t, errors.Is(err, kerr.SaslAuthenticationFailed), "got %v", err)
		})
	}

	t.Run("requests before authentication close the connection", func(t *testing.T) {
		nc := dial(t, saslAddr)
		// ApiVersions is allowed and advertises the SASL keys.
		body := rawRequest(t, nc, kmsg.NewPtrApiVersionsRequest(), 1)
		av := kmsg.NewPtrApiVersionsResponse()
		require.NoError(t, av.ReadFrom(body))
		var keys []int16
		for _, k := range av.ApiKeys {
			keys = append(keys, k.ApiKey)
		}
		assert.Contains(t, keys, int16(kmsg.SASLHandshake))
		assert.Contains(t, keys, int16(kmsg.SASLAuthenticate))
		_, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 2))
		require.NoError(t, err)
		requireClosed(t, nc)
	})

	t.Run("SaslAuthenticate before the handshake closes", func(t *testing.T) {
		nc := dial(t, saslAddr)
		_, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrSASLAuthenticateRequest(), 1))
		require.NoError(t, err)
		requireClosed(t, nc)
	})

	t.Run("disabled mechanism answers UNSUPPORTED_SASL_MECHANISM and closes", func(t *testing.T) {
		nc := dial(t, saslAddr)
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, "GSSAPI"
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = 1
		require.NoError(t, resp.ReadFrom(rawRequest(t, nc, req, 1)))
		assert.Equal(t, kerr.UnsupportedSaslMechanism.Code, resp.ErrorCode)
		assert.Equal(t, []string{sasl.ScramSHA512, sasl.ScramSHA256, sasl.Plain}, resp.SupportedMechanisms)
		requireClosed(t, nc)
	})

	t.Run("failed SaslAuthenticate answers, then closes", func(t *testing.T) {
		nc := dial(t, saslAddr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, sasl.Plain
		rawRequest(t, nc, hs, 1)
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version, auth.SASLAuthBytes = 1, []byte("\x00carol\x00nope")
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = 1
		require.NoError(t, resp.ReadFrom(rawRequest(t, nc, auth, 2)))
		assert.Equal(t, kerr.SaslAuthenticationFailed.Code, resp.ErrorCode)
		require.NotNil(t, resp.ErrorMessage)
		assert.Equal(t, "Authentication failed: Invalid username or password", *resp.ErrorMessage)
		requireClosed(t, nc)
	})

	t.Run("v0 handshake with raw tokens", func(t *testing.T) {
		nc := dial(t, saslAddr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Mechanism = sasl.Plain
		resp := kmsg.NewPtrSASLHandshakeResponse()
		require.NoError(t, resp.ReadFrom(rawRequest(t, nc, hs, 1)))
		require.Equal(t, int16(0), resp.ErrorCode)
		_, err := nc.Write(sized([]byte("\x00carol\x00carol-secret")))
		require.NoError(t, err)
		var size [4]byte
		_, err = io.ReadFull(nc, size[:])
		require.NoError(t, err)
		assert.Equal(t, uint32(0), binary.BigEndian.Uint32(size[:]), "PLAIN answers an empty token")
		md := kmsg.NewPtrMetadataResponse()
		require.NoError(t, md.ReadFrom(rawRequest(t, nc, kmsg.NewPtrMetadataRequest(), 2)))
		assert.NotEmpty(t, md.Brokers)
	})

	t.Run("PLAINTEXT listener answers ILLEGAL_SASL_STATE", func(t *testing.T) {
		nc := dial(t, tb.addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, sasl.Plain
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = 1
		require.NoError(t, resp.ReadFrom(rawRequest(t, nc, hs, 1)))
		assert.Equal(t, kerr.IllegalSaslState.Code, resp.ErrorCode)
	})
}

// plainLogin authenticates nc with a v1 handshake and SaslAuthenticate.
func plainLogin(t *testing.T, nc net.Conn, corr int32, mech, user, pass string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	hsResp.Version = 1
	require.NoError(t, hsResp.ReadFrom(rawRequest(t, nc, hs, corr)))
	require.Equal(t, int16(0), hsResp.ErrorCode)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.Version, auth.SASLAuthBytes = 1, []byte("\x00"+user+"\x00"+pass)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = 1
	require.NoError(t, resp.ReadFrom(rawRequest(t, nc, auth, corr+1)))
	return resp
}

func TestSASLReauthentication(t *testing.T) {
	const lifetime = 1500 * time.Millisecond
	tb, saslAddr := startSASLBroker(t, func(c *Config) { c.ConnectionsMaxReauth = lifetime })

	t.Run("franz-go re-authenticates and keeps producing", func(t *testing.T) {
		cl := (&testBroker{Broker: tb.Broker, addr: saslAddr}).client(t,
			kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()),
			kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
		deadline := time.Now().Add(3 * lifetime)
		for n := 0; time.Now().Before(deadline); n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			require.NoError(t, cl.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(n))).FirstErr(), "record %d", n)
			cancel()
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("session lifetime, re-authentication, expiry", func(t *testing.T) {
		nc := dial(t, saslAddr)
		resp := plainLogin(t, nc, 1, sasl.Plain, "carol", "carol-secret")
		require.Equal(t, int16(0), resp.ErrorCode)
		assert.Equal(t, lifetime.Milliseconds(), resp.SessionLifetimeMillis)
		// Re-authenticating renews the session.
		resp = plainLogin(t, nc, 3, sasl.Plain, "carol", "carol-secret")
		require.Equal(t, int16(0), resp.ErrorCode)
		rawRequest(t, nc, kmsg.NewPtrMetadataRequest(), 5)
		// A request after the session ended closes the connection.
		time.Sleep(lifetime + 100*time.Millisecond)
		_, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 6))
		require.NoError(t, err)
		requireClosed(t, nc)
	})

	for _, tc := range []struct {
		name, mech, user, pass, msg string
	}{
		{"another principal", sasl.Plain, "alice", "alice-secret", "Cannot change principals during re-authentication from User:carol: User:alice"},
		{"another mechanism", sasl.ScramSHA256, "carol", "carol-secret", "SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for re-authentication of mechanism 'PLAIN'"},
	} {
		t.Run("re-authentication with "+tc.name+" fails", func(t *testing.T) {
			nc := dial(t, saslAddr)
			require.Equal(t, int16(0), plainLogin(t, nc, 1, sasl.Plain, "carol", "carol-secret").ErrorCode)
			resp := plainLogin(t, nc, 3, tc.mech, tc.user, tc.pass)
			assert.Equal(t, kerr.SaslAuthenticationFailed.Code, resp.ErrorCode)
			require.NotNil(t, resp.ErrorMessage)
			assert.Equal(t, tc.msg, *resp.ErrorMessage)
			requireClosed(t, nc)
		})
	}
}
