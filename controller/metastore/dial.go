package metastore

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/kafkad/kafkad/controller/internal/zaplog"
)

// DialTimeout bounds how long Dial waits for etcd to answer.
const DialTimeout = 5 * time.Second

// Dial connects to etcd and checks that it answers a linearizable read
// (so a quorum and a leader exist) within DialTimeout; otherwise it fails
// with ErrUnreachable. etcd's client creation alone never fails for an
// unreachable cluster, so without the check a dead etcd would surface
// later as a hang.
func Dial(endpoints []string, logger zerolog.Logger) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrUnreachable)
	}
	log := logger.With().Str("component", "etcd-client").Logger()
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: DialTimeout,
		// The client logs every retry at warn; the store reports what
		// matters through its own errors.
		Logger: zaplog.New(log, zapcore.ErrorLevel, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrUnreachable, endpoints, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	if _, err := client.Get(ctx, "kafkad-dial-check", clientv3.WithCountOnly()); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w: %v did not answer within %s: %w", ErrUnreachable, endpoints, DialTimeout, err)
	}
	return client, nil
}
