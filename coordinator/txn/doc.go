// Package txn is the transaction coordinator: InitProducerId with a
// transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, the
// commit and abort markers that end a transaction on every partition it
// wrote, timed-out transactions, expired transactional ids, and the state
// ListTransactions and DescribeTransactions show.
//
// Transactional ids are sharded as Kafka shards them: an id belongs to
// partition abs(hashCode(id)) mod N of __transaction_state, and that
// partition's leader coordinates it. The partitions hold no records: each
// transactional id is one document in etcd (metastore.SaveTxn) written
// under the shard's leadership (metastore.Ownership), so a coordinator
// that lost its shard can no longer write, and the broker that takes the
// shard over loads the shard's documents, finishes the transactions found
// in PrepareCommit or PrepareAbort (sends their markers again, then
// completes them), and aborts the ones that time out. The shard leader
// epoch is the coordinator epoch carried by the markers, which lets a
// partition leader refuse markers from a deposed coordinator.
//
// A transaction costs three etcd writes: Ongoing when its first
// partitions are added (more writes only when partitions are added
// later), PrepareCommit or PrepareAbort (the point of no return, written
// before EndTxn is answered), and CompleteCommit or CompleteAbort once
// every partition has its marker.
//
// Transactions v2 (KIP-890 part 2): an EndTxn of version 5 or later bumps
// the producer epoch as it prepares, markers are written with the bumped
// epoch, and the answer carries it; partition leaders add partitions to
// the transaction themselves when a Produce of version 12 or later
// writes transactional batches (AddPartitionsToTxn from a broker).
//
// Each transactional id has its own mutex, held across its etcd writes,
// so requests for one id are applied one at a time in arrival order; the
// coordinator's mutex guards only the shard map. Lock order: entry.mu
// before Coordinator.mu (entries are found under Coordinator.mu and
// locked after it is released; a locked entry may check its shard).
//
// Under transactions v2 a producer begins its next transaction as soon as
// EndTxn answers, while the markers of the one it ended are still being
// written: requests for that id wait (up to a second) for the markers
// instead of answering CONCURRENT_TRANSACTIONS, which would cost the
// client a retry backoff.
package txn
