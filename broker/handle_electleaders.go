package broker

// ElectLeaders, versions 0-2 (KIP-183, KIP-460).
//
// v0: preferred leader election. v1: the election type (0 preferred, 1
// unclean) and a top-level error. v2+: flexible. A null topic list means
// every partition. Each election is a compare-and-swap on the partition's
// state in etcd, so it never overwrites a concurrent controller decision;
// ELECTION_NOT_NEEDED when the partition already has the leader asked for,
// PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no
// replica qualifies.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleElectLeaders(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ElectLeadersRequest)
	resp := kmsg.NewPtrElectLeadersResponse()
	targets := req.Topics
	if targets == nil {
		for _, t := range b.store.Topics() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = t.Name
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
			targets = append(targets, rt)
		}
	}
	live := b.liveBrokers()
	for _, rt := range targets {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		t, _ := b.store.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			var err *kerr.Error
			if !t.HasPartition(p) {
				err = kerr.UnknownTopicOrPartition
			} else {
				err = b.electLeader(ctx, t.Name, t.Partitions[p], req.ElectionType, live)
			}
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = err.Code, &err.Message
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// electLeader runs one election of the given type.
func (b *Broker) electLeader(ctx context.Context, topic string, st metastore.PartitionState, typ int8, live func(int32) bool) *kerr.Error {
	var next metastore.PartitionState
	var ok bool
	switch typ {
	case 0:
		if len(st.Replicas) > 0 && st.Leader == st.Replicas[0] {
			return kerr.ElectionNotNeeded
		}
		if next, ok = controller.PreferredLeader(st, live); !ok {
			return kerr.PreferredLeaderNotAvailable
		}
	case 1:
		if st.Leader >= 0 && live(st.Leader) {
			return kerr.ElectionNotNeeded
		}
		if next, ok = controller.ElectLeader(st, live, true); !ok || next.Leader < 0 {
			return kerr.EligibleLeadersNotAvailable
		}
	default:
		return kerr.InvalidRequest
	}
	if _, err := b.store.SetPartitionState(ctx, topic, st, next); err != nil {
		b.log.Warn().Err(err).Str("topic", topic).Int32("partition", st.Partition).Msg("leader election not written")
		return kerr.NotController
	}
	b.log.Info().Str("topic", topic).Int32("partition", st.Partition).Int32("from_leader", st.Leader).
		Int32("leader", next.Leader).Int32("leader_epoch", next.LeaderEpoch).Str("election", fmt.Sprint(typ)).Msg("leader elected on request")
	return nil
}
