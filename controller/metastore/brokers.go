package metastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Brokers returns the cached live brokers, sorted by id.
func (s *Store) Brokers() []BrokerInfo {
	s.mu.RLock()
	out := make([]BrokerInfo, 0, len(s.cache.brokers))
	for _, b := range s.cache.brokers {
		out = append(out, b.clone())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Registration is a broker's live registration: its key, bound to a lease
// that a goroutine keeps alive until Close.
type Registration struct {
	store     *Store
	id        int32
	lease     clientv3.LeaseID
	cancel    context.CancelFunc
	done      chan struct{} // keepalive goroutine ended
	lost      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// RegisterBroker registers b as live for as long as the returned
// Registration is kept open; ttl (rounded up to whole seconds) is how long
// the key outlives a broker that stops renewing it. If another live broker
// holds the id, it fails with ErrBrokerIDInUse.
func (s *Store) RegisterBroker(ctx context.Context, b BrokerInfo, ttl time.Duration) (*Registration, error) {
	if err := s.running(); err != nil {
		return nil, err
	}
	if b.ID < 0 {
		return nil, fmt.Errorf("metastore: broker id %d is negative", b.ID)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("metastore: broker session ttl %s must be positive", ttl)
	}
	// etcd leases count whole seconds (and the server raises very short
	// ones to its minimum, about 1.5 election timeouts).
	secs := int64(math.Ceil(ttl.Seconds()))
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	lease, err := s.client.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("metastore: register broker %d: grant lease: %w", b.ID, err)
	}
	key := s.keys.broker(b.ID)
	value := mustJSON(encodeBroker(b))
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err == nil && !resp.Succeeded {
		resp, err = s.replaceStaleRegistration(ctx, b, key, value, lease.ID, resp, ttl)
	}
	if err != nil && !errors.Is(err, ErrBrokerIDInUse) {
		err = fmt.Errorf("metastore: register broker %d: %w", b.ID, err)
	}
	if err != nil {
		s.revoke(lease.ID)
		return nil, err
	}

	kaCtx, kaCancel := context.WithCancel(context.Background())
	alive, err := s.client.KeepAlive(kaCtx, lease.ID)
	if err != nil {
		kaCancel()
		s.revoke(lease.ID)
		return nil, fmt.Errorf("metastore: register broker %d: keep lease alive: %w", b.ID, err)
	}
	r := &Registration{
		store:  s,
		id:     b.ID,
		lease:  lease.ID,
		cancel: kaCancel,
		done:   make(chan struct{}),
		lost:   make(chan struct{}),
	}
	go r.keepAlive(kaCtx, alive)
	if err := s.waitRev(ctx, resp.Header.Revision); err != nil {
		_ = r.Close()
		return nil, err
	}
	s.log.Info().Int32("broker", b.ID).Int64("lease", int64(lease.ID)).Msg("broker registered")
	return r, nil
}

// replaceStaleRegistration handles a taken broker key: when it was written
// by a previous run on the same log directory (which this process holds
// locked, so that run is dead), it is replaced, and its lease revoked;
// otherwise another live broker owns the id.
func (s *Store) replaceStaleRegistration(ctx context.Context, b BrokerInfo, key, value string, lease clientv3.LeaseID, failed *clientv3.TxnResponse, ttl time.Duration) (*clientv3.TxnResponse, error) {
	inUse := fmt.Errorf("%w: broker %d is registered by another live broker (its registration expires within %s of that broker stopping)", ErrBrokerIDInUse, b.ID, ttl)
	kvs := failed.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 || b.DirectoryID == "" {
		return nil, inUse // gone in between, or no identity to compare: let the caller retry later
	}
	old, err := decodeBroker(b.ID, kvs[0].Value)
	if err != nil || old.DirectoryID != b.DirectoryID {
		return nil, inUse
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, inUse
	}
	s.log.Info().Int32("broker", b.ID).Str("directory_id", b.DirectoryID).
		Msg("replaced the registration left by this broker's previous run on the same log directory")
	if old := clientv3.LeaseID(kvs[0].Lease); old != clientv3.NoLease {
		s.revoke(old)
	}
	return resp, nil
}

// keepAlive drains the lease's keepalive responses. etcd's client closes
// the channel when it cannot renew the lease before it expires, or the
// lease is gone; unless Close caused that, the registration is lost.
func (r *Registration) keepAlive(ctx context.Context, alive <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(r.done)
	for range alive {
	}
	if ctx.Err() == nil {
		r.store.log.Error().Int32("broker", r.id).Msg("broker registration lost: lease could not be renewed")
		close(r.lost)
	}
}

// Lost is closed if the registration is lost because its lease could not
// be kept alive; the broker's key is then gone (or about to be). It is not
// closed by Close.
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Close stops renewing the lease and revokes it, so the broker's key
// disappears at once rather than after the ttl. Close it before closing
// the etcd client. Calling Close again returns the first result.
func (r *Registration) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		if err := r.store.client.Ctx().Err(); err != nil {
			// The client is closed; the lease expires by itself.
			r.closeErr = fmt.Errorf("metastore: unregister broker %d: etcd client closed: %w", r.id, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		resp, err := r.store.client.Revoke(ctx, r.lease)
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			// Already expired: the key is gone either way.
		case err != nil:
			r.closeErr = fmt.Errorf("metastore: unregister broker %d: %w", r.id, err)
		default:
			// Let Brokers() reflect the removal for the caller, if the
			// store still runs.
			if err := r.store.waitRev(ctx, resp.Header.Revision); err != nil && !errors.Is(err, ErrNotRunning) {
				r.closeErr = err
			}
		}
		r.store.log.Info().Int32("broker", r.id).Msg("broker unregistered")
	})
	return r.closeErr
}

// revoke drops a lease on a failure path; if that fails too, the lease
// expires by itself after its ttl.
func (s *Store) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.client.Revoke(ctx, id); err != nil {
		s.log.Warn().Err(err).Int64("lease", int64(id)).Msg("cannot revoke lease; it will expire")
	}
}
