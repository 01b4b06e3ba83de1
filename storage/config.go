package storage

import (
	"math"
	"math/rand/v2"
)

// TimestampType is message.timestamp.type.
type TimestampType int8

// The two timestamp types; the value is attributes bit 3 of a batch.
const (
	CreateTime    TimestampType = 0
	LogAppendTime TimestampType = 1
)

// Config holds one log's settings; the Kafka topic-config name is given per
// field. Zero values are not defaults: start from DefaultConfig.
type Config struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          int64         // segment.ms: roll once the active segment's first batch is older
	RetentionMs        int64         // retention.ms (-1 = infinite)
	RetentionBytes     int64         // retention.bytes (-1 = infinite)
	FlushMessages      int64         // flush.messages: fsync after this many records
	FlushMs            int64         // flush.ms: fsync when the last flush is older (checked by Manager.Run)
	IndexIntervalBytes int32         // index.interval.bytes
	SegmentIndexBytes  int32         // segment.index.bytes: roll when an index holds this many bytes
	MaxMessageBytes    int32         // max.message.bytes: largest batch accepted
	TimestampType      TimestampType // message.timestamp.type
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms:
	// with CreateTime, a record whose timestamp is further than this in
	// the past or the future of the leader's clock is refused.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// Compression is compression.type: the codec the leader stores
	// batches with, recompressing those that differ; the zero value,
	// CompressionProducer, keeps what the producer sent.
	Compression Compression
	// GzipLevel, LZ4Level and ZstdLevel are compression.gzip.level,
	// compression.lz4.level and compression.zstd.level (KIP-390), used
	// when the leader recompresses.
	GzipLevel int32
	LZ4Level  int32
	ZstdLevel int32
	// SegmentJitterMs is segment.jitter.ms: each segment draws a random
	// jitter in [0, min(SegmentJitterMs, SegmentMs)) when it is opened and
	// rolls that much earlier than segment.ms, so partitions created
	// together do not all roll at once.
	SegmentJitterMs int64
	// Preallocate is preallocate: a new active segment's file is grown to
	// segment.bytes up front (sparse, as Kafka's setLength) and cut back to
	// its content when the segment is rolled or the log closed; recovery
	// after a crash cuts the zero-filled tail.
	Preallocate bool
	// FileDeleteDelayMs is file.delete.delay.ms: the files of a segment
	// that retention or DeleteRecords removed are renamed *.deleted and
	// deleted this much later (at once when 0).
	FileDeleteDelayMs int64
	// CompactOnly is cleanup.policy=compact without delete: as in Kafka,
	// retention.ms and retention.bytes delete nothing.
	CompactOnly bool
	// Compact is cleanup.policy containing compact (alone or with
	// delete): the log cleaner keeps the latest record per key, and a
	// record without a key is refused.
	Compact                bool
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	DeleteRetentionMs      int64   // delete.retention.ms: how long a tombstone outlives its cleaning
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1073741824,
		SegmentMs:          604800000,
		RetentionMs:        604800000,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10485760,
		MaxMessageBytes:    1048588,
		TimestampType:      CreateTime,
		FileDeleteDelayMs:  60000,

		TimestampBeforeMaxMs: math.MaxInt64,
		TimestampAfterMaxMs:  3600000, // an hour, since Kafka 4.0 (KIP-1030)
		GzipLevel:            GzipDefaultLevel,
		LZ4Level:             LZ4DefaultLevel,
		ZstdLevel:            ZstdDefaultLevel,

		MinCleanableDirtyRatio: 0.5,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      86400000,
	}
}

// normalized guards against settings that would make the log misbehave
// (a zero segment size rolling on every append, an index of zero entries).
func (c Config) normalized() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 1073741824
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = math.MaxInt64
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = 1
	}
	if c.FlushMs < 0 {
		c.FlushMs = 0
	}
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = 0
	}
	if c.SegmentIndexBytes < 4*offsetIndexEntrySize {
		c.SegmentIndexBytes = 4 * offsetIndexEntrySize
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1048588
	}
	c.TimestampBeforeMaxMs = max(c.TimestampBeforeMaxMs, 0)
	c.TimestampAfterMaxMs = max(c.TimestampAfterMaxMs, 0)
	c.SegmentJitterMs = max(c.SegmentJitterMs, 0)
	// Kafka's LogConfig.maxSegmentMs: a compacted log's active segment
	// rolls within max.compaction.lag.ms, so the cleaner can reach it.
	if c.Compact && c.MaxCompactionLagMs > 0 && c.MaxCompactionLagMs < c.SegmentMs {
		c.SegmentMs = c.MaxCompactionLagMs
	}
	return c
}

// randomSegmentJitter draws a new segment's roll jitter, as Kafka's
// LogConfig.randomSegmentJitter: uniform in [0, min(segment.jitter.ms,
// segment.ms)).
func (c *Config) randomSegmentJitter() int64 {
	if c.SegmentJitterMs <= 0 || c.SegmentMs <= 0 {
		return 0
	}
	return rand.Int64N(min(c.SegmentJitterMs, c.SegmentMs))
}
