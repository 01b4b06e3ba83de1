package broker

// AlterPartitionReassignments, versions 0-1, and
// ListPartitionReassignments, version 0 (KIP-455; both flexible).
//
// A reassignment is started (or replaced, or cancelled with null replicas)
// by a compare-and-swap on the partition's state: the replicas become the
// old and the target ones together, the new ones open the partition and
// follow the leader, and the controller completes the move once every
// target replica is in sync (dropping the old ones, and moving leadership
// if the leader leaves). v1's AllowReplicationFactorChange=false refuses a
// target of another size (INVALID_REPLICATION_FACTOR).

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleAlterPartitionAssignments(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := kmsg.NewPtrAlterPartitionAssignmentsResponse()
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	live := b.liveBrokers()
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if err := b.reassign(ctx, rt.Topic, rp.Partition, rp.Replicas, req.Version < 1 || req.AllowReplicationFactorChange, live); err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

var errNoReassignment = errors.New("broker: no reassignment in progress")

// reassign starts, replaces or (replicas nil) cancels one reassignment.
func (b *Broker) reassign(ctx context.Context, topic string, p int32, replicas []int32, rfChange bool, live func(int32) bool) error {
	t, _ := b.store.Topic(topic)
	if !t.HasPartition(p) {
		return fmt.Errorf("%w: %s-%d", errUnknownTopicOrPartition, topic, p)
	}
	cur := t.Partitions[p]
	var next metastore.PartitionState
	if replicas == nil {
		var ok bool
		if next, ok = controller.CancelReassignment(cur, live); !ok {
			return errNoReassignment
		}
	} else {
		for _, r := range replicas {
			if !live(r) {
				return fmt.Errorf("%w: broker %d is not live", controller.ErrInvalidReplicaAssignment, r)
			}
		}
		if !rfChange && len(replicas) != len(cur.Replicas)-len(cur.Adding) {
			return fmt.Errorf("%w: %d replicas for a partition of %d", controller.ErrInvalidReplicationFactor, len(replicas), len(cur.Replicas)-len(cur.Adding))
		}
		var err error
		if next, err = controller.StartReassignment(cur, replicas); err != nil {
			return err
		}
		if slices.Equal(next.Replicas, cur.Replicas) && !next.Reassigning() && !cur.Reassigning() {
			return nil // already there
		}
	}
	if _, err := b.store.SetPartitionState(ctx, topic, cur, next); err != nil {
		return err
	}
	b.log.Info().Str("topic", topic).Int32("partition", p).Ints32("replicas", next.Replicas).
		Ints32("adding", next.Adding).Ints32("removing", next.Removing).Msg("partition reassignment changed")
	return nil
}

func (b *Broker) handleListPartitionReassignments(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := kmsg.NewPtrListPartitionReassignmentsResponse()
	wanted := func(topic string, p int32) bool {
		if req.Topics == nil {
			return true
		}
		for _, rt := range req.Topics {
			if rt.Topic == topic && slices.Contains(rt.Partitions, p) {
				return true
			}
		}
		return false
	}
	for _, t := range b.store.Topics() {
		var st *kmsg.ListPartitionReassignmentsResponseTopic
		for _, p := range t.Partitions {
			if !p.Reassigning() || !wanted(t.Name, p.Partition) {
				continue
			}
			if st == nil {
				resp.Topics = append(resp.Topics, kmsg.NewListPartitionReassignmentsResponseTopic())
				st = &resp.Topics[len(resp.Topics)-1]
				st.Topic = t.Name
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition, sp.Replicas, sp.AddingReplicas, sp.RemovingReplicas = p.Partition, p.Replicas, p.Adding, p.Removing
			if sp.AddingReplicas == nil {
				sp.AddingReplicas = []int32{}
			}
			if sp.RemovingReplicas == nil {
				sp.RemovingReplicas = []int32{}
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return resp
}
