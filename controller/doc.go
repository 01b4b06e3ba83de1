// Package controller makes the cluster's metadata decisions and writes
// them through the metadata store: today topic creation, deletion and
// partition growth with replica placement (AssignReplicas, a pure
// function); in a later issue also controller election, leader election
// and ISR changes, as one event loop around pure decision functions that
// are tested without goroutines.
//
// Subpackages:
//
//   - metastore: the typed metadata store on etcd (topics, partition
//     state, live brokers, cluster id, producer id blocks) with its cache
//     and watch. It is the one place that imports etcd's client; its
//     doc.go gives the key layout.
//   - embedetcd: the zero-config single-member etcd run inside kafkad when
//     no external etcd is configured.
package controller
