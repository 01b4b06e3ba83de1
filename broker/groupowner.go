package broker

import (
	"context"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkad/kafkad/controller/metastore"
)

// Groups are sharded as Kafka shards them: a group belongs to partition
// abs(hashCode(group id)) mod N of __consumer_offsets (Java's String
// hashCode, so a group has the same shard as on Apache Kafka), and the
// leader of that partition coordinates it. The controller elects and
// moves those leaders like any other, so coordinator failover is leader
// failover: when a coordinator dies the controller elects another replica
// of its shards, which loads their groups from etcd on first use. The
// partitions hold no records (groups and offsets live in etcd); group
// writes are fenced by the shard's leader epoch (metastore.Ownership).

// groupShard is the partition of __consumer_offsets group belongs to.
func groupShard(group string, partitions int) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs
	} else if h < 0 {
		h = -h
	}
	return h % int32(partitions)
}

// groupOwnership is the shard leadership that coordinates a group now;
// the zero Ownership (Leader 0 never matches a real shard's Topic) when
// __consumer_offsets does not exist yet.
func (b *Broker) groupOwnership(group string) metastore.Ownership {
	p, ok := b.store.PartitionOf(offsetsTopic, func(n int) int32 { return groupShard(group, n) })
	if !ok {
		return metastore.Ownership{Leader: -1}
	}
	return metastore.Ownership{Topic: offsetsTopic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
}

// groupOwner is the broker that coordinates a group, -1 if none does.
func (b *Broker) groupOwner(group string) int32 {
	return b.groupOwnership(group).Leader
}

// checkGroupOwner returns NOT_COORDINATOR for a group another broker
// coordinates, COORDINATOR_NOT_AVAILABLE for one whose shard has no
// leader.
func (b *Broker) checkGroupOwner(group string) *kerr.Error {
	switch b.groupOwner(group) {
	case b.cfg.BrokerID:
		return nil
	case -1:
		return kerr.CoordinatorNotAvailable
	}
	return kerr.NotCoordinator
}

func (b *Broker) ownsGroup(group string) bool { return b.checkGroupOwner(group) == nil }

// groupOwnershipLoop unloads the groups whose shard this broker no longer
// leads at the epoch it loaded them under, and runs the offset retention
// task (offsets.retention.check.interval.ms).
func (b *Broker) groupOwnershipLoop() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	expire := time.NewTicker(b.cfg.Group.RetentionCheck)
	defer expire.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
			b.coord.Unload()
		case <-expire.C:
			ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
			b.coord.ExpireOffsets(ctx, b.ownsGroup)
			cancel()
		}
	}
}
