package embedetcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/kafkad/kafkad/controller/internal/zaplog"
)

// Defaults for Config fields left empty.
const (
	DefaultClientURL = "http://127.0.0.1:2379"
	DefaultPeerURL   = "http://127.0.0.1:2380"
	DefaultName      = "kafkad"
)

// startTimeout bounds how long Start waits for the member to elect itself
// and serve; a healthy single member is ready in well under a second.
const startTimeout = 30 * time.Second

// ErrStart is returned when the embedded etcd cannot start.
var ErrStart = errors.New("embedetcd: cannot start etcd")

// Config is the embedded member's configuration.
type Config struct {
	Dir       string // data dir; required
	ClientURL string // default DefaultClientURL
	PeerURL   string // default DefaultPeerURL
	Name      string // member name, default DefaultName

	// fastTest trades durability (no fsync) and robustness to slow disks
	// (short raft ticks) for quick start-up; only StartTest sets it.
	fastTest bool
}

// Server is a running embedded etcd member.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	log       zerolog.Logger
	closing   *atomic.Bool
	closeOnce sync.Once
}

// benign are etcd warnings that hold for every embedded member by design:
// the client port serves both gRPC and HTTP, and the member runs without
// auth (it only listens on loopback).
var benign = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// noTermYet is the error etcd's storage version check logs (at warn, then
// error) when it runs before a new member has persisted its first raft
// term; the check runs again every few seconds and then succeeds.
const noTermYet = "missing term information"

// demoter returns the filter for etcd's logs: the benign warnings, the
// start-up race above, and everything logged once Close has begun (etcd
// reports its own listeners and servers being closed as errors) go to
// debug level.
func demoter(closing *atomic.Bool) zaplog.Demote {
	return func(e zapcore.Entry, fields []zapcore.Field) bool {
		if closing.Load() || benign[e.Message] {
			return true
		}
		for _, f := range fields {
			if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && strings.Contains(err.Error(), noTermYet) {
				return true
			}
		}
		return false
	}
}

// Start starts the member and returns once it serves clients, or fails
// after a bounded wait.
func Start(cfg Config, logger zerolog.Logger) (*Server, error) {
	log := logger.With().Str("component", "etcd").Logger()
	closing := new(atomic.Bool)
	ecfg, err := embedConfig(cfg, log, closing)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	case <-timer.C:
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("%w: not ready after %s", ErrStart, startTimeout)
	}
	s := &Server{etcd: e, log: log, closing: closing}
	for _, u := range ecfg.AdvertiseClientUrls {
		s.endpoints = append(s.endpoints, u.String())
	}
	log.Info().Str("dir", ecfg.Dir).Strs("endpoints", s.endpoints).Msg("embedded etcd started")
	return s, nil
}

// embedConfig turns cfg into etcd's configuration, tuned for one member.
func embedConfig(cfg Config, log zerolog.Logger, closing *atomic.Bool) (*embed.Config, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no data dir", ErrStart)
	}
	if cfg.ClientURL == "" {
		cfg.ClientURL = DefaultClientURL
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = DefaultPeerURL
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	clientURL, err := loopbackURL("client", cfg.ClientURL)
	if err != nil {
		return nil, err
	}
	peerURL, err := loopbackURL("peer", cfg.PeerURL)
	if err != nil {
		return nil, err
	}

	e := embed.NewConfig()
	e.Name = cfg.Name
	e.Dir = cfg.Dir
	e.ListenClientUrls = []url.URL{*clientURL}
	e.AdvertiseClientUrls = []url.URL{*clientURL}
	e.ListenPeerUrls = []url.URL{*peerURL}
	e.AdvertisePeerUrls = []url.URL{*peerURL}
	e.InitialCluster = e.InitialClusterFromName(cfg.Name)
	e.ClusterState = embed.ClusterStateFlagNew // ignored when Dir already holds a member

	// Below warn etcd is chatty about every raft step and request.
	e.LogLevel = "warn"
	e.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zaplog.New(log, zapcore.WarnLevel, demoter(closing)))

	// Metadata writes are few and small: snapshot the raft log often
	// enough to keep the WAL short and restarts quick, and compact old
	// revisions hourly so the backend does not grow without bound.
	e.SnapshotCount = 10_000
	e.AutoCompactionMode = embed.CompactorModePeriodic
	e.AutoCompactionRetention = "1h"
	// Only the gRPC API is used; the JSON gateway is dead weight.
	e.EnableGRPCGateway = false
	if cfg.fastTest {
		// A single member elects itself after a randomized election
		// timeout of up to two ElectionMs; shorter ticks make a test
		// member ready in tens of milliseconds instead of up to 2s.
		e.UnsafeNoFsync = true
		e.TickMs = 10
		e.ElectionMs = 100
	}
	return e, nil
}

// loopbackURL parses u and refuses anything but http on a loopback IP: the
// embedded member has no TLS or auth, so it must not be reachable from
// other hosts.
func loopbackURL(which, u string) (*url.URL, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("%w: %s url %q: %w", ErrStart, which, u, err)
	}
	if parsed.Scheme != "http" {
		return nil, fmt.Errorf("%w: %s url %q: scheme must be http", ErrStart, which, u)
	}
	host := parsed.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: %s url %q: host must be a loopback address", ErrStart, which, u)
	}
	if parsed.Port() == "" {
		return nil, fmt.Errorf("%w: %s url %q: no port", ErrStart, which, u)
	}
	return parsed, nil
}

// Endpoints returns the client URLs to dial.
func (s *Server) Endpoints() []string {
	return append([]string(nil), s.endpoints...)
}

// Close stops the member and waits for it to finish. It is safe to call
// more than once. Close clients first: etcd waits (up to its request
// timeout, several seconds) for connected clients' streams to end.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.etcd.Close()
		s.log.Info().Msg("embedded etcd stopped")
	})
}
