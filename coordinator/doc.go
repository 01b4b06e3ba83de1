// Package coordinator is the group coordinator: the classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, KIP-394 member id
// round trip, KIP-345 static members), KIP-848 consumer groups
// (ConsumerGroupHeartbeat with server-side assignors: consumer.go holds
// their state machine, consumer_coordinator.go its I/O and timers) and
// committed offsets.
//
// Each group is a state machine (Empty, PreparingRebalance,
// CompletingRebalance, Stable, Dead) guarded by its own mutex; requests
// that must wait for a rebalance (JoinGroup, the followers' SyncGroup) are
// answered through callbacks when the state machine gets there, so a
// waiting member never holds up its connection's other requests. Timers
// (session expiry, rebalance timeout, the initial rebalance delay) run the
// same transitions under the same mutex.
//
// Groups live in the metadata store (etcd), not in memory alone: a
// commit request is one etcd transaction; a classic group's membership,
// generation and assignments are stored whenever a generation's
// assignment is complete and when the group becomes Empty (persist.go).
// The broker that takes a group over (the new leader of its shard of
// __consumer_offsets) loads it on first use, so members of a Stable group
// carry on without a rebalance. Every write is fenced by the shard
// leadership the group was loaded under; a coordinator that lost it gets
// metastore.ErrFenced, unloads the group and answers NOT_COORDINATOR.
// Offsets past offsets.retention.minutes are expired as Kafka does.
package coordinator
