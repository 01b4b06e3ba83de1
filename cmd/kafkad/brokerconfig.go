package main

import (
	"slices"
	"strings"
	"time"

	"github.com/kafkad/kafkad/broker"
	"github.com/kafkad/kafkad/storage"
)

// brokerConfig maps the parsed server configuration onto the broker's typed
// configuration; per-log settings become the broker-wide log defaults that
// topic configs override.
func brokerConfig(cfg Config) broker.Config {
	b := broker.DefaultConfig()
	b.BrokerID = cfg.BrokerID
	b.Rack = cfg.Rack
	b.Listeners = toBrokerListeners(cfg.Listeners)
	b.AdvertisedListeners = toBrokerListeners(cfg.AdvertisedListeners)
	b.ConnectionsMaxReauth = time.Duration(cfg.ConnectionsMaxReauthMs) * time.Millisecond
	b.InterBroker = broker.InterBrokerConfig(cfg.InterBroker)
	for name, l := range cfg.SASL {
		if b.SASL == nil {
			b.SASL = map[string]broker.SASLListener{}
		}
		b.SASL[name] = broker.SASLListener(l)
	}
	b.NumPartitions = cfg.NumPartitions
	b.DefaultReplicationFactor = cfg.DefaultReplicationFactor
	b.AutoCreateTopics = cfg.AutoCreateTopicsEnable
	b.DeleteTopicEnable = cfg.DeleteTopicEnable
	b.MinInsyncReplicas = cfg.MinInsyncReplicas
	b.MessageMaxBytes = cfg.MessageMaxBytes
	b.SocketRequestMaxBytes = cfg.SocketRequestMaxBytes
	b.MaxConnections = cfg.MaxConnections
	b.MaxConnectionsPerIP = cfg.MaxConnectionsPerIP
	b.MaxConnectionCreationRate = cfg.MaxConnectionCreationRate
	b.MaxConnectionsPerIPOverrides = cfg.MaxConnectionsPerIPOverrides
	b.ConnectionsMaxIdle = cfg.ConnectionsMaxIdle
	b.QueuedMaxRequests = cfg.QueuedMaxRequests
	if cfg.LogRetentionCheckInterval > 0 {
		b.RetentionCheckInterval = cfg.LogRetentionCheckInterval
	}
	if cfg.BrokerSessionTimeout > 0 {
		b.SessionTimeout = cfg.BrokerSessionTimeout
	}
	b.CleanupPolicy = cfg.LogCleanupPolicy
	b.Log.CompactOnly = !slices.Contains(strings.Split(cfg.LogCleanupPolicy, ","), "delete")
	b.Log.Compact = slices.Contains(strings.Split(cfg.LogCleanupPolicy, ","), "compact")
	b.Log.DeleteRetentionMs = cfg.LogCleanerDeleteRetentionMs
	b.Log.MinCleanableDirtyRatio = cfg.LogCleanerMinCleanableRatio
	b.Log.MinCompactionLagMs = cfg.LogCleanerMinCompactionLagMs
	b.Log.MaxCompactionLagMs = cfg.LogCleanerMaxCompactionLagMs
	b.Cleaner = storage.CleanerConfig{
		Enable:              cfg.LogCleanerEnable,
		Threads:             int(cfg.LogCleanerThreads),
		BackoffMs:           cfg.LogCleanerBackoffMs,
		DedupeBufferSize:    cfg.LogCleanerDedupeBufferSize,
		IOBufferSize:        cfg.LogCleanerIOBufferSize,
		IOBufferLoadFactor:  cfg.LogCleanerIOBufferLoadFactor,
		IOMaxBytesPerSecond: cfg.LogCleanerIOMaxBytesPerSecond,
	}
	b.CompressionType = cfg.CompressionType

	b.Log.SegmentBytes = int64(cfg.LogSegmentBytes)
	b.Log.SegmentMs = cfg.LogRollMs
	b.Log.RetentionMs = cfg.LogRetentionMs
	b.Log.RetentionBytes = cfg.LogRetentionBytes
	b.Log.FlushMessages = cfg.LogFlushIntervalMessages
	b.Log.FlushMs = cfg.LogFlushIntervalMs
	b.Log.IndexIntervalBytes = cfg.LogIndexIntervalBytes
	b.Log.SegmentIndexBytes = cfg.LogIndexSizeMaxBytes
	b.Log.MaxMessageBytes = cfg.MessageMaxBytes
	b.Log.FileDeleteDelayMs = cfg.LogSegmentDeleteDelayMs
	b.Log.TimestampBeforeMaxMs = cfg.LogMessageTimestampBeforeMaxMs
	b.Log.TimestampAfterMaxMs = cfg.LogMessageTimestampAfterMaxMs
	b.Log.SegmentJitterMs = cfg.LogRollJitterMs
	b.Log.Preallocate = cfg.LogPreallocate
	b.Log.GzipLevel = cfg.CompressionGzipLevel
	b.Log.LZ4Level = cfg.CompressionLZ4Level
	b.Log.ZstdLevel = cfg.CompressionZstdLevel
	b.UncleanLeaderElection = cfg.UncleanLeaderElectionEnable
	b.Log.TimestampType = storage.CreateTime
	if cfg.LogMessageTimestampType == "LogAppendTime" {
		b.Log.TimestampType = storage.LogAppendTime
	}
	b.AutoLeaderRebalance = cfg.AutoLeaderRebalance
	b.LeaderImbalanceCheckInterval = cfg.LeaderImbalanceCheckInterval
	b.ReplicaLagTimeMax = cfg.ReplicaLagTimeMax
	b.ReplicaFetchWaitMax = cfg.ReplicaFetchWaitMax
	b.ReplicaFetchBackoff = cfg.ReplicaFetchBackoff
	b.Group.InitialRebalanceDelay = cfg.GroupInitialRebalanceDelay
	b.Group.MinSessionTimeout = cfg.GroupMinSessionTimeout
	b.Group.MaxSessionTimeout = cfg.GroupMaxSessionTimeout
	b.Group.MaxSize = int(cfg.GroupMaxSize)
	b.Group.MaxMetadataBytes = int(cfg.OffsetMetadataMaxBytes)
	b.Group.OffsetsRetention = cfg.OffsetsRetention
	b.Group.RetentionCheck = cfg.OffsetsRetentionCheckInterval
	b.Group.ConsumerSessionTimeout = cfg.GroupConsumerSessionTimeout
	b.Group.ConsumerHeartbeatInterval = cfg.GroupConsumerHeartbeatInterval
	b.Group.ConsumerAssignors = cfg.GroupConsumerAssignors
	b.Group.ConsumerMaxSize = int(cfg.GroupConsumerMaxSize)
	b.OffsetsTopicPartitions = cfg.OffsetsTopicNumPartitions
	b.Txn.MaxTimeout = cfg.TransactionMaxTimeout
	b.Txn.AbortCheck = cfg.TransactionAbortCheckInterval
	b.Txn.IDExpiration = cfg.TransactionalIDExpiration
	b.Txn.ExpirationCheck = cfg.TransactionRemoveExpiredInterval
	b.Txn.StatePartitions = cfg.TransactionStatePartitions
	b.Txn.StateReplicaCount = cfg.TransactionStateReplication
	b.Txn.StateMinInsync = cfg.TransactionStateMinIsr
	b.OffsetsTopicReplicationFactor = cfg.OffsetsTopicReplicationFactor
	b.StaticConfigs = cfg.Static
	b.StaticKeys = knownKeys()
	return b
}

// knownKeys is every key server.properties accepts, for the broker to
// refuse the read-only ones when they are altered dynamically.
func knownKeys() []string {
	keys := slices.Clone(ignoredKeys)
	for _, o := range options {
		keys = append(keys, o.key)
		keys = append(keys, o.aliases...)
	}
	return keys
}

func toBrokerListeners(ls []Listener) []broker.Listener {
	out := make([]broker.Listener, 0, len(ls))
	for _, l := range ls {
		out = append(out, broker.Listener(l))
	}
	return out
}
