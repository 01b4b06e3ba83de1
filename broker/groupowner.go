package broker

import (
	"hash/fnv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// groupOwner is the broker that coordinates a group: the group id hashed
// over the live brokers, so every broker computes the same owner from the
// same membership. A membership change moves some groups; their members
// get NOT_COORDINATOR, find the new owner, rejoin and resume from the
// offsets in etcd. (The seam for coordinator shards assigned by the
// controller.)
func (b *Broker) groupOwner(group string) int32 {
	brokers := b.store.Brokers()
	if len(brokers) == 0 {
		return -1
	}
	h := fnv.New32a()
	h.Write([]byte(group))
	return brokers[h.Sum32()%uint32(len(brokers))].ID
}

// checkGroupOwner returns NOT_COORDINATOR for a group another broker
// coordinates.
func (b *Broker) checkGroupOwner(group string) *kerr.Error {
	if b.groupOwner(group) != b.cfg.BrokerID {
		return kerr.NotCoordinator
	}
	return nil
}

// groupOwnershipLoop unloads the groups this broker no longer owns, so
// that a group coming back later is read afresh from etcd.
func (b *Broker) groupOwnershipLoop() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
			b.coord.Unload(func(group string) bool { return b.checkGroupOwner(group) != nil })
		}
	}
}
