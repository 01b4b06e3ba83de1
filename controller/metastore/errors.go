package metastore

import "errors"

// Sentinels callers test with errors.Is; the broker maps them to Kafka
// error codes. Returned errors wrap them with the topic, broker or
// revision concerned.
var (
	ErrTopicExists   = errors.New("metastore: topic already exists")
	ErrTopicNotFound = errors.New("metastore: topic not found")
	ErrBrokerIDInUse = errors.New("metastore: broker id in use")
	// ErrNotFound is for things other than topics, such as a partition
	// beyond a topic's count.
	ErrNotFound = errors.New("metastore: not found")
	// ErrInvalidPartition is a partition state no broker could act on
	// (no replicas, a leader or ISR member that is not a replica, a gap
	// in partition numbering).
	ErrInvalidPartition = errors.New("metastore: invalid partition")
	// ErrConflict is a lost compare-and-swap: someone changed the same
	// state first. Re-read and decide again.
	ErrConflict    = errors.New("metastore: concurrent update")
	ErrUnreachable = errors.New("metastore: etcd unreachable")
	// ErrNotController is a write through a controllership that has
	// ended: another broker may be controller now, and the write was not
	// made.
	ErrNotController = errors.New("metastore: no longer controller")
	// ErrNotRunning is a write to a store not started or already closed.
	ErrNotRunning = errors.New("metastore: store not running")
	// ErrCacheBehind means the write is committed in etcd but the cache
	// did not apply it within the bounded wait.
	ErrCacheBehind = errors.New("metastore: cache has not caught up with the write")
	// ErrCorrupt is a value in etcd that does not parse; the cache skips
	// such values.
	ErrCorrupt = errors.New("metastore: malformed value in etcd")
	// ErrFenced is a group write refused because the writer no longer
	// leads the coordinator shard the group belongs to.
	ErrFenced = errors.New("metastore: no longer the group's coordinator")
)
