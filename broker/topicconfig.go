package broker

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/storage"
	"github.com/kafkad/kafkad/storage/codec"
)

// errInvalidConfig is wrapped by every topic config validation failure.
var errInvalidConfig = errors.New("broker: invalid config")

// topicConfig describes one topic-level config Kafka users can set: its
// type, the broker key that supplies its default, and how it lands in the
// log's settings (nil apply: stored and described, not acted on yet).
type topicConfig struct {
	name      string
	typ       kmsg.ConfigType
	brokerKey string
	def       func(c *Config) string
	apply     func(lc *storage.Config, v string) error
	doc       string
	// internal: a testing aid Kafka keeps out of DescribeConfigs, applied
	// after every other override.
	internal bool
}

// minSegmentBytes is segment.bytes' and log.segment.bytes' minimum since
// Kafka 4.0 (KIP-1030); internal.segment.bytes goes below it.
const minSegmentBytes = 1 << 20

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func constDef(v string) func(*Config) string { return func(*Config) string { return v } }

func parseLong(v string, min int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a number", errInvalidConfig, v)
	}
	if n < min {
		return 0, fmt.Errorf("%w: %d is below the minimum %d", errInvalidConfig, n, min)
	}
	return n, nil
}

func longSetter(min int64, set func(lc *storage.Config, n int64)) func(*storage.Config, string) error {
	return func(lc *storage.Config, v string) error {
		n, err := parseLong(v, min)
		if err != nil {
			return err
		}
		set(lc, n)
		return nil
	}
}

func intSetter(min int64, set func(lc *storage.Config, n int32)) func(*storage.Config, string) error {
	return func(lc *storage.Config, v string) error {
		n, err := parseLong(v, min)
		if err != nil {
			return err
		}
		if n > math.MaxInt32 {
			return fmt.Errorf("%w: %d is above the maximum %d", errInvalidConfig, n, math.MaxInt32)
		}
		set(lc, int32(n))
		return nil
	}
}

func oneOf(values ...string) func(*storage.Config, string) error {
	return func(_ *storage.Config, v string) error {
		for _, item := range strings.Split(v, ",") {
			if !contains(values, strings.TrimSpace(item)) {
				return fmt.Errorf("%w: %q is not one of %s", errInvalidConfig, v, strings.Join(values, ", "))
			}
		}
		return nil
	}
}

// cleanupPolicy applies cleanup.policy: a list of delete and compact.
// Compact alone turns retention off, as in Kafka.
func cleanupPolicy(lc *storage.Config, v string) error {
	if err := oneOf("delete", "compact")(lc, v); err != nil {
		return err
	}
	lc.CompactOnly = !contains(splitList(v), "delete")
	lc.Compact = contains(splitList(v), "compact")
	return nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func anyLong(min int64) func(*storage.Config, string) error {
	return func(_ *storage.Config, v string) error { _, err := parseLong(v, min); return err }
}

// parseBool reads a boolean as Kafka's ConfigDef does: true or false in
// any case, nothing else.
func parseBool(v string) (bool, error) {
	switch v = strings.TrimSpace(v); {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean (true or false)", errInvalidConfig, v)
}

func anyBool(_ *storage.Config, v string) error {
	_, err := parseBool(v)
	return err
}

func boolSetter(set func(lc *storage.Config, b bool)) func(*storage.Config, string) error {
	return func(lc *storage.Config, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		set(lc, b)
		return nil
	}
}

// onlyFalse accepts a boolean whose true would need a feature kafkad does
// not have; why says which.
func onlyFalse(why string) func(*storage.Config, string) error {
	return func(_ *storage.Config, v string) error {
		b, err := parseBool(v)
		if err == nil && b {
			err = fmt.Errorf("%w: true is not supported: %s", errInvalidConfig, why)
		}
		return err
	}
}

// onlyDefault accepts a long config only at its default value def; why
// says what any other value would need.
func onlyDefault(def int64, why string) func(*storage.Config, string) error {
	return func(_ *storage.Config, v string) error {
		n, err := parseLong(v, math.MinInt64)
		if err == nil && n != def {
			err = fmt.Errorf("%w: only %d is supported: %s", errInvalidConfig, def, why)
		}
		return err
	}
}

// noTieredStorage explains the refused tiered storage settings.
const noTieredStorage = "it applies to tiered storage (remote.storage.enable), which kafkad does not have"

// compressionType applies compression.type.
func compressionType(lc *storage.Config, v string) error {
	c, ok := storage.ParseCompression(strings.TrimSpace(v))
	if !ok {
		return fmt.Errorf("%w: %q is not one of producer, uncompressed, gzip, snappy, lz4, zstd", errInvalidConfig, v)
	}
	lc.Compression = c
	return nil
}

// throttledReplicas validates a throttled replicas list (throttle.go
// applies it).
func throttledReplicas(name string) func(*storage.Config, string) error {
	return func(_ *storage.Config, v string) error {
		if !validThrottledReplicas(v) {
			return throttledReplicasError(name)
		}
		return nil
	}
}

// levelSetter applies a compression.<codec>.level: a level in [lo, hi],
// or also, for gzip, -1 (the library default).
func levelSetter(lo, hi int64, minusOne bool, set func(lc *storage.Config, n int32)) func(*storage.Config, string) error {
	return func(lc *storage.Config, v string) error {
		n, err := parseLong(v, math.MinInt64)
		if err != nil {
			return err
		}
		if (n < lo || n > hi) && !(minusOne && n == -1) {
			return fmt.Errorf("%w: level %d is not in [%d, %d]", errInvalidConfig, n, lo, hi)
		}
		set(lc, int32(n))
		return nil
	}
}

// topicConfigs is every topic config kafkad accepts, sorted by name.
var topicConfigs = []topicConfig{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, brokerKey: "log.cleanup.policy",
		def:   func(c *Config) string { return c.CleanupPolicy },
		apply: cleanupPolicy, doc: "delete (retention), compact (the log cleaner keeps the latest record per key), or both; compact alone turns retention off"},
	{name: "compression.gzip.level", typ: kmsg.ConfigTypeInt, brokerKey: "compression.gzip.level",
		def:   func(c *Config) string { return itoa(int64(c.Log.GzipLevel)) },
		apply: levelSetter(codec.GzipMinLevel, codec.GzipMaxLevel, true, func(lc *storage.Config, n int32) { lc.GzipLevel = n }), doc: "gzip level (1-9, -1 default) when the broker recompresses to gzip"},
	{name: "compression.lz4.level", typ: kmsg.ConfigTypeInt, brokerKey: "compression.lz4.level",
		def:   func(c *Config) string { return itoa(int64(c.Log.LZ4Level)) },
		apply: levelSetter(codec.LZ4MinLevel, codec.LZ4MaxLevel, false, func(lc *storage.Config, n int32) { lc.LZ4Level = n }), doc: "lz4 level (1-17) when the broker recompresses to lz4"},
	{name: "compression.type", typ: kmsg.ConfigTypeString, brokerKey: "compression.type",
		def:   func(c *Config) string { return c.CompressionType },
		apply: compressionType, doc: "final compression of the topic's batches: the leader recompresses batches in another codec; producer keeps what the producer sent"},
	{name: "compression.zstd.level", typ: kmsg.ConfigTypeInt, brokerKey: "compression.zstd.level",
		def:   func(c *Config) string { return itoa(int64(c.Log.ZstdLevel)) },
		apply: levelSetter(codec.ZstdMinLevel, codec.ZstdMaxLevel, false, func(lc *storage.Config, n int32) { lc.ZstdLevel = n }), doc: "zstd level when the broker recompresses to zstd"},
	{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.cleaner.delete.retention.ms",
		def:   func(c *Config) string { return itoa(c.Log.DeleteRetentionMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.DeleteRetentionMs = n }), doc: "how long a tombstone stays readable after its log is cleaned"},
	{name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.segment.delete.delay.ms",
		def:   func(c *Config) string { return itoa(c.Log.FileDeleteDelayMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.FileDeleteDelayMs = n }), doc: "how long a removed segment's files wait, renamed *.deleted, before they are deleted"},
	{name: "flush.messages", typ: kmsg.ConfigTypeLong, brokerKey: "log.flush.interval.messages",
		def:   func(c *Config) string { return itoa(c.Log.FlushMessages) },
		apply: longSetter(1, func(lc *storage.Config, n int64) { lc.FlushMessages = n }), doc: "fsync after this many records"},
	{name: "flush.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.flush.interval.ms",
		def:   func(c *Config) string { return itoa(c.Log.FlushMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.FlushMs = n }), doc: "fsync at least this often"},
	{name: "follower.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: constDef(""), apply: throttledReplicas("follower.replication.throttled.replicas"),
		doc: "replicas (partition:broker, or *) whose fetching this follower throttles to follower.replication.throttled.rate while out of sync"},
	{name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "log.index.interval.bytes",
		def:   func(c *Config) string { return itoa(int64(c.Log.IndexIntervalBytes)) },
		apply: intSetter(0, func(lc *storage.Config, n int32) { lc.IndexIntervalBytes = n }), doc: "bytes of records between offset index entries"},
	{name: "internal.segment.bytes", typ: kmsg.ConfigTypeInt, internal: true,
		def:   func(c *Config) string { return itoa(c.Log.SegmentBytes) },
		apply: intSetter(14, func(lc *storage.Config, n int32) { lc.SegmentBytes = int64(n) }),
		doc:   "for tests, as Kafka's internal config: segment.bytes without its 1 MiB minimum; not shown by DescribeConfigs"},
	{name: "leader.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: constDef(""), apply: throttledReplicas("leader.replication.throttled.replicas"),
		doc: "replicas (partition:broker, or *) whose leader throttles out-of-sync followers to leader.replication.throttled.rate"},
	{name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, brokerKey: "log.local.retention.bytes", def: constDef("-2"), apply: onlyDefault(-2, noTieredStorage), doc: "tiered storage's local retention: only -2 (use retention.bytes) is accepted"},
	{name: "local.retention.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.local.retention.ms", def: constDef("-2"), apply: onlyDefault(-2, noTieredStorage), doc: "tiered storage's local retention: only -2 (use retention.ms) is accepted"},
	{name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.cleaner.max.compaction.lag.ms",
		def:   func(c *Config) string { return itoa(c.Log.MaxCompactionLagMs) },
		apply: longSetter(1, func(lc *storage.Config, n int64) { lc.MaxCompactionLagMs = n }), doc: "a record stays uncompacted at most this long"},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "message.max.bytes",
		def:   func(c *Config) string { return itoa(int64(c.Log.MaxMessageBytes)) },
		apply: intSetter(0, func(lc *storage.Config, n int32) { lc.MaxMessageBytes = n }), doc: "largest record batch the topic accepts"},
	{name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.message.timestamp.after.max.ms",
		def:   func(c *Config) string { return itoa(c.Log.TimestampAfterMaxMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.TimestampAfterMaxMs = n }), doc: "with CreateTime, refuse records timestamped further than this ahead of the broker's clock"},
	{name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.message.timestamp.before.max.ms",
		def:   func(c *Config) string { return itoa(c.Log.TimestampBeforeMaxMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.TimestampBeforeMaxMs = n }), doc: "with CreateTime, refuse records timestamped further than this behind the broker's clock"},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, brokerKey: "log.message.timestamp.type",
		def: func(c *Config) string {
			if c.Log.TimestampType == storage.LogAppendTime {
				return "LogAppendTime"
			}
			return "CreateTime"
		},
		apply: func(lc *storage.Config, v string) error {
			switch v {
			case "CreateTime":
				lc.TimestampType = storage.CreateTime
			case "LogAppendTime":
				lc.TimestampType = storage.LogAppendTime
			default:
				return fmt.Errorf("%w: %q is not CreateTime or LogAppendTime", errInvalidConfig, v)
			}
			return nil
		}, doc: "CreateTime (the producer's) or LogAppendTime (the broker's)"},
	{name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, brokerKey: "log.cleaner.min.cleanable.ratio",
		def: func(c *Config) string { return strconv.FormatFloat(c.Log.MinCleanableDirtyRatio, 'g', -1, 64) },
		apply: func(lc *storage.Config, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				return fmt.Errorf("%w: %q is not a number between 0 and 1", errInvalidConfig, v)
			}
			lc.MinCleanableDirtyRatio = f
			return nil
		}, doc: "clean a log once this share of it has not been cleaned"},
	{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.cleaner.min.compaction.lag.ms",
		def:   func(c *Config) string { return itoa(c.Log.MinCompactionLagMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.MinCompactionLagMs = n }), doc: "a record stays uncompacted at least this long"},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, brokerKey: "min.insync.replicas",
		def: func(c *Config) string { return itoa(int64(c.MinInsyncReplicas)) }, apply: intSetter(1, func(*storage.Config, int32) {}),
		doc: "acks=all produce needs this many in-sync replicas"},
	{name: "preallocate", typ: kmsg.ConfigTypeBoolean, brokerKey: "log.preallocate",
		def:   func(c *Config) string { return strconv.FormatBool(c.Log.Preallocate) },
		apply: boolSetter(func(lc *storage.Config, b bool) { lc.Preallocate = b }), doc: "grow a new segment file to segment.bytes up front"},
	{name: "remote.log.copy.disable", typ: kmsg.ConfigTypeBoolean, def: constDef("false"), apply: onlyFalse(noTieredStorage), doc: "tiered storage: only false is accepted"},
	{name: "remote.log.delete.on.disable", typ: kmsg.ConfigTypeBoolean, def: constDef("false"), apply: onlyFalse(noTieredStorage), doc: "tiered storage: only false is accepted"},
	{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, def: constDef("false"), apply: onlyFalse("kafkad has no tiered storage"), doc: "tiered storage: only false is accepted"},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, brokerKey: "log.retention.bytes",
		def:   func(c *Config) string { return itoa(c.Log.RetentionBytes) },
		apply: longSetter(-1, func(lc *storage.Config, n int64) { lc.RetentionBytes = n }), doc: "delete old segments once the partition is larger; -1 unlimited"},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.retention.ms",
		def:   func(c *Config) string { return itoa(c.Log.RetentionMs) },
		apply: longSetter(-1, func(lc *storage.Config, n int64) { lc.RetentionMs = n }), doc: "delete segments older than this; -1 forever"},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "log.segment.bytes",
		def:   func(c *Config) string { return itoa(c.Log.SegmentBytes) },
		apply: longSetter(minSegmentBytes, func(lc *storage.Config, n int64) { lc.SegmentBytes = n }), doc: "roll a new segment at this size (at least 1 MiB)"},
	{name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "log.index.size.max.bytes",
		def:   func(c *Config) string { return itoa(int64(c.Log.SegmentIndexBytes)) },
		apply: intSetter(8, func(lc *storage.Config, n int32) { lc.SegmentIndexBytes = n }), doc: "largest offset or time index file; the segment rolls when full"},
	{name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.roll.jitter.ms",
		def:   func(c *Config) string { return itoa(c.Log.SegmentJitterMs) },
		apply: longSetter(0, func(lc *storage.Config, n int64) { lc.SegmentJitterMs = n }), doc: "each segment rolls a random time up to this much before segment.ms"},
	{name: "segment.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.roll.ms",
		def:   func(c *Config) string { return itoa(c.Log.SegmentMs) },
		apply: longSetter(1, func(lc *storage.Config, n int64) { lc.SegmentMs = n }), doc: "roll a new segment after this long"},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, brokerKey: "unclean.leader.election.enable",
		def: func(c *Config) string { return strconv.FormatBool(c.UncleanLeaderElection) }, apply: anyBool,
		doc: "when no in-sync replica is live, elect an out-of-sync one (records may be lost)"},
}

func lookupTopicConfig(name string) (*topicConfig, bool) {
	i := sort.Search(len(topicConfigs), func(i int) bool { return topicConfigs[i].name >= name })
	if i < len(topicConfigs) && topicConfigs[i].name == name {
		return &topicConfigs[i], true
	}
	return nil, false
}

// validateTopicConfigs checks every override's name and value.
func validateTopicConfigs(configs map[string]string) error {
	var scratch storage.Config
	for k, v := range configs {
		tc, ok := lookupTopicConfig(k)
		if !ok {
			return fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, k)
		}
		if err := tc.apply(&scratch, v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// logConfig overlays a topic's overrides on the broker's log defaults.
// Overrides were validated when stored; a bad one is skipped, not fatal.
func (c *Config) logConfig(overrides map[string]string) storage.Config {
	lc := c.Log
	if comp, ok := storage.ParseCompression(c.CompressionType); ok {
		lc.Compression = comp
	}
	for _, internal := range []bool{false, true} {
		for k, v := range overrides {
			if tc, ok := lookupTopicConfig(k); ok && tc.internal == internal {
				_ = tc.apply(&lc, v)
			}
		}
	}
	return lc
}

// uncleanElection is the effective unclean.leader.election.enable of a
// topic.
func (c *Config) uncleanElection(overrides map[string]string) bool {
	if v, ok := overrides["unclean.leader.election.enable"]; ok {
		if b, err := parseBool(v); err == nil {
			return b
		}
	}
	return c.UncleanLeaderElection
}

// minInsync is the effective min.insync.replicas of a topic.
func (c *Config) minInsync(overrides map[string]string) int32 {
	if v, ok := overrides["min.insync.replicas"]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n)
		}
	}
	return c.MinInsyncReplicas
}
