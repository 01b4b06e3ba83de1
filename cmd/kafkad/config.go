package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kafkad/kafkad/broker"
)

// Sentinels of LoadConfig. Every error it returns wraps one of them.
var (
	// ErrHelp means --help was given; the help text has been printed.
	ErrHelp = errors.New("config: help requested")
	// ErrUnknownKey names a key or flag kafkad does not know; failing start-up
	// beats silently ignoring a typo such as log.retention.hour.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrInvalidValue is a value that does not parse or is out of range.
	ErrInvalidValue = errors.New("config: invalid value")
	// ErrSyntax is a malformed properties file or command line.
	ErrSyntax = errors.New("config: syntax error")
)

// Listener is one endpoint from listeners or advertised.listeners. It has
// broker.Listener's exact fields so main can convert with broker.Listener(l).
type Listener struct {
	Name string // listener name, upper case (e.g. PLAINTEXT)
	Host string // empty: every interface (listeners) or the host name (advertised)
	Port int32  // 0 in listeners: any free port
}

// String renders the listener the way Kafka writes it.
func (l Listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
}

// Config is kafkad's typed configuration. Per-log settings keep Kafka's
// units (ms, bytes; -1 means unlimited) because topic configs override them
// in the same units.
type Config struct {
	BrokerID            int32      // broker.id (alias node.id)
	Rack                string     // broker.rack
	Listeners           []Listener // listeners
	AdvertisedListeners []Listener // advertised.listeners (default: listeners)
	LogDirs             []string   // log.dirs, else log.dir

	NumPartitions            int32 // num.partitions
	DefaultReplicationFactor int16 // default.replication.factor
	AutoCreateTopicsEnable   bool  // auto.create.topics.enable
	DeleteTopicEnable        bool  // delete.topic.enable
	MinInsyncReplicas        int32 // min.insync.replicas

	LogSegmentBytes           int32         // log.segment.bytes
	LogRollMs                 int64         // log.roll.ms, else log.roll.hours
	LogRetentionMs            int64         // log.retention.ms/.minutes/.hours; -1 forever
	LogRetentionBytes         int64         // log.retention.bytes; -1 unlimited
	LogRetentionCheckInterval time.Duration // log.retention.check.interval.ms
	LogFlushIntervalMessages  int64         // log.flush.interval.messages
	LogFlushIntervalMs        int64         // log.flush.interval.ms (unset: math.MaxInt64)
	LogIndexIntervalBytes     int32         // log.index.interval.bytes
	LogIndexSizeMaxBytes      int32         // log.index.size.max.bytes
	LogMessageTimestampType   string        // log.message.timestamp.type: CreateTime or LogAppendTime
	LogCleanupPolicy          string        // log.cleanup.policy: delete, compact or both, comma separated
	CompressionType           string        // compression.type
	LogSegmentDeleteDelayMs   int64         // log.segment.delete.delay.ms (alias file.delete.delay.ms)

	// Defaults of the topic configs that act on append.
	LogMessageTimestampBeforeMaxMs int64 // log.message.timestamp.before.max.ms
	LogMessageTimestampAfterMaxMs  int64 // log.message.timestamp.after.max.ms
	LogRollJitterMs                int64 // log.roll.jitter.ms, else log.roll.jitter.hours
	LogPreallocate                 bool  // log.preallocate
	CompressionGzipLevel           int32 // compression.gzip.level
	CompressionLZ4Level            int32 // compression.lz4.level
	CompressionZstdLevel           int32 // compression.zstd.level
	UncleanLeaderElectionEnable    bool  // unclean.leader.election.enable

	LogCleanerEnable              bool    // log.cleaner.enable
	LogCleanerThreads             int32   // log.cleaner.threads
	LogCleanerBackoffMs           int64   // log.cleaner.backoff.ms
	LogCleanerDedupeBufferSize    int64   // log.cleaner.dedupe.buffer.size
	LogCleanerIOBufferSize        int32   // log.cleaner.io.buffer.size
	LogCleanerIOBufferLoadFactor  float64 // log.cleaner.io.buffer.load.factor
	LogCleanerIOMaxBytesPerSecond float64 // log.cleaner.io.max.bytes.per.second
	LogCleanerDeleteRetentionMs   int64   // log.cleaner.delete.retention.ms
	LogCleanerMinCleanableRatio   float64 // log.cleaner.min.cleanable.ratio
	LogCleanerMinCompactionLagMs  int64   // log.cleaner.min.compaction.lag.ms
	LogCleanerMaxCompactionLagMs  int64   // log.cleaner.max.compaction.lag.ms

	MessageMaxBytes       int32 // message.max.bytes
	SocketRequestMaxBytes int32 // socket.request.max.bytes

	MaxConnections               int32         // max.connections
	MaxConnectionsPerIP          int32         // max.connections.per.ip
	MaxConnectionCreationRate    int32         // max.connection.creation.rate
	MaxConnectionsPerIPOverrides string        // max.connections.per.ip.overrides
	ConnectionsMaxIdle           time.Duration // connections.max.idle.ms
	QueuedMaxRequests            int32         // queued.max.requests

	AutoLeaderRebalance          bool          // auto.leader.rebalance.enable
	LeaderImbalanceCheckInterval time.Duration // leader.imbalance.check.interval.seconds
	ReplicaLagTimeMax            time.Duration // replica.lag.time.max.ms
	ReplicaFetchWaitMax          time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchBackoff          time.Duration // replica.fetch.backoff.ms

	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms
	GroupMaxSize                  int32         // group.max.size
	OffsetMetadataMaxBytes        int32         // offset.metadata.max.bytes
	OffsetsTopicNumPartitions     int32         // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms

	TransactionMaxTimeout            time.Duration // transaction.max.timeout.ms
	TransactionAbortCheckInterval    time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	TransactionalIDExpiration        time.Duration // transactional.id.expiration.ms
	TransactionRemoveExpiredInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	TransactionStatePartitions       int32         // transaction.state.log.num.partitions
	TransactionStateReplication      int16         // transaction.state.log.replication.factor
	TransactionStateMinIsr           int32         // transaction.state.log.min.isr

	// KIP-848 consumer groups.
	GroupConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	GroupConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	GroupConsumerAssignors         []string      // group.consumer.assignors: uniform, range
	GroupConsumerMaxSize           int32         // group.consumer.max.size

	EtcdEndpoints         []string      // etcd.endpoints; empty: start an embedded etcd
	EtcdEmbeddedClientURL string        // etcd.embedded.client.url
	EtcdEmbeddedPeerURL   string        // etcd.embedded.peer.url
	EtcdPrefix            string        // etcd.prefix
	BrokerSessionTimeout  time.Duration // broker.session.timeout.ms: registration lease TTL

	// Static holds every key given in the file or as a flag (canonical
	// name, trimmed value), for DescribeConfigs on the broker resource.
	Static map[string]string
	// Ignored lists the keys that were given and are accepted only so that
	// Kafka's stock server.properties loads; main logs them.
	Ignored []string
	// Warnings are settings accepted but not acted on yet; main logs them.
	Warnings []string
	// SASL are the SASL_PLAINTEXT listeners by name (see sasl.go).
	SASL map[string]SASLListener
	// AddScram are the --add-scram credentials to store if absent.
	AddScram []ScramAdd
	// ConnectionsMaxReauthMs is connections.max.reauth.ms (KIP-368, 0).
	ConnectionsMaxReauthMs int64
	// InterBroker is inter.broker.listener.name and its SASL login.
	InterBroker InterBrokerConfig
}

// option is one configuration key. The table of options drives parsing,
// defaults and --help, so a key cannot be added to one and missed in another.
type option struct {
	key     string
	aliases []string
	def     string // applied when the key is not given; "" leaves it unset
	defDoc  string // --help's description of the default when def is not enough
	doc     string
	set     func(b *builder, v string) error
}

// builder collects values whose final meaning depends on other keys
// (Kafka's precedence rules), resolved once every key has been set.
type builder struct {
	cfg                     Config
	logDirs, logDir         []string
	rollMs, rollHours       *int64
	jitterMs, jitterHours   *int64
	retMs, retMin, retHours *int64
	flushMs                 *int64
	advertised              []Listener
	protocolMap             map[string]string
	controllerNames         []string
	saslListeners           []string
}

var options = []option{
	{key: "broker.id", aliases: []string{"node.id"}, def: "1", doc: "this broker's id, unique in the cluster",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.BrokerID })},
	{key: "broker.rack", doc: "rack of this broker, reported in metadata",
		set: func(b *builder, v string) error { b.cfg.Rack = v; return nil }},
	{key: "listeners", def: "PLAINTEXT://:9092", doc: "comma list of NAME://host:port to listen on; empty host: every interface, port 0: any free port",
		set: func(b *builder, v string) (err error) { b.cfg.Listeners, err = parseListeners(v); return err }},
	{key: "advertised.listeners", defDoc: "the listeners", doc: "comma list of NAME://host:port clients are told to connect to",
		set: func(b *builder, v string) (err error) { b.advertised, err = parseListeners(v); return err }},
	{key: "listener.security.protocol.map", doc: "comma list of NAME:PROTOCOL; PLAINTEXT and SASL_PLAINTEXT (no TLS yet)",
		set: func(b *builder, v string) (err error) { b.protocolMap, err = parseProtocolMap(v); return err }},
	{key: "controller.listener.names", doc: "listeners used by a KRaft controller; kafkad has none and drops them",
		set: func(b *builder, v string) error { b.controllerNames = upperList(v); return nil }},
	{key: "log.dirs", defDoc: "log.dir", doc: "comma list of directories holding partition logs",
		set: dirList(func(b *builder) *[]string { return &b.logDirs })},
	{key: "log.dir", def: "/tmp/kafka-logs", doc: "the log directory when log.dirs is not set",
		set: dirList(func(b *builder) *[]string { return &b.logDir })},

	{key: "num.partitions", def: "1", doc: "partitions of an auto-created topic or a CreateTopics without a count",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.NumPartitions })},
	{key: "default.replication.factor", def: "1", doc: "replication factor of auto-created topics",
		set: intField(16, 1, func(b *builder) *int16 { return &b.cfg.DefaultReplicationFactor })},
	{key: "auto.create.topics.enable", def: "true", doc: "create a topic on first metadata request or produce to it",
		set: boolField(func(b *builder) *bool { return &b.cfg.AutoCreateTopicsEnable })},
	{key: "delete.topic.enable", def: "true", doc: "allow DeleteTopics",
		set: boolField(func(b *builder) *bool { return &b.cfg.DeleteTopicEnable })},
	{key: "min.insync.replicas", def: "1", doc: "replicas that must have a record before acks=all succeeds",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.MinInsyncReplicas })},

	{key: "log.segment.bytes", def: "1073741824", doc: "roll a new segment at this size (at least 1 MiB, as Kafka 4)",
		set: intField(32, 1<<20, func(b *builder) *int32 { return &b.cfg.LogSegmentBytes })},
	{key: "log.roll.ms", defDoc: "log.roll.hours", doc: "roll a new segment after this many ms",
		set: optionalLong(1, func(b *builder) **int64 { return &b.rollMs })},
	{key: "log.roll.hours", def: "168", doc: "roll a new segment after this many hours",
		set: optionalLong(1, func(b *builder) **int64 { return &b.rollHours })},
	{key: "log.retention.ms", defDoc: "log.retention.minutes", doc: "delete segments older than this many ms; -1 forever",
		set: optionalLong(math.MinInt64, func(b *builder) **int64 { return &b.retMs })},
	{key: "log.retention.minutes", defDoc: "log.retention.hours", doc: "delete segments older than this many minutes",
		set: optionalLong(math.MinInt64, func(b *builder) **int64 { return &b.retMin })},
	{key: "log.retention.hours", def: "168", doc: "delete segments older than this many hours",
		set: optionalLong(math.MinInt64, func(b *builder) **int64 { return &b.retHours })},
	{key: "log.retention.bytes", def: "-1", doc: "delete old segments once a partition is larger; -1 unlimited",
		set: intField(64, -1, func(b *builder) *int64 { return &b.cfg.LogRetentionBytes })},
	{key: "log.retention.check.interval.ms", def: "300000", doc: "how often retention runs",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.LogRetentionCheckInterval })},
	{key: "log.flush.interval.messages", def: strconv.FormatInt(math.MaxInt64, 10), doc: "fsync a partition after this many records",
		set: intField(64, 1, func(b *builder) *int64 { return &b.cfg.LogFlushIntervalMessages })},
	{key: "log.flush.interval.ms", defDoc: "never by time", doc: "fsync a partition at least this often",
		set: optionalLong(0, func(b *builder) **int64 { return &b.flushMs })},
	{key: "log.index.interval.bytes", def: "4096", doc: "bytes of records between offset index entries",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.LogIndexIntervalBytes })},
	{key: "log.index.size.max.bytes", def: "10485760", doc: "largest offset or time index file; the segment rolls when full",
		set: intField(32, 8, func(b *builder) *int32 { return &b.cfg.LogIndexSizeMaxBytes })},
	{key: "log.message.timestamp.type", def: "CreateTime", doc: "CreateTime (the producer's) or LogAppendTime (the broker's)",
		set: oneOfField(func(b *builder) *string { return &b.cfg.LogMessageTimestampType }, "CreateTime", "LogAppendTime")},
	{key: "log.cleanup.policy", def: "delete", doc: "delete (retention) and/or compact (the log cleaner keeps the latest record per key)",
		set: setCleanupPolicy},
	{key: "compression.type", def: "producer", doc: "producer (keep what the producer sent), uncompressed, gzip, snappy, lz4 or zstd",
		set: oneOfField(func(b *builder) *string { return &b.cfg.CompressionType }, "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	{key: "log.message.timestamp.before.max.ms", def: strconv.FormatInt(math.MaxInt64, 10), doc: "with CreateTime, refuse records timestamped further than this many ms behind the broker's clock",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogMessageTimestampBeforeMaxMs })},
	{key: "log.message.timestamp.after.max.ms", def: "3600000", doc: "with CreateTime, refuse records timestamped further than this many ms ahead of the broker's clock",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogMessageTimestampAfterMaxMs })},
	{key: "log.roll.jitter.ms", defDoc: "log.roll.jitter.hours", doc: "each segment rolls a random time up to this many ms before log.roll.ms",
		set: optionalLong(0, func(b *builder) **int64 { return &b.jitterMs })},
	{key: "log.roll.jitter.hours", def: "0", doc: "log.roll.jitter.ms in hours",
		set: optionalLong(0, func(b *builder) **int64 { return &b.jitterHours })},
	{key: "log.preallocate", def: "false", doc: "grow a new segment file to log.segment.bytes up front",
		set: boolField(func(b *builder) *bool { return &b.cfg.LogPreallocate })},
	{key: "compression.gzip.level", def: "-1", doc: "gzip level (1-9, -1 the default) when the broker recompresses to gzip",
		set: levelField(1, 9, true, func(b *builder) *int32 { return &b.cfg.CompressionGzipLevel })},
	{key: "compression.lz4.level", def: "9", doc: "lz4 level (1-17) when the broker recompresses to lz4",
		set: levelField(1, 17, false, func(b *builder) *int32 { return &b.cfg.CompressionLZ4Level })},
	{key: "compression.zstd.level", def: "3", doc: "zstd level (-131072-22) when the broker recompresses to zstd",
		set: levelField(-131072, 22, false, func(b *builder) *int32 { return &b.cfg.CompressionZstdLevel })},
	{key: "unclean.leader.election.enable", def: "false", doc: "when no in-sync replica of a partition is live, elect an out-of-sync one (records may be lost)",
		set: boolField(func(b *builder) *bool { return &b.cfg.UncleanLeaderElectionEnable })},
	{key: "log.segment.delete.delay.ms", aliases: []string{"file.delete.delay.ms"}, def: "60000", doc: "wait this long before deleting a removed segment's files",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogSegmentDeleteDelayMs })},
	{key: "log.cleaner.enable", def: "true", doc: "run the log cleaner, which compacts topics whose cleanup.policy has compact",
		set: boolField(func(b *builder) *bool { return &b.cfg.LogCleanerEnable })},
	{key: "log.cleaner.threads", def: "1", doc: "log cleaner threads",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.LogCleanerThreads })},
	{key: "log.cleaner.backoff.ms", def: "15000", doc: "how long the cleaner sleeps when no log needs cleaning",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogCleanerBackoffMs })},
	{key: "log.cleaner.dedupe.buffer.size", def: "134217728", doc: "memory for the cleaner's key maps, over all cleaner threads",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogCleanerDedupeBufferSize })},
	{key: "log.cleaner.io.buffer.size", def: "524288", doc: "the cleaner's read and write buffer memory, over all cleaner threads",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.LogCleanerIOBufferSize })},
	{key: "log.cleaner.io.buffer.load.factor", def: "0.9", doc: "how full the cleaner's key map may get",
		set: floatField(0, 1, func(b *builder) *float64 { return &b.cfg.LogCleanerIOBufferLoadFactor })},
	{key: "log.cleaner.io.max.bytes.per.second", def: strconv.FormatFloat(math.MaxFloat64, 'g', -1, 64), doc: "cap on the cleaner's read plus write rate",
		set: floatField(0, math.MaxFloat64, func(b *builder) *float64 { return &b.cfg.LogCleanerIOMaxBytesPerSecond })},
	{key: "log.cleaner.delete.retention.ms", def: "86400000", doc: "default delete.retention.ms: how long tombstones stay after cleaning",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogCleanerDeleteRetentionMs })},
	{key: "log.cleaner.min.cleanable.ratio", def: "0.5", doc: "default min.cleanable.dirty.ratio",
		set: floatField(0, 1, func(b *builder) *float64 { return &b.cfg.LogCleanerMinCleanableRatio })},
	{key: "log.cleaner.min.compaction.lag.ms", def: "0", doc: "default min.compaction.lag.ms",
		set: intField(64, 0, func(b *builder) *int64 { return &b.cfg.LogCleanerMinCompactionLagMs })},
	{key: "log.cleaner.max.compaction.lag.ms", def: strconv.FormatInt(math.MaxInt64, 10), doc: "default max.compaction.lag.ms",
		set: intField(64, 1, func(b *builder) *int64 { return &b.cfg.LogCleanerMaxCompactionLagMs })},

	{key: "message.max.bytes", def: "1048588", doc: "largest record batch accepted",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.MessageMaxBytes })},
	{key: "socket.request.max.bytes", def: "104857600", doc: "largest request accepted",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.SocketRequestMaxBytes })},
	{key: "max.connections", def: "2147483647", doc: "most connections the broker holds at once; at the limit it stops accepting until one closes (dynamic)",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.MaxConnections })},
	{key: "max.connections.per.ip", def: "2147483647", doc: "most connections from one IP address; a new one over the limit is closed at once (dynamic)",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.MaxConnectionsPerIP })},
	{key: "max.connection.creation.rate", def: "2147483647", doc: "new connections per second the broker accepts; faster ones wait, at most a second each (dynamic)",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.MaxConnectionCreationRate })},
	{key: "max.connections.per.ip.overrides", doc: "exceptions to max.connections.per.ip by IP or host name, e.g. `hostName:100,127.0.0.1:200` (dynamic)",
		set: func(b *builder, v string) error {
			if _, err := broker.ParseConnectionOverrides(v); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidValue, err)
			}
			b.cfg.MaxConnectionsPerIPOverrides = v
			return nil
		}},
	{key: "connections.max.idle.ms", def: "600000", doc: "a connection with no request and no pending answer for this long is closed; -1 never closes one",
		set: msField(-1, func(b *builder) *time.Duration { return &b.cfg.ConnectionsMaxIdle })},
	{key: "queued.max.requests", def: "500", doc: "requests read from all connections and not yet taken by a handler; when full the broker stops reading",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.QueuedMaxRequests })},

	{key: "auto.leader.rebalance.enable", def: "true", doc: "the controller moves leadership back to preferred replicas",
		set: boolField(func(b *builder) *bool { return &b.cfg.AutoLeaderRebalance })},
	{key: "leader.imbalance.check.interval.seconds", def: "300", doc: "how often the controller looks for partitions not led by their preferred replica",
		set: secondsField(func(b *builder) *time.Duration { return &b.cfg.LeaderImbalanceCheckInterval })},
	{key: "replica.lag.time.max.ms", def: "30000", doc: "a follower that has not caught up for this long leaves the ISR",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.ReplicaLagTimeMax })},
	{key: "replica.fetch.wait.max.ms", def: "500", doc: "longest a follower's fetch waits at the leader for new data",
		set: msField(0, func(b *builder) *time.Duration { return &b.cfg.ReplicaFetchWaitMax })},
	{key: "replica.fetch.backoff.ms", def: "1000", doc: "pause of a follower after a failed fetch",
		set: msField(0, func(b *builder) *time.Duration { return &b.cfg.ReplicaFetchBackoff })},

	{key: "group.initial.rebalance.delay.ms", def: "3000", doc: "how long a new group waits for more members before its first rebalance",
		set: msField(0, func(b *builder) *time.Duration { return &b.cfg.GroupInitialRebalanceDelay })},
	{key: "group.min.session.timeout.ms", def: "6000", doc: "smallest session timeout a group member may ask for",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.GroupMinSessionTimeout })},
	{key: "group.max.session.timeout.ms", def: "1800000", doc: "largest session timeout a group member may ask for",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.GroupMaxSessionTimeout })},
	{key: "group.max.size", def: "2147483647", doc: "most members one group may have",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.GroupMaxSize })},
	{key: "group.consumer.session.timeout.ms", def: "45000", doc: "a consumer group (KIP-848) member without a heartbeat this long is fenced",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.GroupConsumerSessionTimeout })},
	{key: "group.consumer.heartbeat.interval.ms", def: "5000", doc: "how often consumer group (KIP-848) members heartbeat",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.GroupConsumerHeartbeatInterval })},
	{key: "group.consumer.assignors", def: "uniform,range", doc: "server assignors of consumer groups (KIP-848), the first the default: uniform, range (or Kafka's class names)",
		set: setConsumerAssignors},
	{key: "group.consumer.max.size", def: "2147483647", doc: "most members one consumer group (KIP-848) may have",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.GroupConsumerMaxSize })},
	{key: "offsets.topic.num.partitions", def: "50", doc: "partitions of the internal __consumer_offsets topic (offsets themselves live in etcd)",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.OffsetsTopicNumPartitions })},
	{key: "offsets.topic.replication.factor", def: "3", doc: "replication factor of __consumer_offsets, lowered to the live brokers",
		set: intField(16, 1, func(b *builder) *int16 { return &b.cfg.OffsetsTopicReplicationFactor })},
	{key: "offset.metadata.max.bytes", def: "4096", doc: "largest metadata string stored with a committed offset",
		set: intField(32, 0, func(b *builder) *int32 { return &b.cfg.OffsetMetadataMaxBytes })},
	{key: "offsets.retention.minutes", def: "10080", doc: "committed offsets of a group empty (or a consumer idle) this long are deleted",
		set: durationField(time.Minute, 1, func(b *builder) *time.Duration { return &b.cfg.OffsetsRetention })},
	{key: "offsets.retention.check.interval.ms", def: "600000", doc: "how often expired committed offsets are looked for",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.OffsetsRetentionCheckInterval })},
	{key: "transaction.max.timeout.ms", def: "900000", doc: "largest transaction.timeout.ms a producer may ask for",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.TransactionMaxTimeout })},
	{key: "transaction.abort.timed.out.transaction.cleanup.interval.ms", def: "10000", doc: "how often transactions open past their timeout are looked for and aborted",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.TransactionAbortCheckInterval })},
	{key: "transactional.id.expiration.ms", def: "604800000", doc: "a transactional id with no transaction for this long is forgotten",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.TransactionalIDExpiration })},
	{key: "transaction.remove.expired.transaction.cleanup.interval.ms", def: "3600000", doc: "how often expired transactional ids are looked for",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.TransactionRemoveExpiredInterval })},
	{key: "transaction.state.log.num.partitions", def: "50", doc: "partitions of the internal __transaction_state topic (transaction state itself lives in etcd)",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.TransactionStatePartitions })},
	{key: "transaction.state.log.replication.factor", def: "3", doc: "replication factor of __transaction_state, lowered to the live brokers",
		set: intField(16, 1, func(b *builder) *int16 { return &b.cfg.TransactionStateReplication })},
	{key: "transaction.state.log.min.isr", def: "2", doc: "min.insync.replicas of __transaction_state, lowered to its replication factor",
		set: intField(32, 1, func(b *builder) *int32 { return &b.cfg.TransactionStateMinIsr })},

	{key: "etcd.endpoints", defDoc: "none: start an embedded etcd", doc: "comma list of etcd client URLs holding the cluster metadata",
		set: setEtcdEndpoints},
	{key: "etcd.embedded.client.url", def: "http://127.0.0.1:2379", doc: "client URL of the embedded etcd",
		set: urlField(func(b *builder) *string { return &b.cfg.EtcdEmbeddedClientURL })},
	{key: "etcd.embedded.peer.url", def: "http://127.0.0.1:2380", doc: "peer URL of the embedded etcd",
		set: urlField(func(b *builder) *string { return &b.cfg.EtcdEmbeddedPeerURL })},
	{key: "etcd.prefix", def: "/kafkad/", doc: "key prefix of kafkad's metadata in etcd",
		set: setEtcdPrefix},
	{key: "broker.session.timeout.ms", def: "9000", doc: "a broker that stops heartbeating is dead after this long (etcd lease TTL)",
		set: msField(1, func(b *builder) *time.Duration { return &b.cfg.BrokerSessionTimeout })},
}

// ignoredKeys are accepted, unused, so Kafka's stock server.properties
// (ZooKeeper and KRaft flavours) loads unchanged.
var ignoredKeys = []string{
	"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
	"num.recovery.threads.per.data.dir",

	"share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr",
	"process.roles", "controller.quorum.voters",
	"controller.quorum.bootstrap.servers", "inter.broker.listener.name",
	"zookeeper.connect", "zookeeper.connection.timeout.ms",
}

// alsoIgnored are options that only shape other settings; main reports
// them as ignored so an operator does not expect them to do more.
var alsoIgnored = []string{"controller.listener.names"}

// LoadConfig builds the configuration from --config <file> and --key=value
// flags; a flag overrides the file. With --help it prints the keys to
// stdout and returns ErrHelp.
func LoadConfig(args []string) (Config, error) {
	return loadConfig(args, os.Stdout)
}

func loadConfig(args []string, helpOut io.Writer) (Config, error) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			printHelp(helpOut)
			return Config{}, ErrHelp
		}
	}
	args, addScram, err := takeAddScram(args)
	if err != nil {
		return Config{}, err
	}
	path, flags, err := parseArgs(args)
	if err != nil {
		return Config{}, err
	}
	values := map[string]string{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: reading %s: %w", path, err)
		}
		props, err := parseProperties(string(data))
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
		if values, err = canonical(props, func(p property) string { return fmt.Sprintf("%s line %d", path, p.line) }); err != nil {
			return Config{}, err
		}
	}
	fromFlags, err := canonical(flags, func(p property) string { return "flag --" + p.key })
	if err != nil {
		return Config{}, err
	}
	for k, v := range fromFlags {
		values[k] = v
	}
	cfg, err := build(values)
	cfg.AddScram = addScram
	return cfg, err
}

// parseArgs splits the command line into --config's path and key=value
// flags. Both --key=value and --key value work; a boolean key alone means
// true, as with Go's flag package.
func parseArgs(args []string) (string, []property, error) {
	var path string
	var flags []property
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return "", nil, fmt.Errorf("%w: unexpected argument %q (flags are --key=value)", ErrSyntax, a)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !hasValue {
			switch {
			case isBoolKey(name) && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")):
				value = "true"
			case i+1 < len(args):
				i++
				value = args[i]
			default:
				return "", nil, fmt.Errorf("%w: flag --%s needs a value", ErrSyntax, name)
			}
		}
		if name == "config" {
			path = value
			continue
		}
		flags = append(flags, property{key: name, value: value, line: i})
	}
	return path, flags, nil
}

func isBoolKey(name string) bool {
	return name == "auto.create.topics.enable" || name == "delete.topic.enable"
}

// canonical maps every key to its canonical name and rejects unknown ones.
// Repeating a key keeps the last value, as Java's Properties does, but two
// spellings of one key (node.id, broker.id) must agree.
func canonical(props []property, where func(property) string) (map[string]string, error) {
	values := make(map[string]string, len(props))
	spelling := make(map[string]string, len(props))
	for _, p := range props {
		key, ok := lookupKey(p.key)
		if !ok {
			return nil, fmt.Errorf("%w %q (%s); kafkad --help lists the keys", ErrUnknownKey, p.key, where(p))
		}
		v := strings.TrimSpace(p.value)
		if prev, seen := spelling[key]; seen && prev != p.key && values[key] != v {
			return nil, fmt.Errorf("%w: %s=%q and %s=%q disagree (%s)", ErrInvalidValue, prev, values[key], p.key, v, where(p))
		}
		values[key], spelling[key] = v, p.key
	}
	return values, nil
}

func lookupKey(name string) (string, bool) {
	for i := range options {
		if options[i].key == name || slices.Contains(options[i].aliases, name) {
			return options[i].key, true
		}
	}
	return name, slices.Contains(ignoredKeys, name) || isListenerSASLKey(name)
}

// build applies defaults, parses every value and resolves Kafka's
// precedence rules.
func build(values map[string]string) (Config, error) {
	b := &builder{}
	for i := range options {
		o := &options[i]
		v, given := values[o.key]
		if !given {
			if o.def == "" {
				continue
			}
			v = o.def
		}
		if err := o.set(b, v); err != nil {
			return Config{}, fmt.Errorf("%s=%q: %w", o.key, v, err)
		}
	}
	c := &b.cfg
	c.Static = values
	for k := range values {
		if slices.Contains(ignoredKeys, k) || slices.Contains(alsoIgnored, k) {
			c.Ignored = append(c.Ignored, k)
		}
	}
	slices.Sort(c.Ignored)

	c.LogDirs = b.logDir
	if b.logDirs != nil {
		c.LogDirs = b.logDirs
	}
	var err error
	if c.LogRollMs, err = msOrHours(b.rollMs, b.rollHours, "log.roll.hours"); err != nil {
		return Config{}, err
	}
	if c.LogRollJitterMs, err = msOrHours(b.jitterMs, b.jitterHours, "log.roll.jitter.hours"); err != nil {
		return Config{}, err
	}
	if err := b.resolveRetention(); err != nil {
		return Config{}, err
	}
	c.LogFlushIntervalMs = math.MaxInt64
	if b.flushMs != nil {
		c.LogFlushIntervalMs = *b.flushMs
	}
	if err := b.resolveListeners(); err != nil {
		return Config{}, err
	}
	if err := b.resolveSASL(values); err != nil {
		return Config{}, err
	}
	return *c, nil
}

// msOrHours resolves a Kafka *.ms key over its *.hours twin (hoursKey).
func msOrHours(ms, hours *int64, hoursKey string) (int64, error) {
	if ms != nil {
		return *ms, nil
	}
	v, fits := mulNoOverflow(*hours, int64(time.Hour/time.Millisecond))
	if !fits {
		return 0, fmt.Errorf("%s: %w: %d hours overflows", hoursKey, ErrInvalidValue, *hours)
	}
	return v, nil
}

func mulNoOverflow(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	return p, p/b == a
}

// resolveRetention follows Kafka: ms over minutes over hours, and any
// negative result means keep forever (-1).
func (b *builder) resolveRetention() error {
	var ms int64
	switch {
	case b.retMs != nil:
		ms = *b.retMs
	case b.retMin != nil:
		var fits bool
		if ms, fits = mulNoOverflow(*b.retMin, int64(time.Minute/time.Millisecond)); !fits {
			return fmt.Errorf("log.retention.minutes: %w: %d minutes overflows", ErrInvalidValue, *b.retMin)
		}
	default:
		var fits bool
		if ms, fits = mulNoOverflow(*b.retHours, int64(time.Hour/time.Millisecond)); !fits {
			return fmt.Errorf("log.retention.hours: %w: %d hours overflows", ErrInvalidValue, *b.retHours)
		}
	}
	b.cfg.LogRetentionMs = max(ms, -1)
	return nil
}

// resolveListeners drops KRaft controller listeners, defaults the
// advertised listeners and checks every listener speaks PLAINTEXT.
func (b *builder) resolveListeners() error {
	c := &b.cfg
	notController := func(l Listener) bool { return !slices.Contains(b.controllerNames, l.Name) }
	c.Listeners = filter(c.Listeners, notController)
	if len(c.Listeners) == 0 {
		return fmt.Errorf("listeners: %w: no listener", ErrInvalidValue)
	}
	if b.advertised == nil {
		c.AdvertisedListeners = slices.Clone(c.Listeners)
	} else {
		c.AdvertisedListeners = filter(b.advertised, notController)
	}
	names := map[string]bool{}
	for _, l := range c.Listeners {
		if names[l.Name] {
			return fmt.Errorf("listeners: %w: listener name %s used twice", ErrInvalidValue, l.Name)
		}
		names[l.Name] = true
		proto, mapped := b.protocolMap[l.Name]
		if !mapped && b.protocolMap == nil {
			// Kafka's default map names every protocol after itself.
			proto = l.Name
		}
		switch {
		case proto == "PLAINTEXT":
		case proto == "SASL_PLAINTEXT":
			b.saslListeners = append(b.saslListeners, l.Name)
		case proto == "":
			return fmt.Errorf("listeners: %w: listener %s has no entry in listener.security.protocol.map", ErrInvalidValue, l.Name)
		case slices.Contains([]string{"SSL", "SASL_SSL"}, proto):
			return fmt.Errorf("listeners: %w: listener %s uses %s; kafkad supports only PLAINTEXT and SASL_PLAINTEXT so far", ErrInvalidValue, l.Name, proto)
		default:
			return fmt.Errorf("listeners: %w: listener %s maps to unknown security protocol %q", ErrInvalidValue, l.Name, proto)
		}
	}
	seen := map[string]bool{}
	for _, l := range c.AdvertisedListeners {
		if !names[l.Name] {
			return fmt.Errorf("advertised.listeners: %w: %s is not one of the listeners", ErrInvalidValue, l.Name)
		}
		if seen[l.Name] {
			return fmt.Errorf("advertised.listeners: %w: listener name %s used twice", ErrInvalidValue, l.Name)
		}
		seen[l.Name] = true
		if ip := net.ParseIP(l.Host); ip != nil && ip.IsUnspecified() {
			// A client cannot connect to 0.0.0.0; Kafka refuses it too.
			return fmt.Errorf("advertised.listeners: %w: %s advertises the unspecified address %s; set advertised.listeners to an address clients can reach", ErrInvalidValue, l.Name, l.Host)
		}
	}
	return nil
}

func filter[T any](in []T, keep func(T) bool) []T {
	out := make([]T, 0, len(in))
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// parseListeners parses Kafka's NAME://host:port comma list; IPv6 hosts
// are bracketed ([::1]:9092).
func parseListeners(v string) ([]Listener, error) {
	var out []Listener
	for _, item := range splitList(v) {
		name, hostPort, found := strings.Cut(item, "://")
		if !found || name == "" {
			return nil, fmt.Errorf("%w: listener %q is not NAME://host:port", ErrInvalidValue, item)
		}
		host, portStr, err := net.SplitHostPort(hostPort)
		if err != nil {
			return nil, fmt.Errorf("%w: listener %q: %v", ErrInvalidValue, item, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%w: listener %q: port %q is not 0-65535", ErrInvalidValue, item, portStr)
		}
		if strings.ContainsAny(host, "/?#@ ") {
			return nil, fmt.Errorf("%w: listener %q: bad host %q", ErrInvalidValue, item, host)
		}
		out = append(out, Listener{Name: strings.ToUpper(name), Host: host, Port: int32(port)})
	}
	return out, nil
}

// parseProtocolMap parses NAME:PROTOCOL pairs. Mapping unused names to
// other protocols is fine: Kafka's stock file maps SSL:SSL and so on.
func parseProtocolMap(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range splitList(v) {
		name, proto, found := strings.Cut(item, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !found || name == "" || proto == "" {
			return nil, fmt.Errorf("%w: %q is not NAME:PROTOCOL", ErrInvalidValue, item)
		}
		m[name] = proto
	}
	return m, nil
}

func dirList(field func(*builder) *[]string) func(*builder, string) error {
	return func(b *builder, v string) error {
		dirs := splitList(v)
		if len(dirs) == 0 {
			return fmt.Errorf("%w: no directory", ErrInvalidValue)
		}
		*field(b) = dirs
		return nil
	}
}

func setCleanupPolicy(b *builder, v string) error {
	items := splitList(v)
	if len(items) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidValue)
	}
	for _, p := range items {
		if p != "delete" && p != "compact" {
			return fmt.Errorf("%w: %q is not delete or compact", ErrInvalidValue, p)
		}
	}
	b.cfg.LogCleanupPolicy = strings.Join(items, ",")
	return nil
}

func setEtcdEndpoints(b *builder, v string) error {
	eps := splitList(v)
	for _, ep := range eps {
		if err := checkURL(ep); err != nil {
			return err
		}
	}
	b.cfg.EtcdEndpoints = eps
	return nil
}

// setConsumerAssignors takes assignor names, or Kafka's class names of
// the same assignors.
func setConsumerAssignors(b *builder, v string) error {
	classes := map[string]string{
		"org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
		"org.apache.kafka.coordinator.group.assignor.RangeAssignor":   "range",
	}
	var out []string
	for _, name := range splitList(v) {
		if short, ok := classes[name]; ok {
			name = short
		}
		if name != "uniform" && name != "range" {
			return fmt.Errorf("%w: unknown consumer group assignor %q (uniform, range)", ErrInvalidValue, name)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("%w: at least one consumer group assignor is needed", ErrInvalidValue)
	}
	b.cfg.GroupConsumerAssignors = out
	return nil
}

func setEtcdPrefix(b *builder, v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty prefix would mix kafkad's keys with everything else in etcd", ErrInvalidValue)
	}
	b.cfg.EtcdPrefix = v
	return nil
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
		return fmt.Errorf("%w: %q is not an http(s)://host:port URL", ErrInvalidValue, v)
	}
	return nil
}

func urlField(field func(*builder) *string) func(*builder, string) error {
	return func(b *builder, v string) error {
		if err := checkURL(v); err != nil {
			return err
		}
		*field(b) = v
		return nil
	}
}

func intField[T int16 | int32 | int64](bits int, min int64, field func(*builder) *T) func(*builder, string) error {
	return func(b *builder, v string) error {
		n, err := parseInt(v, bits, min)
		*field(b) = T(n)
		return err
	}
}

// levelField sets a compression level in [lo, hi], or -1 when minusOne.
func levelField(lo, hi int64, minusOne bool, field func(*builder) *int32) func(*builder, string) error {
	return func(b *builder, v string) error {
		n, err := parseInt(v, 32, math.MinInt32)
		if err != nil {
			return err
		}
		if (n < lo || n > hi) && !(minusOne && n == -1) {
			return fmt.Errorf("%w: level %d is not in [%d, %d]", ErrInvalidValue, n, lo, hi)
		}
		*field(b) = int32(n)
		return nil
	}
}

func optionalLong(min int64, field func(*builder) **int64) func(*builder, string) error {
	return func(b *builder, v string) error {
		n, err := parseInt(v, 64, min)
		*field(b) = &n
		return err
	}
}

func msField(min int64, field func(*builder) *time.Duration) func(*builder, string) error {
	return durationField(time.Millisecond, min, field)
}

func secondsField(field func(*builder) *time.Duration) func(*builder, string) error {
	return durationField(time.Second, 1, field)
}

// durationField reads a count of unit, at least min.
func durationField(unit time.Duration, min int64, field func(*builder) *time.Duration) func(*builder, string) error {
	return func(b *builder, v string) error {
		// The cap keeps the conversion to nanoseconds from overflowing.
		n, err := parseInt(v, 64, min)
		if err == nil && n > math.MaxInt64/int64(unit) {
			err = fmt.Errorf("%w: %s is too long", ErrInvalidValue, v)
		}
		*field(b) = time.Duration(n) * unit
		return err
	}
}

func parseInt(v string, bits int, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%w: %s is out of range for a %d-bit integer", ErrInvalidValue, v, bits)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a whole number", ErrInvalidValue, v)
	}
	if n < min {
		return 0, fmt.Errorf("%w: %d is below the minimum %d", ErrInvalidValue, n, min)
	}
	return n, nil
}

func floatField(min, max float64, field func(*builder) *float64) func(*builder, string) error {
	return func(b *builder, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("%w: %q is not a number", ErrInvalidValue, v)
		}
		if f < min || f > max {
			return fmt.Errorf("%w: %v is not between %v and %v", ErrInvalidValue, f, min, max)
		}
		*field(b) = f
		return nil
	}
}

func boolField(field func(*builder) *bool) func(*builder, string) error {
	return func(b *builder, v string) error {
		// Kafka compares booleans case-insensitively and accepts nothing else.
		switch strings.ToLower(v) {
		case "true":
			*field(b) = true
		case "false":
			*field(b) = false
		default:
			return fmt.Errorf("%w: %q is not true or false", ErrInvalidValue, v)
		}
		return nil
	}
}

func oneOfField(field func(*builder) *string, allowed ...string) func(*builder, string) error {
	return func(b *builder, v string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("%w: %q is not one of %s", ErrInvalidValue, v, strings.Join(allowed, ", "))
		}
		*field(b) = v
		return nil
	}
}

// splitList splits a Kafka list value on commas, trimming spaces and
// dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func upperList(v string) []string {
	items := splitList(v)
	for i := range items {
		items[i] = strings.ToUpper(items[i])
	}
	return items
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: kafkad [--config server.properties] [--key=value | --key value]...

Configuration uses Apache Kafka's key names, in a Java properties file and as
flags; a flag overrides the file and an unknown key stops start-up.

`)
	for _, o := range options {
		name := o.key
		if len(o.aliases) > 0 {
			name += " (alias " + strings.Join(o.aliases, ", ") + ")"
		}
		def := o.def
		if o.defDoc != "" {
			def = o.defDoc
		}
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "  --%s\n        %s (default: %s)\n", name, o.doc, def)
	}
	fmt.Fprintf(w, "\nAccepted for compatibility with Kafka's server.properties and ignored:\n  %s\n",
		strings.Join(ignoredKeys, ", "))
}
