package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSASLConfig(t *testing.T) {
	two := []string{"--listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"}
	tests := []struct {
		name string
		args []string
		want map[string]SASLListener
		err  string
	}{
		{"global mechanisms", append(two, "--sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"),
			map[string]SASLListener{"SASL_PLAINTEXT": {Mechanisms: []string{"SCRAM-SHA-512", "PLAIN"}}}, ""},
		{"per-listener mechanisms and PLAIN users", append(two,
			"--sasl.enabled.mechanisms=GSSAPI",
			"--listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
			`--listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a\"b";`),
			map[string]SASLListener{"SASL_PLAINTEXT": {Mechanisms: []string{"PLAIN"}, PlainUsers: map[string]string{"admin": "admin-secret", "alice": `a"b`}}}, ""},
		{"Kafka's default GSSAPI is refused", two, nil, "enables GSSAPI; kafkad supports"},
		{"OAUTHBEARER is refused", append(two, "--sasl.enabled.mechanisms=OAUTHBEARER"), nil, "enables OAUTHBEARER"},
		{"no mechanism", append(two, "--sasl.enabled.mechanisms="), nil, "enables no mechanism"},
		{"key for an unknown listener", append(two, "--listener.name.other.sasl.enabled.mechanisms=PLAIN"), nil, "not one of the listeners"},
		{"bad JAAS", append(two, "--sasl.enabled.mechanisms=PLAIN", `--listener.name.sasl_plaintext.plain.sasl.jaas.config=PlainLoginModule required user_a="x"`), nil, "end with ';'"},
		{"no SASL listener ignores GSSAPI", []string{"--sasl.enabled.mechanisms=GSSAPI"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.args, io.Discard)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg.SASL)
		})
	}
}

func TestAddScramFlag(t *testing.T) {
	cfg, err := loadConfig([]string{"--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]",
		`--add-scram=SCRAM-SHA-512=[name=alice,password="s3cret",iterations=8192,salt=c2FsdA==]`}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []ScramAdd{
		{Mechanism: "SCRAM-SHA-256", User: "admin", Password: "admin-secret", Iterations: 4096},
		{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "s3cret", Iterations: 8192, Salt: []byte("salt")},
	}, cfg.AddScram)

	for _, bad := range []string{"PLAIN=[name=a,password=b]", "SCRAM-SHA-256=[name=a]", "SCRAM-SHA-256=name=a,password=b",
		"SCRAM-SHA-256=[name=a,password=b,iterations=100]", "SCRAM-SHA-256=[name=a,password=b,color=red]"} {
		_, err := loadConfig([]string{"--add-scram", bad}, io.Discard)
		assert.Error(t, err, bad)
	}
}

func FuzzParseJAAS(f *testing.F) {
	f.Add(`x.PlainLoginModule required user_a="b" c=d;`)
	f.Add(`m optional k="unterminated;`)
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseJAAS(s) })
}

func TestConnectionsMaxReauthMs(t *testing.T) {
	cfg, err := loadConfig(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(0), cfg.ConnectionsMaxReauthMs, "Kafka's default")
	cfg, err = loadConfig([]string{"--connections.max.reauth.ms=3600000"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(3600000), cfg.ConnectionsMaxReauthMs)
	assert.Equal(t, time.Hour, brokerConfig(cfg).ConnectionsMaxReauth)
	_, err = loadConfig([]string{"--connections.max.reauth.ms=-1"}, io.Discard)
	assert.Error(t, err)
}

func TestInterBrokerListener(t *testing.T) {
	two := []string{"--listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0", "--sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"}
	scramJAAS := `--listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`
	tests := []struct {
		name string
		args []string
		want InterBrokerConfig
		err  string
	}{
		{"unset", two, InterBrokerConfig{}, ""},
		{"plaintext", append(two, "--inter.broker.listener.name=PLAINTEXT"), InterBrokerConfig{Listener: "PLAINTEXT"}, ""},
		{"sasl scram", append(two, "--inter.broker.listener.name=SASL_PLAINTEXT", "--sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", scramJAAS),
			InterBrokerConfig{Listener: "SASL_PLAINTEXT", Mechanism: "SCRAM-SHA-512", Username: "broker", Password: "broker-secret"}, ""},
		{"unknown listener", append(two, "--inter.broker.listener.name=OTHER"), InterBrokerConfig{}, "must be a listener name defined in advertised.listeners"},
		{"default GSSAPI not enabled", append(two, "--inter.broker.listener.name=SASL_PLAINTEXT", scramJAAS), InterBrokerConfig{}, "GSSAPI must be included"},
		{"no JAAS login", append(two, "--inter.broker.listener.name=SASL_PLAINTEXT", "--sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"), InterBrokerConfig{}, "scram-sha-512.sasl.jaas.config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.args, io.Discard)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg.InterBroker)
			assert.NotContains(t, cfg.Ignored, "inter.broker.listener.name")
		})
	}
}
