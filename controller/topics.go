package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/controller/metastore"
)

// Sentinels for topic decisions, mapped to Kafka codes by the broker.
var (
	ErrInvalidPartitions        = errors.New("controller: invalid partition count")
	ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")
	ErrInvalidReplicaAssignment = errors.New("controller: invalid replica assignment")
)

// TopicSpec is a topic to create. Partitions and ReplicationFactor are
// ignored when Assignment (index = partition id) is given.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        [][]int32
	Configs           map[string]string
	Internal          bool // a topic of the broker's own (__consumer_offsets)
}

// Controller makes the topic lifecycle decisions (placement, partition
// growth) and writes them to the metadata store. The election, broker
// failure handling and ISR decisions of the cluster plug in here.
type Controller struct {
	store *metastore.Store
	log   zerolog.Logger
}

// New returns a controller writing through store.
func New(store *metastore.Store, logger zerolog.Logger) *Controller {
	return &Controller{store: store, log: logger.With().Str("component", "controller").Logger()}
}

func (c *Controller) liveBrokers() []int32 {
	brokers := c.store.Brokers()
	ids := make([]int32, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID
	}
	return ids
}

// partitionStates turns an assignment into initial partition states: the
// first replica leads at epoch 0 and every replica is in sync (a new
// partition is empty everywhere).
func partitionStates(first int32, assignment [][]int32) []metastore.PartitionState {
	out := make([]metastore.PartitionState, len(assignment))
	for i, replicas := range assignment {
		out[i] = metastore.PartitionState{
			Partition:   first + int32(i),
			Replicas:    replicas,
			Leader:      replicas[0],
			LeaderEpoch: 0,
			ISR:         append([]int32(nil), replicas...),
		}
	}
	return out
}

// CreateTopic validates spec, places its replicas and, unless validateOnly,
// stores it. It returns the topic as stored (or as it would be).
func (c *Controller) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (metastore.Topic, error) {
	if err := metastore.ValidateTopicName(spec.Name); err != nil {
		return metastore.Topic{}, err
	}
	if _, exists := c.store.Topic(spec.Name); exists {
		return metastore.Topic{}, fmt.Errorf("%w: %s", metastore.ErrTopicExists, spec.Name)
	}
	brokers := c.liveBrokers()
	assignment := spec.Assignment
	if len(assignment) > 0 {
		if spec.Partitions > 0 || spec.ReplicationFactor > 0 {
			return metastore.Topic{}, fmt.Errorf("%w: both an assignment and a partition count or replication factor were given", ErrInvalidReplicaAssignment)
		}
		if err := checkAssignment(assignment, brokers); err != nil {
			return metastore.Topic{}, err
		}
	} else {
		var err error
		if assignment, err = AssignReplicasRacks(brokers, c.racks(), 0, spec.Partitions, spec.ReplicationFactor); err != nil {
			return metastore.Topic{}, err
		}
	}
	t := metastore.Topic{
		Name:       spec.Name,
		Partitions: partitionStates(0, assignment),
		Configs:    spec.Configs,
		Internal:   spec.Internal,
	}
	if validateOnly {
		return t, nil
	}
	created, err := c.store.CreateTopic(ctx, t)
	if err != nil {
		return metastore.Topic{}, err
	}
	c.log.Info().Str("topic", created.Name).Int("partitions", len(created.Partitions)).
		Int("replication_factor", len(assignment[0])).Msg("topic created")
	return created, nil
}

// DeleteTopic removes a topic; brokers delete its logs when they see it go.
func (c *Controller) DeleteTopic(ctx context.Context, name string) error {
	if err := c.store.DeleteTopic(ctx, name); err != nil {
		return err
	}
	c.log.Info().Str("topic", name).Msg("topic deleted")
	return nil
}

// CreatePartitions grows a topic to count partitions, placing the new ones
// with the topic's replication factor or as assignment says.
func (c *Controller) CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) (metastore.Topic, error) {
	t, ok := c.store.Topic(name)
	if !ok {
		return metastore.Topic{}, fmt.Errorf("%w: %s", metastore.ErrTopicNotFound, name)
	}
	current := int32(len(t.Partitions))
	if count <= current {
		return metastore.Topic{}, fmt.Errorf("%w: topic %s has %d partitions, the new count %d must be larger", ErrInvalidPartitions, name, current, count)
	}
	brokers := c.liveBrokers()
	if assignment != nil {
		if int32(len(assignment)) != count-current {
			return metastore.Topic{}, fmt.Errorf("%w: %d assignments for %d new partitions", ErrInvalidReplicaAssignment, len(assignment), count-current)
		}
		if err := checkAssignment(assignment, brokers); err != nil {
			return metastore.Topic{}, err
		}
	} else {
		var err error
		if assignment, err = AssignReplicasRacks(brokers, c.racks(), current, count-current, int16(len(t.Partitions[0].Replicas))); err != nil {
			return metastore.Topic{}, err
		}
	}
	parts := partitionStates(current, assignment)
	if validateOnly {
		t.Partitions = append(t.Partitions, parts...)
		return t, nil
	}
	grown, err := c.store.AddPartitions(ctx, name, parts)
	if err != nil {
		return metastore.Topic{}, err
	}
	c.log.Info().Str("topic", name).Int32("partitions", count).Msg("partitions added")
	return grown, nil
}

// racks returns the live brokers' racks (nil when none has one).
func (c *Controller) racks() map[int32]string {
	var out map[int32]string
	for _, b := range c.store.Brokers() {
		if b.Rack != "" {
			if out == nil {
				out = map[int32]string{}
			}
			out[b.ID] = b.Rack
		}
	}
	return out
}
