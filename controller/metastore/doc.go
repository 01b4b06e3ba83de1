// Package metastore is kafkad's typed metadata store on etcd, the role
// ZooKeeper played for Kafka. It is, with embedetcd, the only package that
// imports etcd's client. Topics, partition leadership, live brokers, the
// cluster id and producer id blocks live here; everything else asks the
// Store.
//
// # Reads and writes
//
// Start loads every key under the prefix into an in-memory cache and keeps
// it current with one watch. Reads (Topic, Topics, TopicByID, Brokers) are
// served from the cache with no etcd round trip and return deep copies.
// Writes go to etcd as transactions and return only once the cache has
// applied the write's revision, so a caller always reads its own writes.
// If the cache does not get there within a bounded wait the write still
// happened and the error says so.
//
// Watch responses carry the store revision up to which every event has
// been delivered; the cache records it. A write whose revision produced no
// event under the prefix (a lease revoke that deleted nothing) is caught up
// by asking the watch for a progress notification.
//
// # Key layout
//
// Under the prefix P (default "/kafkad/"), every value JSON:
//
//	P topics/<name>                 topic record
//	P partitions/<name>/<partition> partition state (decimal partition id)
//	P brokers/<id>                  live broker (decimal id), under its lease
//	P cluster/id                    {"id": "<22 chars>"}
//	P cluster/producer_ids          {"next": <first unallocated producer id>}
//
// A topic record holds what changes rarely and only by an administrator:
//
//	{"id": "<topic id, 22-char base64url like Kafka prints it>",
//	 "partitions": [{"replicas": [1,2,3], "leader": 1, "leader_epoch": 0,
//	                 "isr": [1,2,3]}, ...],      // index = partition id
//	 "configs": {"retention.ms": "3600000"},     // overrides only; omitted if none
//	 "internal": true}                           // omitted if false
//
// A partition state key holds what the controller changes often:
//
//	{"leader": 2, "leader_epoch": 4, "isr": [2,3]}
//
// The leader, epoch and ISR inside the topic record are the partition's
// state as created. A partition key, once written, supersedes them; until
// then there is none. Keeping them in the record makes creating a topic of
// any size one etcd operation, where one key per partition would hit
// etcd's limit of 128 operations per transaction. Changing a partition is
// a compare-and-swap on its own key alone (SetPartitionState), so
// leadership changes on different partitions never conflict with each
// other nor with partition growth or config changes, which rewrite the
// topic record under a compare-and-swap on its mod revision. Deleting a
// topic deletes its record and every key under P partitions/<name>/ in one
// transaction, so a re-created topic never inherits stale state. Topic
// names cannot contain '/', so one topic's partition prefix never covers
// another's.
//
// A broker key is created only if absent (another live broker with the
// same id is refused) and is bound to a lease the broker keeps alive; when
// the broker stops or dies the key disappears with the lease.
package metastore
