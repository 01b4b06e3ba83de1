// Package integration holds kafkad's end-to-end tests: real kafkad
// processes on free loopback ports, a real etcd (embedded in the broker or
// started by the test), and real Kafka clients talking TCP to them.
//
// The harness (harness_test.go) builds the kafkad binary once per test run,
// starts and stops brokers, and prints a broker's log when a test fails.
package integration
