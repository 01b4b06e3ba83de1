// Package controller makes the cluster's metadata decisions and writes
// them through the metadata store: topic creation, deletion and partition
// growth with replica placement (AssignReplicas), and the leadership
// decisions of the controller (leader.go). Decisions are pure functions,
// with no goroutines and no I/O, tested by feeding them states; the event
// loop that runs them as the controller is still to come.
//
// # Election, epoch and fencing
//
// Exactly one broker is controller. Every broker runs
// metastore.Store.CampaignController, which blocks until its broker holds
// the etcd key P controller, created only if absent and bound to a lease
// the broker keeps alive (the role of Kafka's ephemeral /controller znode).
// Winning advances the persistent controller epoch (P controller_epoch) in
// the same transaction, so every controllership has a larger epoch than
// all before it. Every broker's store caches the key, so Metadata and
// DescribeCluster can report the controller id (Store.Controller).
//
// A controllership ends when it resigns, when its lease cannot be renewed
// in time, or when its key goes; Controllership.Lost is closed then and
// the controller must stop acting. Because a broker may learn of the loss
// late (a paused process, a partition from etcd), its writes of partition
// state are fenced in etcd itself: Controllership.SetPartitionStates is one
// transaction conditional on the controller key still being the one this
// controllership created, and on each partition's state still being the
// one the decision was made from. A stale controller gets
// metastore.ErrNotController and changes nothing; a decision overtaken by
// a leader's ISR change gets metastore.ErrConflict and is made again from
// the new state.
//
// # Leadership decisions
//
//   - ElectLeader: a partition whose leader is not live gets the first live
//     in-sync replica, in replica order; failing that, the first live
//     replica if unclean election is allowed, else no leader (-1) with its
//     ISR kept. Any leader change bumps the leader epoch.
//   - ShrinkISR: dead followers leave the ISR of a partition whose leader
//     is live. LeaderChanges applies both to every partition after brokers
//     fail.
//   - PreferredLeader: leadership returns to the first replica when it is
//     live and in sync.
//   - ShutdownLeader(s): controlled shutdown moves the leadership of a
//     departing broker to another live in-sync replica and drops it from
//     every ISR, reporting the partitions it must still lead.
//
// Subpackages:
//
//   - metastore: the typed metadata store on etcd (topics, partition
//     state, live brokers, controller, cluster id, producer id blocks) with
//     its cache and watch. It is the one place that imports etcd's client;
//     its doc.go gives the key layout and the transactions.
//   - embedetcd: the zero-config single-member etcd run inside kafkad when
//     no external etcd is configured.
package controller
