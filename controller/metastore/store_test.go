package metastore

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecondStoreSeesWritesThroughWatch(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	events, cancel := b.Subscribe()
	t.Cleanup(cancel)

	created, err := a.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, ok := b.Topic("t"); return ok }, waitFor, tick)
	got, _ := b.TopicByID(created.ID)
	assert.Equal(t, created, got)
	ev := next(t, events)
	assert.Equal(t, TopicEvent{Name: "t", Topic: created}, ev)

	updated, err := a.SetTopicConfigs(ctx(t), "t", map[string]string{"retention.ms": "5"})
	require.NoError(t, err)
	ev = next(t, events)
	assert.False(t, ev.Deleted)
	assert.Equal(t, updated, ev.Topic)

	require.NoError(t, a.DeleteTopic(ctx(t), "t"))
	ev = next(t, events)
	assert.Equal(t, TopicEvent{Name: "t", Deleted: true}, ev)
	_, ok := b.Topic("t")
	assert.False(t, ok, "the cache applies a change before the event is sent")
}

func TestStartLoadsWhatIsThere(t *testing.T) {
	endpoints := startEtcd(t)
	a := startStore(t, endpoints)
	for _, name := range []string{"b", "a", "c"} {
		_, err := a.CreateTopic(ctx(t), topic(name, []int32{1}))
		require.NoError(t, err)
	}
	reg, err := a.RegisterBroker(ctx(t), BrokerInfo{ID: 1, Host: "h", Port: 9092}, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })

	b := startStore(t, endpoints)
	var names []string
	for _, tp := range b.Topics() {
		names = append(names, tp.Name)
	}
	assert.Equal(t, []string{"a", "b", "c"}, names)
	assert.Equal(t, a.Brokers(), b.Brokers())
}

func TestPrefixesAreSeparate(t *testing.T) {
	endpoints := startEtcd(t)
	a := New(dial(t, endpoints), "/one", testLogger(t))
	require.NoError(t, a.Start(ctx(t)))
	t.Cleanup(a.Close)
	b := New(dial(t, endpoints), "/one-more/", testLogger(t))
	require.NoError(t, b.Start(ctx(t)))
	t.Cleanup(b.Close)

	_, err := a.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err)
	_, err = b.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err, "the same name under another prefix is another topic")
	require.NoError(t, a.DeleteTopic(ctx(t), "t"))
	_, ok := b.Topic("t")
	assert.True(t, ok)
}

func TestSubscribeCoalescesForASlowSubscriber(t *testing.T) {
	s := startStore(t, startEtcd(t))
	events, cancel := s.Subscribe()
	t.Cleanup(cancel)

	// Nobody reads while many changes happen; the writes must not stall.
	_, err := s.CreateTopic(ctx(t), topic("busy", []int32{1}))
	require.NoError(t, err)
	for i := range 3 * subscriberBuffer {
		_, err := s.SetTopicConfigs(ctx(t), "busy", map[string]string{"retention.ms": fmt.Sprint(i)})
		require.NoError(t, err)
	}
	_, err = s.CreateTopic(ctx(t), topic("gone", []int32{1}))
	require.NoError(t, err)
	require.NoError(t, s.DeleteTopic(ctx(t), "gone"))
	old, err := s.CreateTopic(ctx(t), topic("back", []int32{1}))
	require.NoError(t, err)
	require.NoError(t, s.DeleteTopic(ctx(t), "back"))
	back, err := s.CreateTopic(ctx(t), topic("back", []int32{1}))
	require.NoError(t, err)
	require.NotEqual(t, old.ID, back.ID)

	// Drain until every topic's latest state has arrived.
	last := map[string]TopicEvent{}
	var backEvents []TopicEvent
	require.Eventually(t, func() bool {
		for {
			select {
			case ev := <-events:
				last[ev.Name] = ev
				if ev.Name == "back" {
					backEvents = append(backEvents, ev)
				}
				continue
			default:
			}
			break
		}
		busy := last["busy"]
		return busy.Topic.Configs["retention.ms"] == fmt.Sprint(3*subscriberBuffer-1) &&
			last["gone"].Deleted && last["back"].Topic.ID == back.ID
	}, waitFor, tick)
	// Whatever was coalesced, the re-created topic came after a deletion.
	require.GreaterOrEqual(t, len(backEvents), 2)
	assert.True(t, backEvents[len(backEvents)-2].Deleted)
}

func TestSubscribeEndsOnCancelAndClose(t *testing.T) {
	s := startStore(t, startEtcd(t))
	events, cancel := s.Subscribe()
	cancel()
	cancel() // idempotent
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-events:
			return !ok
		default:
			return false
		}
	}, waitFor, tick)

	events, _ = s.Subscribe()
	s.Close()
	_, ok := <-events
	assert.False(t, ok, "Close closes every subscription")
	events, cancel = s.Subscribe()
	cancel()
	_, ok = <-events
	assert.False(t, ok, "subscribing to a closed store gives a closed channel")
}

func TestWritesNeedARunningStore(t *testing.T) {
	endpoints := startEtcd(t)
	s := New(dial(t, endpoints), "", testLogger(t))
	_, err := s.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.ErrorIs(t, err, ErrNotRunning)
	require.NoError(t, s.Start(ctx(t)))
	require.ErrorIs(t, s.Start(ctx(t)), ErrNotRunning, "Start twice")
	s.Close()
	s.Close()
	require.ErrorIs(t, s.DeleteTopic(ctx(t), "t"), ErrNotRunning)
	_, err = s.RegisterBroker(ctx(t), BrokerInfo{ID: 1}, time.Second)
	require.ErrorIs(t, err, ErrNotRunning)
}

func TestMalformedValuesAreIgnored(t *testing.T) {
	endpoints := startEtcd(t)
	raw := dial(t, endpoints)
	s := startStore(t, endpoints)
	good, err := s.CreateTopic(ctx(t), topic("t", []int32{1}))
	require.NoError(t, err)

	_, err = raw.Put(ctx(t), DefaultPrefix+"topics/t", "{not json")
	require.NoError(t, err)
	_, err = raw.Put(ctx(t), DefaultPrefix+"topics/u", `{"id":"","partitions":[]}`)
	require.NoError(t, err)
	_, err = raw.Put(ctx(t), DefaultPrefix+"partitions/t/0", "[]")
	require.NoError(t, err)
	_, err = raw.Put(ctx(t), DefaultPrefix+"brokers/01", "{}")
	require.NoError(t, err)
	_, err = raw.Put(ctx(t), DefaultPrefix+"unknown/x", "?")
	require.NoError(t, err)
	// A later good write proves the watch got past the bad ones.
	_, err = s.CreateTopic(ctx(t), topic("v", []int32{1}))
	require.NoError(t, err)

	got, ok := s.Topic("t")
	require.True(t, ok, "a malformed write does not drop the topic")
	assert.Equal(t, good, got)
	_, ok = s.Topic("u")
	assert.False(t, ok)
	assert.Empty(t, s.Brokers())

	// A store starting now skips the same keys.
	other := startStore(t, endpoints)
	_, ok = other.Topic("t")
	assert.False(t, ok)
	_, ok = other.Topic("v")
	assert.True(t, ok)
}

func TestDialDeadEndpointFailsWithinBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	start := time.Now()
	_, err = Dial([]string{"http://" + addr}, testLogger(t))
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Less(t, time.Since(start), DialTimeout+2*time.Second)
	assert.Contains(t, err.Error(), addr)

	_, err = Dial(nil, testLogger(t))
	require.ErrorIs(t, err, ErrUnreachable)
}

func TestWaitRevAsksForProgress(t *testing.T) {
	// A revision produced outside the prefix yields no event; the wait
	// must still end, through a progress notification.
	endpoints := startEtcd(t)
	raw := dial(t, endpoints)
	s := startStore(t, endpoints)
	resp, err := raw.Put(ctx(t), "/elsewhere", "x")
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx(t), 5*time.Second)
	defer cancel()
	require.NoError(t, s.waitRev(c, resp.Header.Revision))
}
