// Command kafkad runs one kafkad broker.
//
// Configuration uses Kafka's key names, from a server.properties file
// (--config) and as flags; `kafkad --help` lists them. With etcd.endpoints
// empty the broker starts an embedded etcd under its first log dir.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/broker"
	"github.com/kafkad/kafkad/controller/embedetcd"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

func main() { os.Exit(run(os.Args[1:])) }

// newLogger writes human-readable lines to a terminal and JSON otherwise.
func newLogger() zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}).With().Timestamp().Logger().Level(logLevel())
	}
	return zerolog.New(os.Stderr).With().Timestamp().Logger().Level(logLevel())
}

// logLevel is info unless KAFKAD_LOG_LEVEL names another zerolog level
// (debug, warn, ...).
func logLevel() zerolog.Level {
	if l, err := zerolog.ParseLevel(os.Getenv("KAFKAD_LOG_LEVEL")); err == nil && l != zerolog.NoLevel {
		return l
	}
	return zerolog.InfoLevel
}

func run(args []string) int {
	cfg, err := LoadConfig(args)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkad:", err)
		return 2
	}
	logger := newLogger()
	for _, key := range cfg.Ignored {
		logger.Warn().Str("key", key).Msg("config key accepted for compatibility and ignored")
	}
	for _, w := range cfg.Warnings {
		logger.Warn().Msg(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error().Err(err).Msg("kafkad stopped")
		return 1
	}
	return 0
}

// serve wires etcd, the metadata store, the log manager and the broker, and
// runs until ctx ends; then it shuts them down in reverse order.
func serve(ctx context.Context, cfg Config, logger zerolog.Logger) error {
	// The log manager goes first: it locks the log dirs, so a second
	// broker on the same data stops here, before it touches the embedded
	// etcd kept there.
	bcfg := brokerConfig(cfg)
	logs, err := storage.NewManager(cfg.LogDirs, bcfg.Log, logger)
	if err != nil {
		return err
	}
	defer logs.Close() // after the broker's Close; closing twice is harmless
	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		etcd, err := embedetcd.Start(embedetcd.Config{
			Dir:       filepath.Join(cfg.LogDirs[0], embeddedEtcdDir),
			ClientURL: cfg.EtcdEmbeddedClientURL,
			PeerURL:   cfg.EtcdEmbeddedPeerURL,
			Name:      fmt.Sprintf("kafkad-%d", cfg.BrokerID),
		}, logger)
		if err != nil {
			return fmt.Errorf("embedded etcd: %w", err)
		}
		defer etcd.Close()
		endpoints = etcd.Endpoints()
	}
	client, err := metastore.Dial(endpoints, logger)
	if err != nil {
		return err
	}
	defer client.Close()
	store := metastore.New(client, cfg.EtcdPrefix, logger)
	if err := store.Start(ctx); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	defer store.Close()
	if err := addScramCredentials(ctx, store, cfg.AddScram, logger); err != nil {
		return err
	}

	b, err := broker.New(bcfg, store, logs, logger)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info().Msg("shutting down")
	return b.Close()
}

// embeddedEtcdDir is the embedded etcd's directory inside the first log
// dir; its name is not a partition directory name, so the log manager
// leaves it alone.
const embeddedEtcdDir = "__etcd"
