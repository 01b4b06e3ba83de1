package broker

// The controller role. Every broker campaigns for it through the metadata
// store (a lease-backed election in etcd); the winner, until it loses its
// lease or resigns on shutdown, watches the live brokers and writes the
// leadership changes their comings and goings call for: a new leader from
// the ISR (bumping the leader epoch) for partitions whose leader died, dead
// brokers out of the ISR. Its writes are fenced by its controllership, so
// a controller that lost its lease without knowing it changes nothing.

import (
	"context"
	"time"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
)

// controllerTick is how often the controller looks at the live brokers
// (the store's cache, kept current by its watch).
const controllerTick = 200 * time.Millisecond

func (b *Broker) runController() {
	for b.ctx.Err() == nil {
		c, err := b.store.CampaignController(b.ctx, b.cfg.BrokerID, b.cfg.SessionTimeout)
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			b.log.Warn().Err(err).Msg("controller campaign failed; retrying")
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		b.log.Info().Int64("controller_epoch", c.Epoch()).Msg("elected controller")
		b.control(c)
	}
}

// control acts as controller until the controllership ends.
func (b *Broker) control(c *metastore.Controllership) {
	tick := time.NewTicker(controllerTick)
	defer tick.Stop()
	rebalance := time.NewTicker(b.cfg.LeaderImbalanceCheckInterval)
	defer rebalance.Stop()
	unclean := func(t metastore.Topic) bool { return b.cfg.uncleanElection(t.Configs) }
	for {
		select {
		case <-b.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Resign(ctx); err != nil {
				b.log.Warn().Err(err).Msg("cannot resign as controller; the lease will expire")
			}
			return
		case <-c.Lost():
			b.log.Warn().Int64("controller_epoch", c.Epoch()).Msg("controllership lost")
			return
		case <-rebalance.C:
			if b.cfg.AutoLeaderRebalance {
				b.preferredLeaders(c)
			}
			continue
		case <-tick.C:
		}
		topics, isLive := b.store.Topics(), b.liveBrokers()
		changes := controller.LeaderChanges(topics, isLive, unclean)
		if len(changes) == 0 {
			changes = controller.ReassignmentChanges(topics, isLive)
		}
		if len(changes) == 0 {
			continue
		}
		if err := c.SetPartitionStates(b.ctx, changes); err != nil {
			// A leader changed an ISR meanwhile, or the store is away:
			// decide again on the next tick.
			b.log.Debug().Err(err).Msg("leadership changes not written")
			continue
		}
		for _, ch := range changes {
			b.log.Info().Str("topic", ch.Topic).Int32("partition", ch.Next.Partition).
				Int32("from_leader", ch.Expected.Leader).Int32("leader", ch.Next.Leader).
				Int32("leader_epoch", ch.Next.LeaderEpoch).Ints32("isr", ch.Next.ISR).Msg("partition leadership changed")
		}
	}
}

// controllerID is the current controller for Metadata and
// DescribeCluster, or -1 while there is none.
func (b *Broker) controllerID() int32 {
	if id, _, ok := b.store.Controller(); ok {
		return id
	}
	return -1
}

// preferredLeaders moves leadership back to each partition's preferred
// replica where it is live and in sync (auto.leader.rebalance.enable), so
// that leaders spread over the brokers as placement intended after
// failovers moved them.
func (b *Broker) preferredLeaders(c *metastore.Controllership) {
	live := b.liveBrokers()
	var changes []metastore.PartitionChange
	for _, t := range b.store.Topics() {
		for _, p := range t.Partitions {
			if next, ok := controller.PreferredLeader(p, live); ok {
				changes = append(changes, metastore.PartitionChange{Topic: t.Name, Expected: p, Next: next})
			}
		}
	}
	if len(changes) == 0 {
		return
	}
	if err := c.SetPartitionStates(b.ctx, changes); err != nil {
		b.log.Debug().Err(err).Msg("preferred leader election not written")
		return
	}
	b.log.Info().Int("partitions", len(changes)).Msg("preferred leaders restored")
}
