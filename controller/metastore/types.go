package metastore

import "slices"

// PartitionState is one partition: its replicas and its leadership.
type PartitionState struct {
	Partition   int32
	Replicas    []int32
	Leader      int32 // -1: none
	LeaderEpoch int32
	ISR         []int32
	// Adding and Removing are the replicas a reassignment (KIP-455) adds
	// and removes: while one runs, Replicas holds both the old and the new
	// ones; it ends when every target replica is in sync.
	Adding, Removing []int32
}

// Reassigning reports whether a reassignment runs.
func (p PartitionState) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// Topic is a topic as stored.
type Topic struct {
	Name       string
	ID         [16]byte          // random UUID v4, assigned at creation, never all-zero
	Partitions []PartitionState  // index == partition id
	Configs    map[string]string // topic-level overrides only (Kafka names); nil if none
	Internal   bool
}

// HasPartition reports whether partition p exists (false for the zero
// Topic a failed lookup returns).
func (t Topic) HasPartition(p int32) bool { return p >= 0 && int(p) < len(t.Partitions) }

// TopicEvent tells a subscriber that a topic changed. Topic is the state
// when the event was delivered; it is empty when Deleted.
type TopicEvent struct {
	Name    string
	Topic   Topic
	Deleted bool
}

// BrokerInfo is a live broker as registered.
type BrokerInfo struct {
	ID        int32
	Host      string
	Port      int32
	Rack      string
	Listeners []Listener
	// DirectoryID names the log directory the broker runs on. A broker
	// holds its directory's lock while running, so a registration with the
	// same id and directory can only be left by a previous run that
	// crashed; RegisterBroker replaces it.
	DirectoryID string
}

// Listener is one advertised listener of a broker.
type Listener struct {
	Name, Host       string
	Port             int32
	SecurityProtocol string
}

// clone returns a deep copy, so callers may keep or change what they are
// given without touching the cache.
func (t Topic) clone() Topic {
	out := t
	out.Partitions = make([]PartitionState, len(t.Partitions))
	for i, p := range t.Partitions {
		out.Partitions[i] = p.clone()
	}
	out.Configs = cloneConfigs(t.Configs)
	return out
}

func (p PartitionState) clone() PartitionState {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	return p
}

func (b BrokerInfo) clone() BrokerInfo {
	b.Listeners = slices.Clone(b.Listeners)
	return b
}

// cloneConfigs copies a config map; an empty one becomes nil so that a
// topic without overrides always looks the same.
func cloneConfigs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PartitionChange is a state change of one partition: Next replaces
// Expected if Expected is still the partition's state when the write
// lands. Next.Replicas is ignored, as the assignment belongs to the topic.
type PartitionChange struct {
	Topic    string
	Expected PartitionState
	Next     PartitionState
}
