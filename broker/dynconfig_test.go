package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/embedetcd"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

func withStaticKeys(c *Config) {
	c.StaticKeys = []string{"broker.id", "log.dirs", "log.retention.hours"}
	c.StaticConfigs = map[string]string{"broker.id": "1", "log.retention.hours": "100"}
	c.Log.RetentionMs = 100 * 3600 * 1000
}

func TestDynamicBrokerConfigValidation(t *testing.T) {
	tb := startTestBroker(t, withStaticKeys)
	adm := kadm.NewClient(tb.client(t))
	ctx := context.Background()

	cases := []struct {
		name    string
		brokers []int32
		key     string
		value   string
		want    error
		message string
	}{
		{"read-only key", []int32{1}, "broker.id", "2", kerr.InvalidRequest, "Cannot update these configs dynamically: Set(broker.id)"},
		{"read-only synonym", nil, "log.retention.hours", "1", kerr.InvalidRequest, "Cannot update these configs dynamically: Set(log.retention.hours)"},
		{"unknown key", []int32{1}, "log.retention.weeks", "1", kerr.InvalidConfig, "Unknown broker config log.retention.weeks: kafkad cannot update it dynamically"},
		{"not a number", []int32{1}, "log.retention.ms", "soon", kerr.InvalidRequest, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"},
		{"out of range", nil, "log.segment.bytes", "10", kerr.InvalidRequest, "Invalid value 10 for configuration log.segment.bytes: 10 is below the minimum 1048576"},
		{"int overflow", nil, "log.segment.bytes", "4294967296", kerr.InvalidRequest, "Invalid value 4294967296 for configuration log.segment.bytes: Not a number of type INT"},
		{"bad enum", []int32{1}, "compression.type", "brotli", kerr.InvalidRequest, ""},
		{"cleaner threads above double", []int32{1}, "log.cleaner.threads", "3", kerr.InvalidRequest, "Log cleaner threads cannot be increased to more than double the current value 1"},
		{"another broker", []int32{7}, "log.retention.ms", "1000", kerr.InvalidRequest, ""},
		{"bad throttle rate", nil, "leader.replication.throttled.rate", "-1", kerr.InvalidRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: tc.key, Value: kadm.StringPtr(tc.value)}}
			for _, validate := range []bool{true, false} {
				alter := adm.AlterBrokerConfigs
				if validate {
					alter = adm.ValidateAlterBrokerConfigs
				}
				if tc.name == "another broker" {
					// kadm sends a broker's config to that broker; ask
					// this one directly, as a misrouted request would.
					req := kmsg.NewPtrIncrementalAlterConfigsRequest()
					rr := kmsg.NewIncrementalAlterConfigsRequestResource()
					rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
					rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
					rc.Name, rc.Value = tc.key, kmsg.StringPtr(tc.value)
					rr.Configs = append(rr.Configs, rc)
					req.Resources = append(req.Resources, rr)
					raw, err := req.RequestWith(ctx, tb.client(t).Broker(1))
					require.NoError(t, err)
					assert.Equal(t, tc.want.(*kerr.Error).Code, raw.Resources[0].ErrorCode)
					assert.Equal(t, "Unexpected broker id, expected 1, but received 7", *raw.Resources[0].ErrorMessage)
					break
				}
				resp, err := alter(ctx, ops, tc.brokers...)
				require.NoError(t, err)
				require.Len(t, resp, 1)
				require.ErrorIs(t, resp[0].Err, tc.want)
				if tc.message != "" {
					assert.Equal(t, tc.message, resp[0].ErrMessage)
				}
			}
			assert.Empty(t, tb.store.BrokerConfigs("1"))
			assert.Empty(t, tb.store.BrokerConfigs(""))
		})
	}

	t.Run("validate only stores nothing", func(t *testing.T) {
		resp, err := adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("1000")}}, 1)
		require.NoError(t, err)
		require.NoError(t, resp[0].Err)
		assert.Empty(t, tb.store.BrokerConfigs("1"))
		assert.Equal(t, int64(100*3600*1000), tb.liveConfig().Log.RetentionMs)
	})
}

// describeBroker returns name → entry of a broker resource ("" default).
func describeBroker(t *testing.T, tb *testBroker, name string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), tb.client(t))
	require.NoError(t, err)
	require.Len(t, resp.Resources, 1)
	require.Zero(t, resp.Resources[0].ErrorCode)
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func describeTopic(t *testing.T, tb *testBroker, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), tb.client(t))
	require.NoError(t, err)
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func synonymSources(e kmsg.DescribeConfigsResponseResourceConfig) []string {
	var out []string
	for _, s := range e.ConfigSynonyms {
		out = append(out, s.Source.String()+":"+s.Name+"="+*s.Value)
	}
	return out
}

func TestDynamicBrokerConfigPrecedence(t *testing.T) {
	tb := startTestBroker(t, withStaticKeys)
	cl := tb.client(t)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	createTopic(t, cl, "prec", 1, nil)
	createTopic(t, cl, "prec-override", 1, map[string]*string{"retention.ms": kadm.StringPtr("5000")})
	logOf := func(topic string) *storage.Log {
		l, ok := tb.logs.Get(storage.TopicPartition{Topic: topic})
		require.True(t, ok)
		return l
	}
	set := func(key, value string, brokers ...int32) {
		t.Helper()
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(value)}}, brokers...)
		require.NoError(t, err)
		require.NoError(t, resp[0].Err)
	}

	// Static only.
	assert.Equal(t, int64(100*3600*1000), logOf("prec").Config().RetentionMs)
	e := describeTopic(t, tb, "prec")["retention.ms"]
	assert.Equal(t, kmsg.ConfigSourceStaticBrokerConfig, e.Source)

	// The cluster default beats server.properties.
	set("log.retention.ms", "2000")
	assert.Equal(t, int64(2000), logOf("prec").Config().RetentionMs)
	e = describeTopic(t, tb, "prec")["retention.ms"]
	assert.Equal(t, kmsg.ConfigSourceDynamicDefaultBrokerConfig, e.Source)
	assert.Equal(t, "2000", *e.Value)

	// This broker's value beats the cluster default; a topic override
	// beats both.
	set("log.retention.ms", "3000", 1)
	assert.Equal(t, int64(3000), logOf("prec").Config().RetentionMs)
	assert.Equal(t, int64(5000), logOf("prec-override").Config().RetentionMs)
	e = describeTopic(t, tb, "prec")["retention.ms"]
	assert.Equal(t, kmsg.ConfigSourceDynamicBrokerConfig, e.Source)
	assert.Equal(t, []string{
		"DYNAMIC_BROKER_CONFIG:log.retention.ms=3000",
		"DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=2000",
		"STATIC_BROKER_CONFIG:log.retention.hours=100",
		"DEFAULT_CONFIG:log.retention.ms=604800000",
	}, synonymSources(e))
	e = describeTopic(t, tb, "prec-override")["retention.ms"]
	assert.Equal(t, kmsg.ConfigSourceDynamicTopicConfig, e.Source)

	b := describeBroker(t, tb, "1")
	assert.Equal(t, "3000", *b["log.retention.ms"].Value)
	assert.Equal(t, kmsg.ConfigSourceDynamicBrokerConfig, b["log.retention.ms"].Source)
	assert.False(t, b["log.retention.ms"].ReadOnly)
	assert.True(t, b["broker.id"].ReadOnly)
	assert.Equal(t, kmsg.ConfigSourceStaticBrokerConfig, b["broker.id"].Source)
	assert.Equal(t, kmsg.ConfigSourceDefaultConfig, b["log.cleaner.threads"].Source)
	assert.Equal(t, "1", *b["log.cleaner.threads"].Value)

	d := describeBroker(t, tb, "")
	require.Len(t, d, 1, "the default entity lists the dynamic defaults only")
	assert.Equal(t, "2000", *d["log.retention.ms"].Value)
	assert.Equal(t, kmsg.ConfigSourceDynamicDefaultBrokerConfig, d["log.retention.ms"].Source)
	assert.Equal(t, []string{"DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=2000"}, synonymSources(d["log.retention.ms"]))

	// Deleting this broker's value falls back to the default.
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}}, 1)
	require.NoError(t, err)
	require.NoError(t, resp[0].Err)
	assert.Equal(t, int64(2000), logOf("prec").Config().RetentionMs)

	// The cleaner and min.insync.replicas follow too.
	set("log.cleaner.threads", "2", 1)
	assert.Equal(t, 2, tb.logs.CleanerConfig().Threads)
	set("min.insync.replicas", "2")
	_, minIsr := tb.parts[storage.TopicPartition{Topic: "prec"}].snapshot()
	assert.Equal(t, int32(2), minIsr)

	// APPEND on a list key starts from the effective value.
	resp, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: kadm.StringPtr("compact")}})
	require.NoError(t, err)
	require.NoError(t, resp[0].Err)
	assert.Equal(t, "delete,compact", tb.store.BrokerConfigs("")["log.cleanup.policy"])
	assert.True(t, logOf("prec").Config().Compact)

	// AlterConfigs replaces the whole default set.
	_, err = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.segment.bytes", Value: kadm.StringPtr("1048576")}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"log.segment.bytes": "1048576"}, tb.store.BrokerConfigs(""))
	assert.Equal(t, int64(100*3600*1000), logOf("prec").Config().RetentionMs)
	assert.Equal(t, int64(1048576), logOf("prec").Config().SegmentBytes)
}

func TestDynamicBrokerConfigsSurviveRestartAndReachOtherBrokers(t *testing.T) {
	eps := embedetcd.StartTest(t, testLogger(t)).Endpoints()
	b1 := startTestBrokerOn(t, eps)
	b2 := startTestBrokerOn(t, eps, func(c *Config) { c.BrokerID = 2 })
	adm := kadm.NewClient(b1.client(t))
	resp, err := adm.AlterBrokerConfigs(context.Background(), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "log.retention.bytes", Value: kadm.StringPtr("123456")},
	})
	require.NoError(t, err)
	require.NoError(t, resp[0].Err)
	require.Eventually(t, func() bool { return b2.liveConfig().Log.RetentionBytes == 123456 }, 10*time.Second, 10*time.Millisecond,
		"another broker applies a cluster-wide change")

	resp, err = adm.AlterBrokerConfigs(context.Background(), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "log.cleaner.threads", Value: kadm.StringPtr("2")},
	}, 1)
	require.NoError(t, err)
	require.NoError(t, resp[0].Err)
	assert.Equal(t, 1, b2.logs.CleanerConfig().Threads, "a per-broker value stays on its broker")
	require.NoError(t, b1.Close())

	// A restarted broker 1 applies both before it serves.
	restarted := startTestBrokerOn(t, eps)
	assert.Equal(t, int64(123456), restarted.liveConfig().Log.RetentionBytes)
	assert.Equal(t, 2, restarted.logs.CleanerConfig().Threads)
	assert.Equal(t, map[string]string{"log.cleaner.threads": "2"}, restarted.store.BrokerConfigs(metastore.BrokerEntity(1)))
}

func TestThrottledReplicasValidation(t *testing.T) {
	for _, v := range []string{"", "*", "0:1", "0:1,1:2", " 0:1 , 2:3 ", "0:1,"} {
		assert.True(t, validThrottledReplicas(v), v)
	}
	for _, v := range []string{"x", "0", "0:a", "*,0:1", "-1:1", "0:1:2"} {
		assert.False(t, validThrottledReplicas(v), v)
	}
	assert.True(t, replicaThrottled("*", 3, 9))
	assert.True(t, replicaThrottled("0:1,3:9", 3, 9))
	assert.False(t, replicaThrottled("0:1,3:8", 3, 9))
	assert.False(t, replicaThrottled("", 0, 1))
	err := validateTopicConfigs(map[string]string{"leader.replication.throttled.replicas": "zero:one"})
	require.ErrorIs(t, err, errInvalidConfig)
	assert.Contains(t, err.Error(), "leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
}

func TestReplicationQuotaRate(t *testing.T) {
	var q quota
	q.setBound(1000)
	start := time.Unix(1000, 0)
	assert.False(t, q.exceeded(start))
	q.record(start, 5000) // 5000 bytes over the 10 s minimum window: 500/s
	assert.False(t, q.exceeded(start.Add(time.Second)))
	q.record(start.Add(2*time.Second), 6000) // 11000 over 10 s
	assert.True(t, q.exceeded(start.Add(3*time.Second)))
	// Samples older than the window age out.
	assert.False(t, q.exceeded(start.Add(14*time.Second)))
	q.setBound(throttleUnlimited)
	q.record(start.Add(15*time.Second), 1<<40)
	assert.False(t, q.exceeded(start.Add(15*time.Second)), "unlimited never throttles")
}
