package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func TestUserScramCredentialsAPIs(t *testing.T) {
	tb, saslAddr := startSASLBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := tb.client(t)
	adm := kadm.NewClient(cl)

	login := func(user, pass string) error {
		c := (&testBroker{Broker: tb.Broker, addr: saslAddr}).client(t,
			kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()), kgo.RequestRetries(0))
		defer c.Close()
		return c.Ping(ctx)
	}
	require.Error(t, login("bob", "bob-secret"))

	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-secret"}})
	require.NoError(t, err)
	require.NoError(t, altered["bob"].Err)
	require.Eventually(t, func() bool { return login("bob", "bob-secret") == nil }, 10*time.Second, 50*time.Millisecond)

	described, err := adm.DescribeUserSCRAMs(ctx)
	require.NoError(t, err)
	assert.Equal(t, []kadm.CredInfo{{Mechanism: kadm.ScramSha512, Iterations: 8192}}, described["bob"].CredInfos)
	assert.Equal(t, []kadm.CredInfo{{Mechanism: kadm.ScramSha256, Iterations: 4096}, {Mechanism: kadm.ScramSha512, Iterations: 4096}}, described["alice"].CredInfos)

	t.Run("errors", func(t *testing.T) {
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		up := func(name string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
			u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
			u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, mech, iters, []byte("salt"), make([]byte, 32)
			return u
		}
		del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		del.Name, del.Mechanism = "nobody", 1
		req.Deletions = append(req.Deletions, del)
		req.Upsertions = append(req.Upsertions, up("few", 1, 100), up("many", 2, 16385), up("unknown-mech", 0, 4096), up("", 1, 4096),
			up("twice", 1, 4096), up("twice", 2, 4096))
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		got := map[string]int16{}
		for _, r := range resp.Results {
			got[r.User] = r.ErrorCode
		}
		assert.Equal(t, map[string]int16{
			"nobody":       kerr.ResourceNotFound.Code,
			"few":          kerr.UnacceptableCredential.Code,
			"many":         kerr.UnacceptableCredential.Code,
			"unknown-mech": kerr.UnsupportedSaslMechanism.Code,
			"":             kerr.UnacceptableCredential.Code,
			"twice":        kerr.DuplicateResource.Code,
		}, got)

		d, err := adm.DescribeUserSCRAMs(ctx, "nobody")
		require.NoError(t, err)
		assert.True(t, errors.Is(d["nobody"].Err, kerr.ResourceNotFound), "got %v", d["nobody"].Err)
	})

	t.Run("deleted credential stops working", func(t *testing.T) {
		altered, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
		require.NoError(t, err)
		require.NoError(t, altered["bob"].Err)
		require.Eventually(t, func() bool { return errors.Is(login("bob", "bob-secret"), kerr.SaslAuthenticationFailed) }, 10*time.Second, 50*time.Millisecond)
	})
}
