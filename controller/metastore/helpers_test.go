package metastore

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kafkad/kafkad/controller/embedetcd"
)

const (
	waitFor = 10 * time.Second
	tick    = 10 * time.Millisecond
)

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// startEtcd starts a fresh embedded etcd for one test.
func startEtcd(t *testing.T) []string {
	t.Helper()
	return embedetcd.StartTest(t, testLogger(t)).Endpoints()
}

func dial(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := Dial(endpoints, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startStore starts a store with its own client on endpoints.
func startStore(t *testing.T, endpoints []string) *Store {
	t.Helper()
	s := New(dial(t, endpoints), "", testLogger(t))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(s.Close)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// topic builds a topic whose partitions have the given replica sets, in
// the initial state the controller writes: first replica leads, all in
// sync.
func topic(name string, replicas ...[]int32) Topic {
	t := Topic{Name: name}
	for i, r := range replicas {
		t.Partitions = append(t.Partitions, PartitionState{
			Partition: int32(i), Replicas: r, Leader: r[0], ISR: append([]int32(nil), r...),
		})
	}
	return t
}

// next reads one event or fails.
func next(t *testing.T, events <-chan TopicEvent) TopicEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "events channel closed")
		return ev
	case <-time.After(waitFor):
		t.Fatal("no topic event")
		return TopicEvent{}
	}
}
