// Package metastore is kafkad's typed metadata store on etcd, the role
// ZooKeeper played for Kafka. It is, with embedetcd, the only package that
// imports etcd's client. Topics, partition leadership, live brokers, the
// cluster id and producer id blocks live here; everything else asks the
// Store.
//
// # Reads and writes
//
// Start loads every key under the prefix into an in-memory cache and keeps
// it current with one watch. Reads (Topic, Topics, TopicByID, Brokers,
// Controller) are
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
//	P controller                    {"broker_id": 1, "epoch": 3}, under the controller's lease
//	P controller_epoch              {"epoch": 3}: the last epoch elected, kept forever
//	P configs/brokers/<id>          dynamic broker configs of one broker: {"log.retention.ms": "60000"}
//	P configs/brokers/default       cluster-wide dynamic broker configs (Kafka's <default> entity)
//	P scram/<user>/<mechanism>      a SCRAM credential: {"salt": b64, "iterations": 4096,
//	                                "stored_key": b64, "server_key": b64}, never the password;
//	                                <user> is path-escaped (url.PathEscape)
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
//
// # Controller election
//
// CampaignController waits until P controller is absent, then creates it
// under a lease of its own (an etcd concurrency.Session) in one
// transaction that also advances P controller_epoch:
//
//	if   create_revision(P controller) == 0
//	and  mod_revision(P controller_epoch) == <as read>   // 0 if absent
//	then put P controller_epoch {"epoch": e+1}
//	     put P controller {"broker_id": id, "epoch": e+1} with the lease
//
// so exactly one campaign wins, and each controllership's epoch is larger
// than every earlier one's, even across restarts of the whole cluster. The
// key's create revision identifies the controllership. It ends (Lost is
// closed) when Resign revokes the lease, when the lease cannot be renewed,
// or when the cache sees the key deleted or created again.
//
// The controller's writes (Controllership.SetPartitionStates) are fenced
// in etcd, not only by Lost, which may close late:
//
//	if   create_revision(P controller) == <this controllership's>
//	and  create_revision(P topics/<name>) == <as cached>     // per topic
//	and  mod_revision(P partitions/<name>/<p>) == <as cached> // per partition
//	then put every P partitions/<name>/<p>
//	else get P controller   // tells ErrNotController from ErrConflict
//
// A controller that lost its lease without knowing it changes nothing,
// and an ISR change a leader made meanwhile is never overwritten. etcd
// allows 128 compares per transaction, so larger writes are split.
package metastore
