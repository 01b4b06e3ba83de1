package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeProps writes a properties file into the test's temp dir.
func writeProps(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.properties")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	var help bytes.Buffer
	return loadConfig(args, &help)
}

func mustLoad(t *testing.T, args ...string) Config {
	t.Helper()
	cfg, err := load(t, args...)
	require.NoError(t, err)
	return cfg
}

func TestLoadConfigDefaults(t *testing.T) {
	c := mustLoad(t)
	assert.Equal(t, int32(1), c.BrokerID)
	assert.Empty(t, c.Rack)
	assert.Equal(t, []Listener{{Name: "PLAINTEXT", Host: "", Port: 9092}}, c.Listeners)
	assert.Equal(t, c.Listeners, c.AdvertisedListeners)
	assert.Equal(t, []string{"/tmp/kafka-logs"}, c.LogDirs)
	assert.Equal(t, int32(1), c.NumPartitions)
	assert.Equal(t, int16(1), c.DefaultReplicationFactor)
	assert.True(t, c.AutoCreateTopicsEnable)
	assert.True(t, c.DeleteTopicEnable)
	assert.Equal(t, int32(1), c.MinInsyncReplicas)
	assert.Equal(t, int32(1073741824), c.LogSegmentBytes)
	assert.Equal(t, int64(168*3600*1000), c.LogRollMs)
	assert.Equal(t, int64(168*3600*1000), c.LogRetentionMs)
	assert.Equal(t, int64(-1), c.LogRetentionBytes)
	assert.Equal(t, 5*time.Minute, c.LogRetentionCheckInterval)
	assert.Equal(t, int64(math.MaxInt64), c.LogFlushIntervalMessages)
	assert.Equal(t, int64(math.MaxInt64), c.LogFlushIntervalMs)
	assert.Equal(t, int32(4096), c.LogIndexIntervalBytes)
	assert.Equal(t, int32(10485760), c.LogIndexSizeMaxBytes)
	assert.Equal(t, "CreateTime", c.LogMessageTimestampType)
	assert.Equal(t, "delete", c.LogCleanupPolicy)
	assert.Equal(t, "producer", c.CompressionType)
	assert.Equal(t, int64(60000), c.LogSegmentDeleteDelayMs)
	assert.Equal(t, int32(1048588), c.MessageMaxBytes)
	assert.Equal(t, int32(104857600), c.SocketRequestMaxBytes)
	assert.Empty(t, c.EtcdEndpoints)
	assert.Equal(t, "http://127.0.0.1:2379", c.EtcdEmbeddedClientURL)
	assert.Equal(t, "http://127.0.0.1:2380", c.EtcdEmbeddedPeerURL)
	assert.Equal(t, "/kafkad/", c.EtcdPrefix)
	assert.Equal(t, 9*time.Second, c.BrokerSessionTimeout)
	assert.Empty(t, c.Static)
	assert.Empty(t, c.Ignored)
	assert.Empty(t, c.Warnings)
}

func TestParseProperties(t *testing.T) {
	type kv = [2]string
	tests := []struct {
		name string
		in   string
		want []kv
	}{
		{"equals", "a=b", []kv{{"a", "b"}}},
		{"colon", "a:b", []kv{{"a", "b"}}},
		{"space", "a b", []kv{{"a", "b"}}},
		{"spaces around separator", "  a \t=  b", []kv{{"a", "b"}}},
		{"trailing space kept", "a=b  ", []kv{{"a", "b  "}}},
		{"second separator is value", "a==b", []kv{{"a", "=b"}}},
		{"space then colon", "a : b:c", []kv{{"a", "b:c"}}},
		{"key only", "a", []kv{{"a", ""}}},
		{"empty value", "a=", []kv{{"a", ""}}},
		{"empty key", "=b", []kv{{"", "b"}}},
		{"comments and blanks", "# c\n! c\n   # indented\n\n \t \na=b", []kv{{"a", "b"}}},
		{"hash inside value", "a=b#c", []kv{{"a", "b#c"}}},
		{"continuation", "a=one,\\\n    two", []kv{{"a", "one,two"}}},
		{"continuation chain", "a=x\\\n y\\\n  z\nb=1", []kv{{"a", "xyz"}, {"b", "1"}}},
		{"escaped backslash does not continue", "a=x\\\\\nb=y", []kv{{"a", `x\`}, {"b", "y"}}},
		{"comment does not continue", "# c\\\na=b", []kv{{"a", "b"}}},
		{"continued line starting with hash", "a=x\\\n#y", []kv{{"a", "x#y"}}},
		{"continuation into blank line", "a=x\\\n\nb=y", []kv{{"a", "x"}, {"b", "y"}}},
		{"backslash at end of file", "a=x\\", []kv{{"a", "x"}}},
		{"crlf and cr", "a=1\r\nb=2\rc=3\n", []kv{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
		{"escapes", `a=\t\n\r\f\u0041\=\:\#\q`, []kv{{"a", "\t\n\r\fA=:#q"}}},
		{"escaped separator in key", `a\=b\ c=d`, []kv{{"a=b c", "d"}}},
		{"surrogate pair", `a=\uD83D\uDE00`, []kv{{"a", "😀"}}},
		{"lone surrogate", `a=\uD83Dx`, []kv{{"a", "\uFFFDx"}}},
		{"utf8 passes through", "a=Grüße", []kv{{"a", "Grüße"}}},
		{"last duplicate kept in order", "a=1\na=2", []kv{{"a", "1"}, {"a", "2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props, err := parseProperties(tc.in)
			require.NoError(t, err)
			var got []kv
			for _, p := range props {
				got = append(got, kv{p.key, p.value})
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParsePropertiesLineNumbers(t *testing.T) {
	props, err := parseProperties("# header\na=1\\\n  2\n\nb=3\n")
	require.NoError(t, err)
	require.Len(t, props, 2)
	assert.Equal(t, 2, props[0].line)
	assert.Equal(t, 5, props[1].line)
}

func TestParsePropertiesMalformedUnicode(t *testing.T) {
	for _, in := range []string{`a=\u12`, `a=\u12G4`, `\uXYZW=1`} {
		_, err := parseProperties("x=1\n" + in)
		require.ErrorIs(t, err, ErrSyntax, in)
		assert.Contains(t, err.Error(), "line 2")
	}
}

func TestLoadConfigFile(t *testing.T) {
	path := writeProps(t, `
# A kafkad broker
broker.id = 7
listeners: PLAINTEXT://127.0.0.1:19092
log.dirs=/data/a,\
         /data/b
num.partitions 3
auto.create.topics.enable=FALSE
log.retention.bytes=1073741824
log.message.timestamp.type=LogAppendTime
compression.type=zstd
etcd.endpoints=http://etcd1:2379, http://etcd2:2379
num.io.threads=8
`)
	c := mustLoad(t, "--config", path)
	assert.Equal(t, int32(7), c.BrokerID)
	assert.Equal(t, []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 19092}}, c.Listeners)
	assert.Equal(t, []string{"/data/a", "/data/b"}, c.LogDirs)
	assert.Equal(t, int32(3), c.NumPartitions)
	assert.False(t, c.AutoCreateTopicsEnable)
	assert.Equal(t, int64(1<<30), c.LogRetentionBytes)
	assert.Equal(t, "LogAppendTime", c.LogMessageTimestampType)
	assert.Equal(t, "zstd", c.CompressionType)
	assert.Equal(t, []string{"http://etcd1:2379", "http://etcd2:2379"}, c.EtcdEndpoints)
	assert.Equal(t, []string{"num.io.threads"}, c.Ignored)
	assert.Equal(t, "7", c.Static["broker.id"])
	assert.Equal(t, "/data/a,/data/b", c.Static["log.dirs"])
	assert.NotContains(t, c.Static, "num.partitions.x")
}

func TestFlagsOverrideFile(t *testing.T) {
	path := writeProps(t, "broker.id=7\nnum.partitions=3\nlog.dirs=/from/file\n")
	c := mustLoad(t, "--num.partitions=5", "--config="+path, "--log.dirs", "/from/flag")
	assert.Equal(t, int32(7), c.BrokerID)
	assert.Equal(t, int32(5), c.NumPartitions)
	assert.Equal(t, []string{"/from/flag"}, c.LogDirs)
	assert.Equal(t, "5", c.Static["num.partitions"])
}

func TestFlagForms(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"double dash equals", []string{"--broker.id=3"}, func(t *testing.T, c Config) { assert.Equal(t, int32(3), c.BrokerID) }},
		{"double dash space", []string{"--broker.id", "3"}, func(t *testing.T, c Config) { assert.Equal(t, int32(3), c.BrokerID) }},
		{"single dash", []string{"-broker.id=3"}, func(t *testing.T, c Config) { assert.Equal(t, int32(3), c.BrokerID) }},
		{"negative value after space", []string{"--log.retention.ms", "-1"}, func(t *testing.T, c Config) { assert.Equal(t, int64(-1), c.LogRetentionMs) }},
		{"bool alone", []string{"--auto.create.topics.enable=false", "--auto.create.topics.enable"}, func(t *testing.T, c Config) { assert.True(t, c.AutoCreateTopicsEnable) }},
		{"bool alone before flag", []string{"--delete.topic.enable", "--broker.id=2"}, func(t *testing.T, c Config) {
			assert.True(t, c.DeleteTopicEnable)
			assert.Equal(t, int32(2), c.BrokerID)
		}},
		{"bool with space value", []string{"--delete.topic.enable", "false"}, func(t *testing.T, c Config) { assert.False(t, c.DeleteTopicEnable) }},
		{"last flag wins", []string{"--broker.id=3", "--broker.id=4"}, func(t *testing.T, c Config) { assert.Equal(t, int32(4), c.BrokerID) }},
		{"harness command line", []string{"--broker.id=1", "--log.dirs=/tmp/x", "--listeners=PLAINTEXT://127.0.0.1:0",
			"--etcd.embedded.client.url=http://127.0.0.1:40001", "--etcd.embedded.peer.url=http://127.0.0.1:40002"},
			func(t *testing.T, c Config) {
				assert.Equal(t, []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}, c.Listeners)
				assert.Equal(t, "http://127.0.0.1:40001", c.EtcdEmbeddedClientURL)
				assert.Equal(t, "http://127.0.0.1:40002", c.EtcdEmbeddedPeerURL)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mustLoad(t, tc.args...)) })
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"positional", []string{"server.properties"}, `unexpected argument "server.properties"`},
		{"missing value", []string{"--broker.id"}, "--broker.id needs a value"},
		{"missing config path", []string{"--config"}, "--config needs a value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args...)
			require.ErrorIs(t, err, ErrSyntax)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := load(t, "--config", filepath.Join(t.TempDir(), "nope.properties"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestUnknownKey(t *testing.T) {
	path := writeProps(t, "broker.id=1\n\nlog.retention.hour=5\n")
	_, err := load(t, "--config", path)
	require.ErrorIs(t, err, ErrUnknownKey)
	assert.Contains(t, err.Error(), `"log.retention.hour"`)
	assert.Contains(t, err.Error(), "line 3")

	_, err = load(t, "--num.partition=3")
	require.ErrorIs(t, err, ErrUnknownKey)
	assert.Contains(t, err.Error(), `"num.partition"`)
	assert.Contains(t, err.Error(), "flag")
}

func TestRetentionPrecedence(t *testing.T) {
	const hour, minute = int64(3600_000), int64(60_000)
	tests := []struct {
		name string
		args []string
		want int64
	}{
		{"default 168 hours", nil, 168 * hour},
		{"hours", []string{"--log.retention.hours=1"}, hour},
		{"minutes over hours", []string{"--log.retention.hours=1", "--log.retention.minutes=5"}, 5 * minute},
		{"ms over minutes", []string{"--log.retention.minutes=5", "--log.retention.ms=1234"}, 1234},
		{"ms over hours", []string{"--log.retention.hours=2", "--log.retention.ms=10"}, 10},
		{"ms -1 forever", []string{"--log.retention.ms=-1"}, -1},
		{"hours -1 forever", []string{"--log.retention.hours=-1"}, -1},
		{"minutes negative forever", []string{"--log.retention.minutes=-30"}, -1},
		{"zero kept", []string{"--log.retention.ms=0"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustLoad(t, tc.args...).LogRetentionMs)
		})
	}
}

func TestRollPrecedence(t *testing.T) {
	assert.Equal(t, int64(2*3600_000), mustLoad(t, "--log.roll.hours=2").LogRollMs)
	assert.Equal(t, int64(500), mustLoad(t, "--log.roll.hours=2", "--log.roll.ms=500").LogRollMs)
}

func TestFlushInterval(t *testing.T) {
	assert.Equal(t, int64(math.MaxInt64), mustLoad(t).LogFlushIntervalMs)
	assert.Equal(t, int64(1000), mustLoad(t, "--log.flush.interval.ms=1000").LogFlushIntervalMs)
}

func TestLogDirsPrecedence(t *testing.T) {
	assert.Equal(t, []string{"/one"}, mustLoad(t, "--log.dir=/one").LogDirs)
	assert.Equal(t, []string{"/a", "/b"}, mustLoad(t, "--log.dir=/one", "--log.dirs=/a,/b").LogDirs)
	_, err := load(t, "--log.dirs= , ")
	require.ErrorIs(t, err, ErrInvalidValue)
}

func TestAliases(t *testing.T) {
	assert.Equal(t, int32(9), mustLoad(t, "--node.id=9").BrokerID)
	c := mustLoad(t, "--file.delete.delay.ms=5")
	assert.Equal(t, int64(5), c.LogSegmentDeleteDelayMs)
	assert.Equal(t, "5", c.Static["log.segment.delete.delay.ms"])

	// Both spellings agreeing is fine (Kafka's KRaft files often set both).
	assert.Equal(t, int32(4), mustLoad(t, "--config", writeProps(t, "broker.id=4\nnode.id=4\n")).BrokerID)
	_, err := load(t, "--config", writeProps(t, "broker.id=4\nnode.id=5\n"))
	require.ErrorIs(t, err, ErrInvalidValue)
	assert.Contains(t, err.Error(), "disagree")
	// A flag overrides the file whatever the spelling.
	assert.Equal(t, int32(6), mustLoad(t, "--config", writeProps(t, "node.id=5\n"), "--broker.id=6").BrokerID)
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name, flag, want string
	}{
		{"not a number", "--num.partitions=three", "num.partitions"},
		{"zero partitions", "--num.partitions=0", "below the minimum 1"},
		{"int32 overflow", "--message.max.bytes=4294967296", "out of range"},
		{"int16 overflow", "--default.replication.factor=40000", "out of range"},
		{"negative broker id", "--broker.id=-1", "broker.id"},
		{"retention bytes below -1", "--log.retention.bytes=-2", "below the minimum -1"},
		{"roll ms zero", "--log.roll.ms=0", "log.roll.ms"},
		{"roll hours overflow", "--log.roll.hours=9223372036854775807", "overflows"},
		{"bad bool", "--auto.create.topics.enable=yes", "not true or false"},
		{"bad timestamp type", "--log.message.timestamp.type=BrokerTime", "CreateTime, LogAppendTime"},
		{"bad compression", "--compression.type=brotli", "brotli"},
		{"bad cleanup policy", "--log.cleanup.policy=delete,shred", "shred"},
		{"bad etcd url", "--etcd.endpoints=etcd1:2379", "etcd.endpoints"},
		{"etcd url without port", "--etcd.embedded.client.url=http://127.0.0.1", "etcd.embedded.client.url"},
		{"empty etcd prefix", "--etcd.prefix=", "etcd.prefix"},
		{"session timeout zero", "--broker.session.timeout.ms=0", "broker.session.timeout.ms"},
		{"check interval overflow", "--log.retention.check.interval.ms=9223372036854775807", "too long"},
		{"segment too small", "--log.segment.bytes=10", "log.segment.bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.flag)
			require.ErrorIs(t, err, ErrInvalidValue)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCleanupPolicy(t *testing.T) {
	c := mustLoad(t, "--log.cleanup.policy=compact, delete")
	assert.Equal(t, "compact,delete", c.LogCleanupPolicy)
	assert.Empty(t, c.Warnings, "compaction is implemented: nothing to warn about")
	assert.False(t, brokerConfig(c).Log.CompactOnly, "with delete, retention applies")
	assert.True(t, brokerConfig(c).Log.Compact, "with compact, the cleaner compacts")
	compact := brokerConfig(mustLoad(t, "--log.cleanup.policy=compact")).Log
	assert.True(t, compact.CompactOnly, "compact alone: no retention")
	assert.True(t, compact.Compact)
	def := brokerConfig(mustLoad(t)).Log
	assert.False(t, def.CompactOnly)
	assert.False(t, def.Compact)
}

func TestParseListeners(t *testing.T) {
	tests := []struct {
		in   string
		want []Listener
		err  bool
	}{
		{in: "PLAINTEXT://:9092", want: []Listener{{"PLAINTEXT", "", 9092}}},
		{in: "PLAINTEXT://127.0.0.1:0", want: []Listener{{"PLAINTEXT", "127.0.0.1", 0}}},
		{in: "PLAINTEXT://[::1]:9092", want: []Listener{{"PLAINTEXT", "::1", 9092}}},
		{in: "plaintext://kafka1.example.com:9092", want: []Listener{{"PLAINTEXT", "kafka1.example.com", 9092}}},
		{in: "A://:1, B://0.0.0.0:2", want: []Listener{{"A", "", 1}, {"B", "0.0.0.0", 2}}},
		{in: "PLAINTEXT://127.0.0.1", err: true},
		{in: "127.0.0.1:9092", err: true},
		{in: "://:9092", err: true},
		{in: "PLAINTEXT://:65536", err: true},
		{in: "PLAINTEXT://:-1", err: true},
		{in: "PLAINTEXT://::1:9092", err: true},
		{in: "PLAINTEXT://host/x:9092", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseListeners(tc.in)
			if tc.err {
				require.ErrorIs(t, err, ErrInvalidValue)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestListenerString(t *testing.T) {
	assert.Equal(t, "PLAINTEXT://[::1]:9092", Listener{"PLAINTEXT", "::1", 9092}.String())
	assert.Equal(t, "PLAINTEXT://:9092", Listener{"PLAINTEXT", "", 9092}.String())
}

func TestListenerValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // error text; empty: loads
	}{
		{"mapped name", []string{"--listeners=CLIENT://:9092", "--listener.security.protocol.map=CLIENT:PLAINTEXT,SSL:SSL"}, ""},
		{"ssl listener", []string{"--listeners=SSL://:9093"}, "only PLAINTEXT"},
		{"mapped to sasl", []string{"--listeners=CLIENT://:9092", "--listener.security.protocol.map=CLIENT:SASL_SSL"}, "only PLAINTEXT"},
		{"unmapped name", []string{"--listeners=CLIENT://:9092", "--listener.security.protocol.map=SSL:SSL"}, "no entry"},
		{"unknown name without map", []string{"--listeners=CLIENT://:9092"}, "unknown security protocol"},
		{"bad map", []string{"--listener.security.protocol.map=PLAINTEXT"}, "NAME:PROTOCOL"},
		{"duplicate name", []string{"--listeners=PLAINTEXT://:1,PLAINTEXT://:2"}, "used twice"},
		{"advertised unknown name", []string{"--advertised.listeners=OTHER://h:1"}, "not one of the listeners"},
		{"advertised unspecified", []string{"--listeners=PLAINTEXT://0.0.0.0:9092"}, "unspecified address"},
		{"advertised unspecified v6", []string{"--advertised.listeners=PLAINTEXT://[::]:9092"}, "unspecified address"},
		{"only controller listener", []string{"--listeners=CONTROLLER://:9093", "--controller.listener.names=CONTROLLER"}, "no listener"},
		{"bound any, advertised host", []string{"--listeners=PLAINTEXT://0.0.0.0:9092", "--advertised.listeners=PLAINTEXT://kafka1:9092"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidValue)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestStockKafkaProperties loads a file shaped like Kafka's shipped KRaft
// server.properties: the controller listener is dropped and the KRaft-only
// keys are reported as ignored.
func TestStockKafkaProperties(t *testing.T) {
	path := writeProps(t, `
############################# Server Basics #############################
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093

############################# Socket Server Settings #############################
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`)
	c := mustLoad(t, "--config", path)
	assert.Equal(t, int32(1), c.BrokerID)
	assert.Equal(t, []Listener{{"PLAINTEXT", "", 9092}}, c.Listeners)
	assert.Equal(t, []Listener{{"PLAINTEXT", "localhost", 9092}}, c.AdvertisedListeners)
	assert.Equal(t, []string{"/tmp/kraft-combined-logs"}, c.LogDirs)
	assert.Contains(t, c.Ignored, "process.roles")
	assert.Contains(t, c.Ignored, "controller.listener.names")
	assert.NotContains(t, c.Ignored, "listener.security.protocol.map", "it makes a listener SASL_PLAINTEXT")
	assert.NotContains(t, c.Ignored, "log.retention.check.interval.ms")
	assert.IsNonDecreasing(t, c.Ignored)
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var out bytes.Buffer
		_, err := loadConfig([]string{"--bogus=1", arg}, &out)
		require.ErrorIs(t, err, ErrHelp)
		for _, o := range options {
			assert.Contains(t, out.String(), "--"+o.key, arg)
		}
		assert.Contains(t, out.String(), "(default: PLAINTEXT://:9092)")
		assert.Contains(t, out.String(), "(default: log.roll.hours)")
		assert.Contains(t, out.String(), "zookeeper.connect")
	}
}

// TestOptionsTable guards the table: keys unique, every default parses.
func TestOptionsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range options {
		for _, name := range append([]string{o.key}, o.aliases...) {
			assert.False(t, seen[name], "duplicate key %s", name)
			seen[name] = true
		}
		assert.NotEmpty(t, o.doc, o.key)
		if o.def != "" {
			assert.NoError(t, o.set(&builder{}, o.def), o.key)
		}
	}
	for _, k := range ignoredKeys {
		assert.False(t, seen[k], "ignored key %s is also an option", k)
	}
}

// formatProperty writes key=value so that parseProperties reads back the
// same strings: every byte Java's format treats specially is escaped.
func formatProperty(key, value string) string {
	esc := func(s string, isKey bool) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\f':
				b.WriteString(`\f`)
			case c == ' ' && (isKey || i == 0):
				b.WriteString(`\ `)
			case strings.IndexByte(`\=:#!`, c) >= 0:
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	return esc(key, true) + "=" + esc(value, false) + "\n"
}

func FuzzParseProperties(f *testing.F) {
	f.Add("a=b\n# c\n!d\nkey : value\\\n   continued\n")
	f.Add("x\\u0041\\\r\n\\uD83D\\uDE00 y\rz")
	f.Add("\\")
	f.Add("a=\\u12")
	f.Fuzz(func(t *testing.T, in string) {
		props, err := parseProperties(in)
		if err != nil {
			require.True(t, errors.Is(err, ErrSyntax), "unexpected error kind: %v", err)
			return
		}
		// What was read, written back escaped, must read back the same.
		var text strings.Builder
		for _, p := range props {
			text.WriteString(formatProperty(p.key, p.value))
		}
		again, err := parseProperties(text.String())
		require.NoError(t, err, text.String())
		require.Len(t, again, len(props), text.String())
		for i := range props {
			assert.Equal(t, props[i].key, again[i].key)
			assert.Equal(t, props[i].value, again[i].value)
		}
	})
}

// The broker defaults of the topic configs that act on append reach the
// broker's log defaults; log.roll.jitter.ms wins over .hours.
func TestAppendRuleDefaults(t *testing.T) {
	b := brokerConfig(mustLoad(t))
	assert.Equal(t, int64(math.MaxInt64), b.Log.TimestampBeforeMaxMs)
	assert.Equal(t, int64(3600000), b.Log.TimestampAfterMaxMs, "an hour, as Kafka 4")
	assert.Equal(t, int64(0), b.Log.SegmentJitterMs)
	assert.False(t, b.Log.Preallocate)
	assert.Equal(t, []int32{-1, 9, 3}, []int32{b.Log.GzipLevel, b.Log.LZ4Level, b.Log.ZstdLevel})
	assert.False(t, b.UncleanLeaderElection)

	b = brokerConfig(mustLoad(t, "--log.message.timestamp.before.max.ms=1000", "--log.message.timestamp.after.max.ms=2000",
		"--log.roll.jitter.hours=2", "--log.preallocate=true", "--compression.gzip.level=9", "--compression.lz4.level=1",
		"--compression.zstd.level=-7", "--unclean.leader.election.enable=TRUE", "--compression.type=zstd"))
	assert.Equal(t, int64(1000), b.Log.TimestampBeforeMaxMs)
	assert.Equal(t, int64(2000), b.Log.TimestampAfterMaxMs)
	assert.Equal(t, int64(2*3600*1000), b.Log.SegmentJitterMs)
	assert.True(t, b.Log.Preallocate)
	assert.Equal(t, []int32{9, 1, -7}, []int32{b.Log.GzipLevel, b.Log.LZ4Level, b.Log.ZstdLevel})
	assert.True(t, b.UncleanLeaderElection)
	assert.Equal(t, "zstd", b.CompressionType)

	b = brokerConfig(mustLoad(t, "--log.roll.jitter.hours=2", "--log.roll.jitter.ms=500"))
	assert.Equal(t, int64(500), b.Log.SegmentJitterMs)

	for _, flag := range []string{"--compression.gzip.level=0", "--compression.lz4.level=18", "--compression.zstd.level=23", "--log.message.timestamp.after.max.ms=-1"} {
		_, err := load(t, flag)
		assert.ErrorIs(t, err, ErrInvalidValue, flag)
	}
}

func TestConnectionLimitConfigs(t *testing.T) {
	c := mustLoad(t)
	assert.Equal(t, int32(math.MaxInt32), c.MaxConnections)
	assert.Equal(t, int32(math.MaxInt32), c.MaxConnectionsPerIP)
	assert.Equal(t, int32(math.MaxInt32), c.MaxConnectionCreationRate)
	assert.Empty(t, c.MaxConnectionsPerIPOverrides)
	assert.Equal(t, 10*time.Minute, c.ConnectionsMaxIdle)
	assert.Equal(t, int32(500), c.QueuedMaxRequests)

	c = mustLoad(t, "--max.connections.per.ip=0", "--max.connections.per.ip.overrides=hostName:100,127.0.0.1:200",
		"--connections.max.idle.ms=-1", "--queued.max.requests=1")
	b := brokerConfig(c)
	assert.Equal(t, int32(0), b.MaxConnectionsPerIP)
	assert.Equal(t, "hostName:100,127.0.0.1:200", b.MaxConnectionsPerIPOverrides)
	assert.Equal(t, -time.Millisecond, b.ConnectionsMaxIdle)
	assert.Equal(t, int32(1), b.QueuedMaxRequests)

	for _, bad := range []string{"--max.connections.per.ip.overrides=host", "--queued.max.requests=0", "--max.connections=-1"} {
		_, err := load(t, bad)
		require.ErrorIs(t, err, ErrInvalidValue, bad)
	}
}
