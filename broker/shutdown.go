package broker

import (
	"context"
	"time"

	"github.com/kafkad/kafkad/controller"
)

// controlledShutdownTimeout bounds how long a stopping broker tries to
// hand its leaderships over (Kafka's controlled.shutdown.* settings).
const controlledShutdownTimeout = 10 * time.Second

// controlledShutdown moves leadership of every partition this broker leads
// to another in-sync replica, and takes it out of the ISRs it is in,
// before it stops: clients switch leaders at once instead of waiting for
// its registration to expire, and acks=-1 produce does not wait on a
// replica that is going away. Its fetchers stop first, so it does not
// rejoin an ISR on the way out. Each change is a compare-and-swap on the
// partition's state, as a leader's ISR change is, so a concurrent
// controller decision is never overwritten; what cannot move (no other
// live in-sync replica) is left to the controller after the broker is gone.
func (b *Broker) controlledShutdown() {
	b.fetchers.stop()
	ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	defer cancel()
	for {
		// ShutdownLeaders never hands a partition to the stopping broker,
		// live as it still is.
		changes, remaining := controller.ShutdownLeaders(b.store.Topics(), b.cfg.BrokerID, b.liveBrokers())
		for _, ch := range changes {
			if _, err := b.store.SetPartitionState(ctx, ch.Topic, ch.Expected, ch.Next); err != nil {
				b.log.Debug().Err(err).Str("topic", ch.Topic).Int32("partition", ch.Next.Partition).Msg("controlled shutdown: change not written; retrying")
				continue
			}
			b.log.Info().Str("topic", ch.Topic).Int32("partition", ch.Next.Partition).Int32("leader", ch.Next.Leader).
				Int32("leader_epoch", ch.Next.LeaderEpoch).Ints32("isr", ch.Next.ISR).Msg("controlled shutdown: partition handed over")
		}
		if len(changes) == 0 {
			if len(remaining) > 0 {
				b.log.Warn().Int("partitions", len(remaining)).Msg("controlled shutdown: some partitions have no other in-sync replica to take over")
			}
			return
		}
		select {
		case <-ctx.Done():
			b.log.Warn().Msg("controlled shutdown timed out")
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
