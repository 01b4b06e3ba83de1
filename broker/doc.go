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
// # Lock order
//
// Broker.mu (partition map) before partition.mu; never hold either while
// calling the metadata store or blocking on the network.
package broker
