package broker

// CreateTopics, versions 2-7.
//
// v2 is the KIP-896 floor; v1+ has ValidateOnly and error messages. v4:
// -1 partitions / replication factor mean the broker defaults (KIP-464).
// v5+: flexible, and the answer repeats the topic's partition count,
// replication factor and configs (KIP-525). v7: topic ids.
//
// Each topic is validated independently: name, a partition count and
// replication factor or else a full replica assignment (never both), and
// every config against the topic config table. A name repeated in one
// request fails every copy with INVALID_REQUEST, as in Kafka.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller"
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleCreateTopics(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	resp := kmsg.NewPtrCreateTopicsResponse()
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	specs := make([]controller.TopicSpec, len(req.Topics))
	errs := make([]error, len(req.Topics))
	var budget recordBudget
	for i := range req.Topics {
		rt := &req.Topics[i]
		specs[i], errs[i] = b.topicSpec(rt)
		if errs[i] == nil && seen[rt.Topic] > 1 {
			errs[i] = fmt.Errorf("%w: topic %s appears more than once", errInvalidRequest, rt.Topic)
		}
		if errs[i] == nil {
			budget.add(1 + int64(specs[i].Partitions) + int64(len(specs[i].Assignment)) + int64(len(specs[i].Configs)))
		}
	}
	// Over Kafka's per-request bound the whole request fails, as the
	// controller's bounded record list does.
	overBudget := !budget.add(0)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var t metastore.Topic
		spec, err := specs[i], errs[i]
		if overBudget {
			err = errExcessiveBatch
		}
		if err == nil {
			t, err = b.ctrl.CreateTopic(ctx, spec, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
			st.NumPartitions, st.ReplicationFactor = -1, -1
		} else {
			st.TopicID = t.ID
			st.NumPartitions = int32(len(t.Partitions))
			st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
			for _, e := range b.topicConfigEntries(t.Configs, nil, false) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.IsSensitive
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// topicSpec turns one requested topic into a controller spec, applying the
// broker defaults for -1 and validating configs.
func (b *Broker) topicSpec(rt *kmsg.CreateTopicsRequestTopic) (controller.TopicSpec, error) {
	spec := controller.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
	if err := metastore.ValidateTopicName(rt.Topic); err != nil {
		return spec, err
	}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, fmt.Errorf("%w: both a replica assignment and a partition count or replication factor were given", errInvalidRequest)
		}
		spec.Partitions, spec.ReplicationFactor = 0, 0
		spec.Assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(rt.ReplicaAssignment) || spec.Assignment[a.Partition] != nil {
				return spec, fmt.Errorf("%w: partitions must be numbered 0 to %d, each once", controller.ErrInvalidReplicaAssignment, len(rt.ReplicaAssignment)-1)
			}
			spec.Assignment[a.Partition] = a.Replicas
		}
	} else {
		if spec.Partitions == -1 {
			spec.Partitions = b.cfg.NumPartitions
		}
		if spec.ReplicationFactor == -1 {
			spec.ReplicationFactor = b.cfg.DefaultReplicationFactor
		}
		if spec.Partitions < 1 {
			return spec, fmt.Errorf("%w: %d must be at least 1", controller.ErrInvalidPartitions, rt.NumPartitions)
		}
		if spec.ReplicationFactor < 1 {
			return spec, fmt.Errorf("%w: %d must be at least 1", controller.ErrInvalidReplicationFactor, rt.ReplicationFactor)
		}
	}
	if len(rt.Configs) > 0 {
		spec.Configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return spec, fmt.Errorf("%w: config %s has a null value", errInvalidConfig, c.Name)
			}
			spec.Configs[c.Name] = *c.Value
		}
		if err := validateTopicConfigs(spec.Configs); err != nil {
			return spec, err
		}
	}
	return spec, nil
}
