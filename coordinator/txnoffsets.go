package coordinator

import (
	"context"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkad/kafkad/controller/metastore"
)

// Offsets committed inside a transaction (TxnOffsetCommit, KIP-98) are
// stored at once in etcd as pending (metastore.StorePendingTxnOffsets)
// and become the group's committed offsets only when the transaction
// coordinator writes the commit marker on the group's partition of
// __consumer_offsets (CompleteTxn); an abort marker drops them. Until
// then an OffsetFetch that requires stable offsets (KIP-447, what
// read_committed consumers send) gets UNSTABLE_OFFSET_COMMIT for those
// partitions. Pending offsets survive a coordinator change: the broker
// that loads the group loads them too, and a marker finds them in etcd by
// shard and producer id without the group being loaded.

// loadTxnOffsets reads the group's pending transactional offsets; called
// from load, with g.mu held.
func (g *group) loadTxnOffsets(ctx context.Context) error {
	g.txnOffsets = nil
	if g.own.Topic == "" {
		return nil // unfenced (tests and tools): no shard to look in
	}
	pending, err := g.c.store.LoadPendingTxnOffsets(ctx, g.own.Partition, -1)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if p.Group != g.id {
			continue
		}
		if g.txnOffsets == nil {
			g.txnOffsets = map[int64]map[string]map[int32]metastore.CommittedOffset{}
		}
		g.txnOffsets[p.ProducerID] = p.Offsets
	}
	return nil
}

// hasTxnOffset reports whether an open transaction committed an offset
// for the partition.
func (g *group) hasTxnOffset(topic string, p int32) bool {
	for _, byTopic := range g.txnOffsets {
		if _, ok := byTopic[topic][p]; ok {
			return true
		}
	}
	return false
}

// TxnCommit stores offsets committed by producer pid inside its open
// transaction (TxnOffsetCommit). The member is checked as for OffsetCommit
// when the request names one (v3+); generation < 0 and no member id
// skips that check, as Kafka does for older clients. Per-partition errors
// are set in commits.
func (c *Coordinator) TxnCommit(ctx context.Context, groupID string, pid int64, memberID string, instance *string, generation int32, commits []OffsetCommit) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	g, err := c.lockGroup(ctx, groupID, true)
	if err != nil {
		return err
	}
	defer g.mu.Unlock()
	if memberID != "" || generation >= 0 {
		switch {
		case g.otherKind != "":
			if err := c.commitConsumer(g, memberID, generation, commits); err != nil {
				return err
			}
		default:
			if _, err := g.checkMember(memberID, instance, generation); err != nil {
				return err
			}
		}
	}
	defer c.dropIfUnused(g)
	pending := map[string]map[int32]metastore.CommittedOffset{}
	c.stageCommits(pending, g.txnOffsets[pid], commits)
	if len(pending) == 0 {
		return nil
	}
	// The stored document holds every topic of the transaction.
	for topic, parts := range g.txnOffsets[pid] {
		if pending[topic] == nil {
			pending[topic] = parts
		}
	}
	if err := c.store.StorePendingTxnOffsets(ctx, g.own.Partition, metastore.PendingTxnOffsets{ProducerID: pid, Group: groupID, Offsets: pending}, g.own); err != nil {
		failed := g.storeFailed(err, "cannot store transactional offsets")
		for i := range commits {
			if commits[i].Err == nil {
				commits[i].Err = failed
			}
		}
		return nil
	}
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[string]map[int32]metastore.CommittedOffset{}
	}
	g.txnOffsets[pid] = pending
	return nil
}

// CompleteTxn applies a transaction marker written on partition shard of
// __consumer_offsets: the offsets producer pid committed in the
// transaction become the groups' committed offsets (commit) or are
// dropped (abort). An error leaves them pending; the transaction
// coordinator sends the marker again.
func (c *Coordinator) CompleteTxn(ctx context.Context, shard int32, pid int64, commit bool) error {
	pending, err := c.store.LoadPendingTxnOffsets(ctx, shard, pid)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if err := c.completeGroupTxn(ctx, shard, p, commit); err != nil {
			return err
		}
	}
	return nil
}

func (c *Coordinator) completeGroupTxn(ctx context.Context, shard int32, p metastore.PendingTxnOffsets, commit bool) error {
	g, kerrr := c.lockGroup(ctx, p.Group, true)
	if kerrr != nil {
		return kerrr
	}
	defer g.mu.Unlock()
	byTopic := map[string]map[int32]metastore.CommittedOffset{}
	if commit {
		for topic, parts := range p.Offsets {
			merged := maps.Clone(g.offsets[topic])
			if merged == nil {
				merged = map[int32]metastore.CommittedOffset{}
			}
			maps.Copy(merged, parts)
			byTopic[topic] = merged
		}
	}
	if err := c.store.CompleteTxnOffsets(ctx, shard, p.ProducerID, p.Group, byTopic, g.own); err != nil {
		return g.storeFailed(err, "cannot complete transactional offsets")
	}
	maps.Copy(g.offsets, byTopic)
	delete(g.txnOffsets, p.ProducerID)
	c.log.Debug().Str("group", p.Group).Int64("producer_id", p.ProducerID).Bool("commit", commit).Msg("transactional offsets completed")
	c.dropIfUnused(g)
	return nil
}
