package broker

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/storage"
)

// TestCleanupPolicyTurnsRetentionOff: compact alone keeps segments from
// retention; delete, or compact with delete, lets retention act; the
// broker default applies to topics without an override.
func TestCleanupPolicyTurnsRetentionOff(t *testing.T) {
	c := DefaultConfig()
	for policy, compactOnly := range map[string]bool{
		"delete": false, "compact": true, "compact,delete": false, "delete, compact": false,
	} {
		assert.Equal(t, compactOnly, c.logConfig(map[string]string{"cleanup.policy": policy}).CompactOnly, policy)
	}
	assert.False(t, c.logConfig(nil).CompactOnly)
	assert.Error(t, validateTopicConfigs(map[string]string{"cleanup.policy": "compact,shred"}))
}

// Every topic config's default is a value the config itself accepts,
// and the table stays sorted for lookupTopicConfig.
func TestTopicConfigDefaultsValidate(t *testing.T) {
	c := DefaultConfig()
	for i, tc := range topicConfigs {
		if i > 0 {
			assert.Less(t, topicConfigs[i-1].name, tc.name, "topicConfigs not sorted")
		}
		assert.NoError(t, validateTopicConfigs(map[string]string{tc.name: tc.def(&c)}), tc.name)
	}
}

// segment.bytes has Kafka 4's 1 MiB minimum; tests go below it with
// internal.segment.bytes, which wins over segment.bytes whatever the map
// order and which DescribeConfigs does not show.
func TestSegmentBytesMinimumAndInternal(t *testing.T) {
	assert.ErrorIs(t, validateTopicConfigs(map[string]string{"segment.bytes": "1048575"}), errInvalidConfig)
	assert.NoError(t, validateTopicConfigs(map[string]string{"segment.bytes": "1048576"}))
	assert.NoError(t, validateTopicConfigs(map[string]string{"internal.segment.bytes": "300"}))
	assert.ErrorIs(t, validateTopicConfigs(map[string]string{"internal.segment.bytes": "13"}), errInvalidConfig)
	c := DefaultConfig()
	for range 20 { // map order varies
		lc := c.logConfig(map[string]string{"segment.bytes": "2097152", "internal.segment.bytes": "300"})
		require.Equal(t, int64(300), lc.SegmentBytes)
	}
	b := &Broker{cfg: c, dyn: newBrokerConfigs(c)}
	for _, e := range b.topicConfigEntries(map[string]string{"internal.segment.bytes": "300"}, nil, false) {
		assert.NotEqual(t, "internal.segment.bytes", e.Name)
	}
}

// The topic configs that act on append land in the log's settings; the
// broker defaults apply where a topic has no override.
func TestTopicConfigsReachLogConfig(t *testing.T) {
	c := DefaultConfig()
	c.CompressionType = "lz4"
	c.Log.TimestampAfterMaxMs = 5000
	lc := c.logConfig(nil)
	assert.Equal(t, storage.CompressionLZ4, lc.Compression, "broker compression.type")
	assert.Equal(t, int64(5000), lc.TimestampAfterMaxMs)
	assert.Equal(t, int64(math.MaxInt64), lc.TimestampBeforeMaxMs)

	lc = c.logConfig(map[string]string{
		"compression.type":                "zstd",
		"compression.gzip.level":          "9",
		"compression.lz4.level":           "17",
		"compression.zstd.level":          "-5",
		"message.timestamp.before.max.ms": "1000",
		"message.timestamp.after.max.ms":  "2000",
		"segment.jitter.ms":               "3000",
		"preallocate":                     "TRUE",
		"cleanup.policy":                  "compact,delete",
	})
	assert.Equal(t, storage.CompressionZstd, lc.Compression)
	assert.Equal(t, int32(9), lc.GzipLevel)
	assert.Equal(t, int32(17), lc.LZ4Level)
	assert.Equal(t, int32(-5), lc.ZstdLevel)
	assert.Equal(t, int64(1000), lc.TimestampBeforeMaxMs)
	assert.Equal(t, int64(2000), lc.TimestampAfterMaxMs)
	assert.Equal(t, int64(3000), lc.SegmentJitterMs)
	assert.True(t, lc.Preallocate)
	assert.True(t, lc.Compact)

	def := DefaultConfig()
	assert.Equal(t, storage.CompressionProducer, def.logConfig(nil).Compression)
	assert.Equal(t, storage.CompressionNone, c.logConfig(map[string]string{"compression.type": "uncompressed"}).Compression)
}

// Values kafkad cannot act on are refused with INVALID_CONFIG and a
// message saying why; keys Kafka 4 does not know are refused as unknown.
func TestTopicConfigsRefused(t *testing.T) {
	cases := []struct {
		key, value, says string
	}{
		{"remote.storage.enable", "true", "tiered storage"},
		{"remote.log.copy.disable", "true", "tiered storage"},
		{"remote.log.delete.on.disable", "true", "tiered storage"},
		{"local.retention.ms", "60000", "tiered storage"},
		{"local.retention.bytes", "-1", "tiered storage"},
		{"compression.type", "brotli", "not one of"},
		{"compression.gzip.level", "0", "not in [1, 9]"},
		{"compression.lz4.level", "18", "not in [1, 17]"},
		{"compression.zstd.level", "23", "not in"},
		{"message.timestamp.before.max.ms", "-1", "below the minimum"},
		{"preallocate", "yes", "not a boolean"},
		{"unclean.leader.election.enable", "1", "not a boolean"},
		{"min.insync.replicas", "4294967296", "above the maximum"},
		// Removed in Kafka 4.0.
		{"message.downconversion.enable", "true", "unknown topic config"},
		{"message.format.version", "3.0", "unknown topic config"},
		{"message.timestamp.difference.max.ms", "1000", "unknown topic config"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			err := validateTopicConfigs(map[string]string{tc.key: tc.value})
			require.ErrorIs(t, err, errInvalidConfig)
			assert.Contains(t, err.Error(), tc.says)
			assert.Equal(t, kerr.InvalidConfig.Code, errorCode(err))
		})
	}
	for k, v := range map[string]string{
		"remote.storage.enable": "false", "remote.log.copy.disable": "FALSE", "local.retention.ms": "-2",
		"local.retention.bytes": "-2", "compression.gzip.level": "-1", "unclean.leader.election.enable": "True",
	} {
		assert.NoError(t, validateTopicConfigs(map[string]string{k: v}), k)
	}
}

func TestUncleanElectionSetting(t *testing.T) {
	c := DefaultConfig()
	assert.False(t, c.uncleanElection(nil))
	assert.True(t, c.uncleanElection(map[string]string{"unclean.leader.election.enable": "TRUE"}))
	c.UncleanLeaderElection = true
	assert.True(t, c.uncleanElection(nil), "broker default")
	assert.False(t, c.uncleanElection(map[string]string{"unclean.leader.election.enable": "false"}))
}

// A batch refused for its records answers with the records (KIP-467).
func TestFailProduceListsRefusedRecords(t *testing.T) {
	err := fmt.Errorf("batch at byte 0: %w", &storage.RecordsRefusedError{Err: storage.ErrInvalidTimestamp,
		Records: []storage.RecordError{{Index: 2, Message: "too old"}}})
	sp := kmsg.NewProduceResponseTopicPartition()
	failProduce(&sp, err)
	assert.Equal(t, kerr.InvalidTimestamp.Code, sp.ErrorCode)
	require.Len(t, sp.ErrorRecords, 1)
	assert.Equal(t, int32(2), sp.ErrorRecords[0].RelativeOffset)
	assert.Equal(t, "too old", *sp.ErrorRecords[0].ErrorMessage)
	assert.Equal(t, int64(-1), sp.BaseOffset)

	sp = kmsg.NewProduceResponseTopicPartition()
	failProduce(&sp, fmt.Errorf("x: %w", &storage.RecordsRefusedError{Err: storage.ErrInvalidRecord, Records: []storage.RecordError{{Index: 0}}}))
	assert.Equal(t, kerr.InvalidRecord.Code, sp.ErrorCode)
}
