package broker

// Connection quotas, as Kafka's ConnectionQuotas applies them at accept:
//
//   - max.connections.per.ip (with max.connections.per.ip.overrides, by
//     IP or host name): a connection from an address already at its
//     limit is accepted and closed at once, with a warning.
//   - max.connections: when the broker holds that many connections the
//     accept loops stop accepting until one closes; new clients wait in
//     the listen backlog and none is served over the limit.
//   - max.connection.creation.rate: a connection accepted faster than
//     the rate waits before it is served, and the accept loop with it;
//     as in Kafka the wait is at most one second (its quota window).
//
// All four are dynamic broker configs; the accept loop reads the live
// configuration for each connection.

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ParseConnectionOverrides reads max.connections.per.ip.overrides,
// "host:count,..." where host is an IP address or a host name.
func ParseConnectionOverrides(v string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, e := range splitList(v) {
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			return nil, fmt.Errorf("broker: %q is not host:count", e)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(e[i+1:]), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("broker: %q has no valid connection count", e)
		}
		host := strings.Trim(strings.TrimSpace(e[:i]), "[]")
		out[host] = int32(n)
	}
	return out, nil
}

// connQuotas counts live connections, overall and per client IP.
type connQuotas struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
	// freed is closed (and replaced) whenever a connection ends, waking an
	// accept loop that waits for a slot.
	freed chan struct{}
	// overridesRaw and overrides cache the resolved per-IP overrides of
	// the configuration value overridesRaw: host names are looked up once
	// per change of the config, not per connection.
	overridesRaw string
	overrides    map[string]int
	// tat is when the creation rate would next allow a connection without
	// delay (a GCRA theoretical arrival time).
	tat time.Time
}

func newConnQuotas() *connQuotas {
	return &connQuotas{perIP: map[string]int{}, freed: make(chan struct{})}
}

// waitSlot blocks while the broker holds max connections or more. A
// raised limit is picked up within a second.
func (q *connQuotas) waitSlot(ctx context.Context, limit func() int) bool {
	for {
		q.mu.Lock()
		if q.total < limit() {
			q.mu.Unlock()
			return true
		}
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return false
		}
	}
}

// throttle charges one new connection against max.connection.creation.rate
// and returns how long it must wait: the time by which connections run
// more than a second's worth ahead of the rate, capped at a second.
func (q *connQuotas) throttle(rate int32, now time.Time) time.Duration {
	if rate >= unlimited {
		return 0
	}
	if rate <= 0 {
		return time.Second
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tat.Before(now) {
		q.tat = now
	}
	q.tat = q.tat.Add(time.Second / time.Duration(rate))
	return min(max(q.tat.Sub(now)-time.Second, 0), time.Second)
}

// inc counts a connection from ip, or reports the per-IP limit it would
// exceed.
func (q *connQuotas) inc(ip string, cfg *Config) (ok bool, limit int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit = int(cfg.MaxConnectionsPerIP)
	if n, ok := q.resolvedOverrides(cfg.MaxConnectionsPerIPOverrides)[ip]; ok {
		limit = n
	}
	if q.perIP[ip] >= limit {
		return false, limit
	}
	q.perIP[ip]++
	q.total++
	return true, limit
}

func (q *connQuotas) dec(ip string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perIP[ip]--; q.perIP[ip] <= 0 {
		delete(q.perIP, ip)
	}
	q.total--
	close(q.freed)
	q.freed = make(chan struct{})
}

// resolvedOverrides maps each override's host to its IPs; q.mu is held.
// A name that does not resolve is skipped, as Kafka cannot apply it
// either.
func (q *connQuotas) resolvedOverrides(raw string) map[string]int {
	if raw == q.overridesRaw && (q.overrides != nil || raw == "") {
		return q.overrides
	}
	parsed, _ := ParseConnectionOverrides(raw) // validated when set
	m := map[string]int{}
	for host, n := range parsed {
		if ip := net.ParseIP(host); ip != nil {
			m[ip.String()] = int(n)
			continue
		}
		ips, _ := net.LookupIP(host)
		for _, ip := range ips {
			m[ip.String()] = int(n)
		}
	}
	q.overridesRaw, q.overrides = raw, m
	return m
}

// remoteIP is the connection's client IP in canonical form.
func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	return host
}

// unlimited is Kafka's Int.MAX default of the connection limits.
const unlimited = math.MaxInt32

// addConnectionKeys registers the connection quotas as dynamic broker
// configs, per broker and cluster-wide, as in Kafka.
func addConnectionKeys(add func(dynamicKey)) {
	add(dynamicKey{name: "max.connections", typ: kmsg.ConfigTypeInt,
		doc: "most connections the broker holds; at the limit it stops accepting until one closes",
		set: intKey(0, math.MaxInt32, func(c *Config, n int64) { c.MaxConnections = int32(n) }),
		get: func(c *Config) string { return itoa(int64(c.MaxConnections)) }})
	add(dynamicKey{name: "max.connection.creation.rate", typ: kmsg.ConfigTypeInt,
		doc: "new connections per second the broker accepts; faster ones wait (at most a second each)",
		set: intKey(0, math.MaxInt32, func(c *Config, n int64) { c.MaxConnectionCreationRate = int32(n) }),
		get: func(c *Config) string { return itoa(int64(c.MaxConnectionCreationRate)) }})
	add(dynamicKey{name: "max.connections.per.ip", typ: kmsg.ConfigTypeInt,
		doc: "most connections from one IP address; a connection over it is closed at once",
		set: intKey(0, math.MaxInt32, func(c *Config, n int64) { c.MaxConnectionsPerIP = int32(n) }),
		get: func(c *Config) string { return itoa(int64(c.MaxConnectionsPerIP)) }})
	add(dynamicKey{name: "max.connections.per.ip.overrides", typ: kmsg.ConfigTypeString,
		doc: "per-IP or per-host-name exceptions to max.connections.per.ip, e.g. \"hostName:100,127.0.0.1:200\"",
		set: func(c *Config, v string) error {
			if _, err := ParseConnectionOverrides(v); err != nil {
				return err
			}
			c.MaxConnectionsPerIPOverrides = strings.TrimSpace(v)
			return nil
		},
		get: func(c *Config) string { return c.MaxConnectionsPerIPOverrides }})
}
