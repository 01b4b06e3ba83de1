package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/coordinator/txn"
	"github.com/kafkad/kafkad/internal/safe"
	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

// Broker is one kafkad broker: listeners, the handler table, and the
// partitions it hosts.
type Broker struct {
	cfg   Config
	log   zerolog.Logger
	store *metastore.Store
	logs  *storage.Manager
	ctrl  *controller.Controller
	table *protocol.Table
	pids  *producerIDs
	coord *coordinator.Coordinator
	txn   *txn.Coordinator
	// peers carries coordinator traffic to other brokers.
	peers *peers
	// fetchers replicate the partitions this broker follows.
	fetchers *fetchers

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	listeners []net.Listener
	reg       *metastore.Registration
	clusterID string

	mu    sync.RWMutex // guards parts
	parts map[storage.TopicPartition]*partition

	// dyn is the effective configuration with dynamic broker configs
	// applied; dynMu orders its updates (an alter request and the store's
	// change signal may both apply one).
	dyn   *brokerConfigs
	dynMu sync.Mutex
	// throttle is the replication quota of throttled replicas.
	throttle *replicationThrottle
	// conns enforces max.connections and max.connections.per.ip;
	// requests bounds queued.max.requests.
	conns    *connQuotas
	requests *requestQueue
}

// New builds a broker over a started metadata store and an opened log
// manager. Start makes it serve.
func New(cfg Config, store *metastore.Store, logs *storage.Manager, logger zerolog.Logger) (*Broker, error) {
	b := &Broker{
		cfg:   cfg,
		log:   logger.With().Str("component", "broker").Int32("broker_id", cfg.BrokerID).Logger(),
		store: store,
		logs:  logs,
		ctrl:  controller.New(store, logger),
		parts: make(map[storage.TopicPartition]*partition),
		dyn:   newBrokerConfigs(cfg),
		conns: newConnQuotas(),
	}
	b.requests = newRequestQueue(cfg.QueuedMaxRequests)
	b.throttle = newReplicationThrottle(cfg.LeaderReplicationThrottledRate, cfg.FollowerReplicationThrottledRate)
	logs.SetCleanerConfig(cfg.Cleaner)
	b.pids = newProducerIDs(store)
	b.coord = coordinator.New(cfg.Group, store, b.groupOwnership, logger)
	b.coord.SetTopics(b.consumerGroupTopics) // KIP-848 subscriptions
	b.txn = txn.New(cfg.Txn, store, txnCluster{b}, logger)
	b.peers = &peers{b: b}
	b.fetchers = newFetchers(b)
	table, err := protocol.NewTable(b.apis()...)
	if err != nil {
		return nil, err
	}
	b.table = table
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

// goroutine runs fn as a goroutine Close waits for; a panic in fn is
// logged and contained (internal/safe).
func (b *Broker) goroutine(fn func()) {
	safe.Go(&b.wg, b.log, "broker goroutine", fn, nil)
}

// service runs a background duty's loop as a goroutine Close waits for,
// restarting it a second after a panic (internal/safe.Loop).
func (b *Broker) service(what string, fn func()) {
	safe.Loop(b.ctx, &b.wg, b.log, what, time.Second, fn)
}

// Start listens on every listener, registers the broker in the metadata
// store, reconciles local partitions with it and starts serving.
func (b *Broker) Start(ctx context.Context) error {
	id, err := b.store.ClusterID(ctx)
	if err != nil {
		return fmt.Errorf("broker: cluster id: %w", err)
	}
	b.clusterID = id
	for _, l := range b.cfg.Listeners {
		ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("broker: listen %s: %w", l.Name, err)
		}
		b.listeners = append(b.listeners, ln)
	}
	info := b.brokerInfo()
	reg, err := b.store.RegisterBroker(ctx, info, b.cfg.SessionTimeout)
	if err != nil {
		b.closeListeners()
		return err
	}
	b.reg = reg
	// Dynamic broker configs apply before any partition opens, so a
	// restarted broker serves with them from its first request.
	cfgChanged, cancelCfg := b.store.SubscribeBrokerConfigs()
	b.loadBrokerConfigs()
	events, cancelEvents := b.store.Subscribe()
	b.reconcileAll()
	b.goroutine(func() {
		defer cancelCfg()
		b.watchBrokerConfigs(cfgChanged)
	})
	b.goroutine(func() {
		defer cancelEvents()
		b.watchTopics(events)
	})
	b.service("retention", func() { b.logs.Run(b.ctx, b.cfg.RetentionCheckInterval) })
	b.service("log cleaner", func() { b.logs.RunCleaner(b.ctx) })
	b.service("isr shrink", b.shrinkISRLoop)
	b.service("controller", b.runController)
	b.service("group ownership", b.groupOwnershipLoop)
	b.service("transaction coordinator", func() { b.txn.Run(b.ctx, 250*time.Millisecond) })
	b.goroutine(func() {
		select {
		case <-reg.Lost():
			b.log.Error().Msg("broker registration lease lost; metadata may be stale until restart")
		case <-b.ctx.Done():
		}
	})
	for _, ln := range b.listeners {
		b.goroutine(func() { b.accept(ln) })
	}
	b.log.Info().Str("cluster_id", id).Strs("listeners", b.Addrs()).Msg("broker started")
	return nil
}

// brokerInfo is what the broker registers: advertised listeners, with a
// listener's real port filled in where it was configured as 0.
func (b *Broker) brokerInfo() metastore.BrokerInfo {
	adv := b.cfg.AdvertisedListeners
	if len(adv) == 0 {
		adv = b.cfg.Listeners
	}
	info := metastore.BrokerInfo{ID: b.cfg.BrokerID, Rack: b.cfg.Rack, DirectoryID: b.logs.DirectoryID()}
	for _, l := range adv {
		port := l.Port
		host := l.Host
		if i := slices.IndexFunc(b.cfg.Listeners, func(c Listener) bool { return c.Name == l.Name }); i >= 0 && i < len(b.listeners) {
			addr := b.listeners[i].Addr().(*net.TCPAddr)
			if port == 0 {
				port = int32(addr.Port)
			}
			if host == "" {
				host = advertisedHost(addr)
			}
		}
		proto := "PLAINTEXT"
		if _, ok := b.cfg.SASL[l.Name]; ok {
			proto = "SASL_PLAINTEXT"
		}
		info.Listeners = append(info.Listeners, metastore.Listener{Name: l.Name, Host: host, Port: port, SecurityProtocol: proto})
	}
	// Host and Port are what other brokers connect to (replica fetchers,
	// coordinator traffic): inter.broker.listener.name, else the first
	// PLAINTEXT listener.
	inter := func(l metastore.Listener) bool { return l.SecurityProtocol == "PLAINTEXT" }
	if b.cfg.InterBroker.Listener != "" {
		inter = func(l metastore.Listener) bool { return l.Name == b.cfg.InterBroker.Listener }
	}
	if i := slices.IndexFunc(info.Listeners, inter); i >= 0 {
		info.Host, info.Port = info.Listeners[i].Host, info.Listeners[i].Port
	} else if len(info.Listeners) > 0 {
		info.Host, info.Port = info.Listeners[0].Host, info.Listeners[0].Port
	}
	return info
}

// advertisedHost picks what to tell clients for a wildcard listener: the
// machine's host name, as Kafka does.
func advertisedHost(addr *net.TCPAddr) string {
	if !addr.IP.IsUnspecified() {
		return addr.IP.String()
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// Addrs returns the addresses the broker listens on.
func (b *Broker) Addrs() []string {
	out := make([]string, len(b.listeners))
	for i, ln := range b.listeners {
		out[i] = ln.Addr().String()
	}
	return out
}

func (b *Broker) accept(ln net.Listener) {
	var delay time.Duration
	// A client in a reconnect loop must not flood the log.
	refusals := b.log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second})
	for {
		if !b.conns.waitSlot(b.ctx, func() int { return int(b.liveConfig().MaxConnections) }) {
			return
		}
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || b.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
			select {
			case <-time.After(delay):
			case <-b.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		live := b.liveConfig()
		if wait := b.conns.throttle(live.MaxConnectionCreationRate, time.Now()); wait > 0 {
			select {
			case <-time.After(wait):
			case <-b.ctx.Done():
				nc.Close()
				return
			}
		}
		ip := remoteIP(nc)
		if ok, limit := b.conns.inc(ip, live); !ok {
			nc.Close()
			refusals.Warn().Str("remote", nc.RemoteAddr().String()).Int("max_connections_per_ip", limit).
				Msg("connection refused: the address already has its maximum of connections")
			continue
		}
		b.goroutine(func() {
			defer b.conns.dec(ip)
			b.serveConn(nc)
		})
	}
}

func (b *Broker) closeListeners() {
	for _, ln := range b.listeners {
		ln.Close()
	}
}

// Close stops serving, waits for every goroutine, deregisters and closes
// the logs.
func (b *Broker) Close() error {
	if b.reg != nil {
		b.controlledShutdown()
	}
	b.closeListeners()
	b.coord.Close()
	b.txn.Close()
	b.cancel()
	b.wg.Wait()
	b.peers.close()
	var errs []error
	if b.reg != nil {
		errs = append(errs, b.reg.Close())
	}
	errs = append(errs, b.logs.Close())
	b.log.Info().Msg("broker stopped")
	return errors.Join(errs...)
}
