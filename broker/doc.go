// Package broker serves the Kafka protocol: listeners and connections, one
// thin handler per API (handle_<api>.go: validate, call the partition or the
// controller, map errors through the one table in errors.go), partitions this
// broker hosts, and the waiting room for fetches that long-poll (purgatory).
//
// The broker never opens data files itself (storage does) and never imports
// etcd (the metadata store and the controller do).
//
// # Connections
//
// Each connection has a read goroutine and a write goroutine. The read
// goroutine decodes requests and dispatches them in arrival order, so
// pipelined produce requests append in order; a handler may answer at once
// or later (a long-polling fetch). The write goroutine writes answers in
// request order, whatever order they complete in. A malformed frame, an
// unknown API key or an unsupported version closes that connection only.
//
// # Hostile clients
//
// A frame's buffer grows with the bytes received, not the size its header
// declares, and a frame whose body makes no progress for
// PartialRequestTimeout (30 s) closes its connection. Requests whose array
// counts their bytes cannot hold are refused before decoding (protocol's
// checkCounts). Every goroutine recovers panics through internal/safe: a
// handler's panic, or one in work it handed off (requestGoroutine: acks=-1
// waits, parked fetches), closes that client's connection; background
// duties (service: retention, cleaner, controller, ISR shrink, replica
// fetchers) restart a second later. Connection warnings are rate-limited.
// FuzzConn drives mutated requests of every API into a live broker.
//
// # Replication
//
// Every partition has a leader and followers (partition.go). The leader
// tracks what each follower fetched (a Fetch with a replica id), keeps the
// high watermark at the smallest log end in the ISR, moves followers out
// of the ISR after replica.lag.time.max.ms and back once caught up (isr.go,
// compare-and-swap writes to the store), and answers acks=-1 produce once
// the ISR has the batch. Followers run one fetcher per leader (fetcher.go)
// and, after a leader change, truncate to where their log and the new
// leader's agree (OffsetForLeaderEpoch). Every broker campaigns for the
// controller role (controller.go); the controller elects leaders from the
// ISR when brokers die. A stopping broker hands its leaderships over first
// (shutdown.go). Groups are coordinated by the leader of their partition
// of __consumer_offsets (groupowner.go).
//
// # Transactions
//
// A transactional id is coordinated by the leader of its partition of
// __transaction_state (txn.go, coordinator/txn). The coordinator asks
// partition leaders to write commit and abort markers: on partitions this
// broker leads it appends them itself and waits for the ISR, elsewhere it
// sends WriteTxnMarkers over an inter-broker client, which also carries
// the AddPartitionsToTxn a leader sends for a Produce of transactions v2
// (and the verification of v1). read_committed fetches stop at the last
// stable offset and carry the aborted transactions the log's index lists.
//
// # Dynamic configuration
//
// Broker keys Kafka lets operators change at run time (log defaults, the
// log cleaner's settings, replication throttle rates) are stored per
// broker and cluster-wide in the metadata store (dynconfig.go). Every
// broker rebuilds its effective configuration when they change and
// reapplies it to its open logs; a replica named in a topic's
// leader/follower.replication.throttled.replicas is throttled while out
// of sync (throttle.go).
//
// # Lock order
//
// Broker.dynMu (applying dynamic configs) before Broker.mu (partition
// map) before partition.mu; never hold Broker.mu or partition.mu while
// waiting on a metadata store write or blocking on the network (cache
// reads are fine).
package broker
