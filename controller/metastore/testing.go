package metastore

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/controller/embedetcd"
)

// StartTest returns a started store on a fresh embedded etcd for a test
// of a package that keeps its state here (the coordinators); both stop
// when the test ends. It fails the test if either cannot start.
func StartTest(tb testing.TB, logger zerolog.Logger) *Store {
	tb.Helper()
	etcd := embedetcd.StartTest(tb, logger)
	client, err := Dial(etcd.Endpoints(), logger)
	if err != nil {
		tb.Fatalf("metastore: dial the test etcd: %v", err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	s := New(client, DefaultPrefix, logger)
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("metastore: start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}
