package broker

import (
	"time"
)

// writeISR stores an ISR change the leader decided, in the background,
// with a compare-and-swap against the state it was computed from: a
// controller's concurrent leader change wins, and this change is dropped
// (the next fetch or lag check decides again on the new state).
func (b *Broker) writeISR(part *partition, c *isrChange, reason string) {
	b.goroutine(func() {
		defer part.isrWritten()
		t, err := b.store.SetPartitionState(b.ctx, part.tp.Topic, c.from, c.to)
		if err != nil {
			b.log.Warn().Err(err).Str("topic", part.tp.Topic).Int32("partition", part.tp.Partition).Msg("ISR change not stored")
			return
		}
		b.log.Info().Str("topic", part.tp.Topic).Int32("partition", part.tp.Partition).
			Ints32("from", c.from.ISR).Ints32("to", c.to.ISR).Str("reason", reason).Msg("ISR changed")
		if int(part.tp.Partition) < len(t.Partitions) {
			b.updatePartition(part, t, t.Partitions[part.tp.Partition])
		}
	})
}

// shrinkISRLoop drops followers that have not caught up within
// replica.lag.time.max.ms from the ISR of every partition led here.
func (b *Broker) shrinkISRLoop() {
	lag := b.cfg.ReplicaLagTimeMax
	tick := time.NewTicker(max(lag/2, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-tick.C:
			b.mu.RLock()
			parts := make([]*partition, 0, len(b.parts))
			for _, p := range b.parts {
				parts = append(parts, p)
			}
			b.mu.RUnlock()
			for _, p := range parts {
				if c := p.laggingISR(now, lag); c != nil {
					b.writeISR(p, c, "follower fell behind replica.lag.time.max.ms")
				}
			}
		}
	}
}
