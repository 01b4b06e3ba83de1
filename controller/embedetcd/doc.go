// Package embedetcd runs a single-member etcd inside the kafkad process, so
// that one broker works with no external dependency, the way a
// single-node Kafka in KRaft mode does. It plays the part ZooKeeper played
// for Kafka: the metadata store (package metastore) talks to it over the
// ordinary client API on loopback, exactly as it would to an external
// etcd cluster.
//
// The member keeps its data (WAL and bbolt backend) in Config.Dir; a restart
// on the same directory resumes with all metadata. It listens on loopback
// only. etcd's own zap logs are routed into zerolog with component=etcd at
// warn level and above.
//
// StartTest (testing.go) gives other packages' tests a fresh member on free
// ports in a temporary directory.
package embedetcd
