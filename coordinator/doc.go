// Package coordinator is the group coordinator: the classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, KIP-394 member id
// round trip, KIP-345 static members) and committed offsets.
//
// Each group is a state machine (Empty, PreparingRebalance,
// CompletingRebalance, Stable, Dead) guarded by its own mutex; requests
// that must wait for a rebalance (JoinGroup, the followers' SyncGroup) are
// answered through callbacks when the state machine gets there, so a
// waiting member never holds up its connection's other requests. Timers
// (session expiry, rebalance timeout, the initial rebalance delay) run the
// same transitions under the same mutex.
//
// Committed offsets are written through to the metadata store (etcd): a
// commit request is one etcd transaction, and offsets survive the broker.
// Group membership is held in memory; after a coordinator restart members
// rejoin (UNKNOWN_MEMBER_ID) and resume from their committed offsets.
package coordinator
