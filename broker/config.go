package broker

import (
	"time"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/storage"
)

// Listener is one endpoint the broker listens on or advertises.
type Listener struct {
	Name string // listener name, e.g. PLAINTEXT
	Host string
	Port int32
}

// Config is the broker's typed configuration, built by cmd/kafkad from
// server.properties and flags (Kafka's key names in comments).
type Config struct {
	BrokerID                      int32         // broker.id
	Rack                          string        // broker.rack
	Listeners                     []Listener    // listeners
	AdvertisedListeners           []Listener    // advertised.listeners (empty: listeners)
	NumPartitions                 int32         // num.partitions
	DefaultReplicationFactor      int16         // default.replication.factor
	AutoCreateTopics              bool          // auto.create.topics.enable
	DeleteTopicEnable             bool          // delete.topic.enable
	MinInsyncReplicas             int32         // min.insync.replicas
	MessageMaxBytes               int32         // message.max.bytes
	SocketRequestMaxBytes         int32         // socket.request.max.bytes
	PartialRequestTimeout         time.Duration // no Kafka key: a partly received request stalled this long closes its connection
	RetentionCheckInterval        time.Duration // log.retention.check.interval.ms
	SessionTimeout                time.Duration // broker.session.timeout.ms: registration lease TTL
	CleanupPolicy                 string        // log.cleanup.policy
	CompressionType               string        // compression.type
	UncleanLeaderElection         bool          // unclean.leader.election.enable
	ReplicaLagTimeMax             time.Duration // replica.lag.time.max.ms
	AutoLeaderRebalance           bool          // auto.leader.rebalance.enable
	LeaderImbalanceCheckInterval  time.Duration // leader.imbalance.check.interval.seconds
	ReplicaFetchWaitMax           time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchBackoff           time.Duration // replica.fetch.backoff.ms
	OffsetsTopicPartitions        int32         // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor
	MaxConnections                int32         // max.connections (dynamic)
	MaxConnectionsPerIP           int32         // max.connections.per.ip (dynamic)
	MaxConnectionCreationRate     int32         // max.connection.creation.rate (dynamic)
	MaxConnectionsPerIPOverrides  string        // max.connections.per.ip.overrides (dynamic)
	ConnectionsMaxIdle            time.Duration // connections.max.idle.ms
	QueuedMaxRequests             int32         // queued.max.requests
	// Group holds the group coordinator's settings (group.*,
	// offset.metadata.max.bytes).
	Group coordinator.Config
	// Txn holds the transaction coordinator's settings (transaction.*,
	// transactional.id.expiration.ms).
	Txn txn.Config
	// Log holds the broker-wide defaults of every per-log setting; topic
	// configs override them field by field.
	Log storage.Config
	// Cleaner holds the log cleaner's settings (log.cleaner.*).
	Cleaner storage.CleanerConfig
	// LeaderReplicationThrottledRate and FollowerReplicationThrottledRate
	// cap the bytes/s of throttled replicas (Kafka's
	// leader.replication.throttled.rate and
	// follower.replication.throttled.rate, dynamic only).
	LeaderReplicationThrottledRate   int64
	FollowerReplicationThrottledRate int64
	// StaticConfigs are the key=value pairs the broker was started with, as
	// DescribeConfigs reports them for the broker resource.
	StaticConfigs map[string]string
	// StaticKeys are every key server.properties accepts; altering one
	// that is not dynamic is refused as Kafka does ("Cannot update these
	// configs dynamically").
	StaticKeys []string
	// SASL holds the SASL_PLAINTEXT listeners (listener.security.protocol.map)
	// by listener name; listeners not in it are PLAINTEXT.
	SASL map[string]SASLListener
	// ConnectionsMaxReauth is connections.max.reauth.ms (0: sessions
	// never expire): SASL clients must re-authenticate within it.
	ConnectionsMaxReauth time.Duration
	// InterBroker is how this broker's replica fetchers and coordinator
	// traffic reach other brokers, and the listener it registers for them.
	InterBroker InterBrokerConfig
}

// InterBrokerConfig is Kafka's inter.broker.listener.name with, for a
// SASL listener, sasl.mechanism.inter.broker.protocol and the username
// and password of listener.name.<l>.<mechanism>.sasl.jaas.config.
type InterBrokerConfig struct {
	Listener  string // empty: the first PLAINTEXT listener, else the first
	Mechanism string // empty: no SASL
	Username  string
	Password  string
}

// DefaultConfig returns Kafka's defaults with kafkad's zero-config ones.
func DefaultConfig() Config {
	return Config{
		BrokerID:                      1,
		Listeners:                     []Listener{{Name: "PLAINTEXT", Host: "", Port: 9092}},
		NumPartitions:                 1,
		DefaultReplicationFactor:      1,
		AutoCreateTopics:              true,
		DeleteTopicEnable:             true,
		MinInsyncReplicas:             1,
		MessageMaxBytes:               1048588,
		SocketRequestMaxBytes:         104857600,
		PartialRequestTimeout:         30 * time.Second,
		RetentionCheckInterval:        5 * time.Minute,
		SessionTimeout:                9 * time.Second,
		CleanupPolicy:                 "delete",
		CompressionType:               "producer",
		ReplicaLagTimeMax:             30 * time.Second,
		AutoLeaderRebalance:           true,
		LeaderImbalanceCheckInterval:  300 * time.Second,
		ReplicaFetchWaitMax:           500 * time.Millisecond,
		ReplicaFetchBackoff:           time.Second,
		OffsetsTopicPartitions:        50,
		OffsetsTopicReplicationFactor: 3,
		MaxConnections:                unlimited,
		MaxConnectionsPerIP:           unlimited,
		MaxConnectionCreationRate:     unlimited,
		ConnectionsMaxIdle:            10 * time.Minute,
		QueuedMaxRequests:             500,
		Group:                         coordinator.DefaultConfig(),
		Txn:                           txn.DefaultConfig(),
		Log:                           storage.DefaultConfig(),
		Cleaner:                       storage.DefaultCleanerConfig(),

		LeaderReplicationThrottledRate:   throttleUnlimited,
		FollowerReplicationThrottledRate: throttleUnlimited,
	}
}
