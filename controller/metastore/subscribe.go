package metastore

import "sync"

// subscriberBuffer is how many events wait in a subscriber's channel.
const subscriberBuffer = 16

// Subscribe returns every topic change after the cache applied it
// (creation, any update, deletion) until cancel is called or the store is
// closed; then the channel is closed.
//
// A slow subscriber never stalls the store: changes are coalesced per
// topic while it is behind, and each event carries the topic's state when
// it is delivered, not when it changed. A deletion is never lost: if a
// name was deleted (and perhaps created again) since its last event, the
// subscriber gets a Deleted event first, then the new topic if it exists.
// Events for one topic are in order; a Deleted event for a topic the
// subscriber never saw is possible and harmless.
func (s *Store) Subscribe() (events <-chan TopicEvent, cancel func()) {
	sub := &subscriber{
		store:   s,
		out:     make(chan TopicEvent, subscriberBuffer),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		pending: map[string]bool{},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.out)
		return sub.out, func() {}
	}
	s.subs[sub] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sub.run()
	}()
	return sub.out, func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		sub.stopOnce.Do(func() { close(sub.stop) })
	}
}

// subscriber turns the store's changes into events at its own pace. The
// watch goroutine only marks names pending (never blocks); the
// subscriber's goroutine sends them.
type subscriber struct {
	store    *Store
	out      chan TopicEvent
	wake     chan struct{} // capacity 1: "something is pending"
	stop     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex
	order   []string        // pending names, oldest first
	pending map[string]bool // name → deleted since its last event
}

// notify marks the touched topics pending for every subscriber. Callers
// hold s.mu, so marks follow the order in which the cache changed.
func (s *Store) notify(t touched) {
	if len(t) == 0 {
		return
	}
	for sub := range s.subs {
		sub.mark(t)
	}
}

func (sub *subscriber) mark(t touched) {
	sub.mu.Lock()
	for name, deleted := range t {
		was, ok := sub.pending[name]
		if !ok {
			sub.order = append(sub.order, name)
		}
		sub.pending[name] = was || deleted
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default: // already woken; it will see these names too
	}
}

// next pops the oldest pending name.
func (sub *subscriber) next() (name string, deleted, ok bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.order) == 0 {
		return "", false, false
	}
	name = sub.order[0]
	sub.order = sub.order[1:]
	deleted = sub.pending[name]
	delete(sub.pending, name)
	return name, deleted, true
}

func (sub *subscriber) run() {
	defer close(sub.out)
	for {
		select {
		case <-sub.wake:
		case <-sub.stop:
			return
		}
		for {
			name, deleted, ok := sub.next()
			if !ok {
				break
			}
			// Read after popping: a change applied from here on marks
			// the name again, so the subscriber never misses the latest
			// state.
			t, exists := sub.store.Topic(name)
			if (deleted || !exists) && !sub.send(TopicEvent{Name: name, Deleted: true}) {
				return
			}
			if exists && !sub.send(TopicEvent{Name: name, Topic: t}) {
				return
			}
		}
	}
}

func (sub *subscriber) send(ev TopicEvent) bool {
	select {
	case sub.out <- ev:
		return true
	case <-sub.stop:
		return false
	}
}
