package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kfsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSASLPlaintextListener runs kafkad with a PLAINTEXT and a
// SASL_PLAINTEXT listener: admin bootstrapped with --add-scram, alice added
// with kafka-configs.sh over SASL as admin, carol a PLAIN user of the
// listener's JAAS line. franz-go, kcat and the Java console tools then
// produce and consume as them, and wrong passwords are refused.
func TestSASLPlaintextListener(t *testing.T) {
	saslAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startKafkad(t, brokerOpts{
		moreListeners: []string{"SASL_PLAINTEXT://" + saslAddr},
		extra: []string{
			"--sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
			`--listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_carol="carol-secret";`,
			"--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]",
			"--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]",
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	props := func(name, mech, user, pass string) string {
		module := "org.apache.kafka.common.security.scram.ScramLoginModule"
		if mech == "PLAIN" {
			module = "org.apache.kafka.common.security.plain.PlainLoginModule"
		}
		path := filepath.Join(dir, name+".properties")
		require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=%s\n"+
			"sasl.jaas.config=%s required username=\"%s\" password=\"%s\";\nrequest.timeout.ms=10000\ndefault.api.timeout.ms=20000\n",
			mech, module, user, pass)), 0o644))
		return path
	}
	saslClient := func(t *testing.T, mech kfsasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(saslAddr), kgo.SASL(mech)}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(cl.Close)
		return cl
	}

	// kafka-configs.sh, authenticated as the --add-scram admin.
	adminProps := props("admin", "SCRAM-SHA-256", "admin", "admin-secret")
	out := javaRun(t, "", nil, javaKafkaPinned.configCommand, "--bootstrap-server", saslAddr, "--command-config", adminProps,
		"--alter", "--entity-type", "users", "--entity-name", "alice", "--add-config", "SCRAM-SHA-512=[password=alice-secret]")
	assert.Contains(t, out, "Completed updating config for user alice.")
	out = javaRun(t, "", nil, javaKafkaPinned.configCommand, "--bootstrap-server", saslAddr, "--command-config", adminProps,
		"--describe", "--entity-type", "users")
	assert.Contains(t, out, "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-512=iterations=4096")
	assert.Contains(t, out, "SCRAM credential configs for user-principal 'admin' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192")

	for _, tc := range []struct {
		name string
		mech kfsasl.Mechanism
	}{
		{"SCRAM-SHA-256", scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism()},
		{"SCRAM-SHA-512", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()},
		{"PLAIN", plain.Auth{User: "carol", Pass: "carol-secret"}.AsMechanism()},
	} {
		t.Run("franz-go "+tc.name, func(t *testing.T) {
			topic := "sasl-franz-" + tc.name
			cl := saslClient(t, tc.mech, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			require.NoError(t, cl.ProduceSync(ctx, kgo.StringRecord("v-"+tc.name)).FirstErr())
			fs := cl.PollFetches(ctx)
			require.NoError(t, fs.Err())
			require.Equal(t, 1, fs.NumRecords())
			assert.Equal(t, "v-"+tc.name, string(fs.Records()[0].Value))
		})
	}

	t.Run("wrong passwords are refused", func(t *testing.T) {
		for _, mech := range []kfsasl.Mechanism{
			scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(),
			scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), // no SHA-256 credential
			plain.Auth{User: "carol", Pass: "nope"}.AsMechanism(),
		} {
			err := saslClient(t, mech, kgo.RequestRetries(0)).Ping(ctx)
			assert.ErrorIs(t, err, kerr.SaslAuthenticationFailed, mech.Name())
		}
	})

	t.Run("kcat SCRAM-SHA-512", func(t *testing.T) {
		kcat := func(stdin string, args ...string) string {
			return runTool(t, 60*time.Second, stdin, nil, "kcat", append([]string{"-b", saslAddr,
				"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
				"-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"}, args...)...)
		}
		kcat("one\ntwo\nthree\n", "-P", "-t", "sasl-kcat")
		out := kcat("", "-C", "-t", "sasl-kcat", "-o", "beginning", "-c", "3", "-e")
		assert.Equal(t, "one\ntwo\nthree\n", out)
	})

	t.Run("java console producer and consumer PLAIN", func(t *testing.T) {
		carol := props("carol", "PLAIN", "carol", "carol-secret")
		javaRun(t, "a\nb\nc\n", nil, javaConsoleProducer, "--bootstrap-server", saslAddr, "--topic", "sasl-java",
			"--command-config", carol)
		out := javaRun(t, "", nil, javaConsoleConsumer, "--bootstrap-server", saslAddr, "--topic", "sasl-java",
			"--command-config", carol, "--from-beginning", "--max-messages", "3", "--timeout-ms", "30000")
		assert.Equal(t, "a\nb\nc\n", out)
	})
}

// TestSASLInterBroker runs two brokers that replicate over their
// SASL_PLAINTEXT listener (inter.broker.listener.name), logging in with
// SCRAM-SHA-512 as a user bootstrapped by --add-scram: acks=all produce
// with min.insync.replicas=2 completes only if the follower's fetcher
// authenticated.
func TestSASLInterBroker(t *testing.T) {
	var saslAddrs []string
	c := startClusterWith(t, 2, func(o *brokerOpts) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		saslAddrs = append(saslAddrs, addr)
		o.moreListeners = append(o.moreListeners, "SASL_PLAINTEXT://"+addr)
		o.extra = append(o.extra,
			"--sasl.enabled.mechanisms=SCRAM-SHA-512",
			"--inter.broker.listener.name=SASL_PLAINTEXT",
			"--sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
			`--listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`,
			"--add-scram", "SCRAM-SHA-512=[name=broker,password=broker-secret]",
			"--min.insync.replicas=2")
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddrs...),
		kgo.SASL(scram.Auth{User: "broker", Pass: "broker-secret"}.AsSha512Mechanism()),
		kgo.DefaultProduceTopic("sasl-replicated"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeTopics("sasl-replicated"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 2, 2, nil, "sasl-replicated")
	require.NoError(t, err)
	const n = 50
	for i := 0; i < n; i++ {
		require.NoError(t, cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(), "record %d", i)
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, fs.Err())
		got += fs.NumRecords()
	}
	assert.Equal(t, n, got)
	v := viewOf(t, c.brokers[0], "sasl-replicated")
	for p, d := range v.partitions {
		assert.ElementsMatch(t, []int32{1, 2}, d.ISR, "partition %d", p)
	}
}
