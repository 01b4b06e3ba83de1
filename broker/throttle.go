package broker

// Replication throttling (KIP-73), as Kafka's ReplicationQuotaManager: a
// leader caps the bytes/s it sends for its leader-throttled replicas
// (leader.replication.throttled.rate), a follower the bytes/s it fetches
// for its follower-throttled ones (follower.replication.throttled.rate).
// A replica is throttled when its topic's
// leader/follower.replication.throttled.replicas lists
// "<partition>:<this broker>" or is "*", and only while it is out of sync:
// throttling exists to keep catch-up traffic (a reassignment, a new
// replica) from starving clients, never to slow the ISR.
//
// The rate is measured as Kafka measures it: bytes over eleven one-second
// samples, divided by at least ten seconds. While it is above the bound a
// throttled partition gets (leader) or asks for (follower) no data; bytes
// already counted age out of the window, and the next fetch goes through.

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	quotaSamples      = 11 // replication.quota.window.num
	quotaSampleWindow = time.Second
)

// rateWindow measures a byte rate over quotaSamples samples.
type rateWindow struct {
	bytes  [quotaSamples]int64
	starts [quotaSamples]time.Time
	cur    int
}

func (w *rateWindow) record(now time.Time, n int64) {
	if now.Sub(w.starts[w.cur]) >= quotaSampleWindow {
		w.cur = (w.cur + 1) % quotaSamples
		w.starts[w.cur], w.bytes[w.cur] = now, 0
	}
	w.bytes[w.cur] += n
}

// rate is bytes/s over the samples still in the window, over at least
// (samples-1) sample windows, as Kafka's Rate does.
func (w *rateWindow) rate(now time.Time) float64 {
	var total int64
	oldest := now
	for i := range w.bytes {
		if w.starts[i].IsZero() || now.Sub(w.starts[i]) >= quotaSamples*quotaSampleWindow {
			continue
		}
		total += w.bytes[i]
		if w.starts[i].Before(oldest) {
			oldest = w.starts[i]
		}
	}
	elapsed := max(now.Sub(oldest), (quotaSamples-1)*quotaSampleWindow)
	return float64(total) / elapsed.Seconds()
}

// quota is one direction's bound and measured rate.
type quota struct {
	mu    sync.Mutex
	bound int64 // bytes/s; throttleUnlimited: off
	w     rateWindow
}

func (q *quota) exceeded(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bound != throttleUnlimited && q.w.rate(now) > float64(q.bound)
}

func (q *quota) record(now time.Time, n int64) {
	q.mu.Lock()
	q.w.record(now, n)
	q.mu.Unlock()
}

func (q *quota) setBound(n int64) {
	q.mu.Lock()
	q.bound = n
	q.mu.Unlock()
}

// replicationThrottle is the broker's leader and follower quotas.
type replicationThrottle struct {
	leader, follower quota
}

func newReplicationThrottle(leaderRate, followerRate int64) *replicationThrottle {
	t := &replicationThrottle{}
	t.setRates(leaderRate, followerRate)
	return t
}

func (t *replicationThrottle) setRates(leaderRate, followerRate int64) {
	t.leader.setBound(leaderRate)
	t.follower.setBound(followerRate)
}

// throttledReplicasError is Kafka's ThrottledReplicaListValidator message.
func throttledReplicasError(name string) error {
	return fmt.Errorf("%w: %s must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...", errInvalidConfig, name)
}

// validThrottledReplicas checks a throttled replicas list as Kafka does:
// "*", or items "<partition>:<broker>" (empty items allowed).
func validThrottledReplicas(v string) bool {
	items := strings.Split(v, ",")
	all := true
	joined := ""
	for _, item := range items {
		item = strings.TrimSpace(item)
		joined += item
		if item == "" {
			continue
		}
		p, b, ok := strings.Cut(item, ":")
		if !ok || !digits(p) || !digits(b) {
			all = false
		}
	}
	return all || joined == "*"
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// replicaThrottled reports whether a throttled replicas list names
// partition p on broker id.
func replicaThrottled(list string, p, id int32) bool {
	list = strings.TrimSpace(list)
	if list == "" {
		return false
	}
	if list == "*" {
		return true
	}
	for _, item := range strings.Split(list, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			continue
		}
		pn, err1 := strconv.ParseInt(ps, 10, 32)
		bn, err2 := strconv.ParseInt(bs, 10, 32)
		if err1 == nil && err2 == nil && int32(pn) == p && int32(bn) == id {
			return true
		}
	}
	return false
}

// replicaThrottling is what a topic's throttled replicas lists say of
// one local replica.
type replicaThrottling struct {
	leader   bool // leader.replication.throttled.replicas names it
	follower bool // follower.replication.throttled.replicas names it
}

// setThrottling records what the topic's configs say of part.
func setThrottling(part *partition, configs map[string]string) {
	p := part.tp.Partition
	next := replicaThrottling{
		leader:   replicaThrottled(configs["leader.replication.throttled.replicas"], p, part.self),
		follower: replicaThrottled(configs["follower.replication.throttled.replicas"], p, part.self),
	}
	if cur := part.throttled.Load(); cur == nil || *cur != next {
		part.throttled.Store(&next)
	}
}

// leaderThrottled reports whether a replica fetch of part by replica
// counts against the leader quota: the partition is leader-throttled
// here, a rate is set, and replica is out of sync.
func (b *Broker) leaderThrottled(part *partition, replica int32, isr []int32) bool {
	th := part.throttled.Load()
	return th != nil && th.leader && b.liveConfig().LeaderReplicationThrottledRate != throttleUnlimited && !contains32(isr, replica)
}

// followerThrottled reports whether this broker's fetches of part count
// against the follower quota: it is follower-throttled here, a rate is
// set, and this replica is out of sync.
func (b *Broker) followerThrottled(part *partition, isr []int32) bool {
	th := part.throttled.Load()
	return th != nil && th.follower && b.liveConfig().FollowerReplicationThrottledRate != throttleUnlimited && !contains32(isr, part.self)
}

func contains32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
