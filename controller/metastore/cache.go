package metastore

import (
	"slices"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// topicEntry is a cached topic record with the revisions that CAS writes
// compare against.
type topicEntry struct {
	rec       topicRecord
	id        [16]byte
	createRev int64 // tells one incarnation of a name from the next
	modRev    int64
}

// stateEntry is a cached partition state key.
type stateEntry struct {
	st     stateRecord
	modRev int64
}

// controllerEntry is the cached controller key.
type controllerEntry struct {
	rec       controllerRecord
	createRev int64 // tells one controllership from the next
}

// cache mirrors the topic, partition, broker and controller keys. The store guards it
// with its mutex; cache itself does no locking.
type cache struct {
	log     zerolog.Logger
	keys    keys
	records map[string]topicEntry
	states  map[string]map[int32]stateEntry // by topic name, then partition
	topics  map[string]Topic                // assembled from records and states
	byID    map[[16]byte]string
	brokers map[int32]BrokerInfo
	// controller is the current controller, nil while there is none.
	controller *controllerEntry
	// brokerConfigs are the dynamic broker configs by entity (broker id,
	// or DefaultBrokerEntity); brokerConfigsChanged is set when one
	// changed and cleared once subscribers were told.
	brokerConfigs        map[string]map[string]string
	brokerConfigsChanged bool
	// scram holds SCRAM credentials by user, then mechanism.
	scram map[string]map[string]ScramCredential
}

func newCache(k keys, log zerolog.Logger) *cache {
	return &cache{
		log:     log,
		keys:    k,
		records: map[string]topicEntry{},
		states:  map[string]map[int32]stateEntry{},
		topics:  map[string]Topic{},
		byID:    map[[16]byte]string{},
		brokers: map[int32]BrokerInfo{},

		brokerConfigs: map[string]map[string]string{},
		scram:         map[string]map[string]ScramCredential{},
	}
}

// touched collects the topics a batch of changes affected: name to
// whether the topic's record was deleted.
type touched map[string]bool

func (t touched) add(name string, deleted bool) { t[name] = t[name] || deleted }

// apply applies one key's new value (or its deletion) and records which
// topic it touched. A value that does not parse is logged and leaves the
// cache as it was: dropping a topic because of a bad write would make
// brokers delete its data.
func (c *cache) apply(kv *mvccpb.KeyValue, deleted bool, t touched) {
	key := c.keys.parseKey(string(kv.Key))
	switch key.kind {
	case kindTopic:
		if deleted {
			delete(c.records, key.topic)
			t.add(key.topic, true)
			return
		}
		rec, id, err := decodeTopic(kv.Value)
		if err != nil {
			c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed topic record")
			return
		}
		if old, ok := c.records[key.topic]; ok && old.createRev != kv.CreateRevision {
			// Deleted and created again between two looks (a reload).
			t.add(key.topic, true)
		}
		c.records[key.topic] = topicEntry{rec: rec, id: id, createRev: kv.CreateRevision, modRev: kv.ModRevision}
		t.add(key.topic, false)
	case kindPartition:
		parts := c.states[key.topic]
		if deleted {
			delete(parts, key.partition)
			if len(parts) == 0 {
				delete(c.states, key.topic)
			}
			t.add(key.topic, false)
			return
		}
		st, err := decodeState(kv.Value)
		if err != nil {
			c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed partition state")
			return
		}
		if parts == nil {
			parts = map[int32]stateEntry{}
			c.states[key.topic] = parts
		}
		parts[key.partition] = stateEntry{st: st, modRev: kv.ModRevision}
		t.add(key.topic, false)
	case kindBroker:
		if deleted {
			delete(c.brokers, key.broker)
			return
		}
		info, err := decodeBroker(key.broker, kv.Value)
		if err != nil {
			c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed broker registration")
			return
		}
		c.brokers[key.broker] = info
	case kindController:
		if deleted {
			c.controller = nil
			return
		}
		rec, err := decodeController(kv.Value)
		if err != nil {
			c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed controller key")
			return
		}
		c.controller = &controllerEntry{rec: rec, createRev: kv.CreateRevision}
	case kindBrokerConfigs:
		c.brokerConfigsChanged = true
		if deleted {
			delete(c.brokerConfigs, key.entity)
			return
		}
		m, err := decodeBrokerConfigs(kv.Value)
		if err != nil {
			c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed broker configs")
			return
		}
		c.brokerConfigs[key.entity] = m
	case kindScram:
		c.applyScram(kv, key, deleted)
	}
}

// rebuild reassembles the cached Topic for name after its keys changed.
func (c *cache) rebuild(name string) {
	if old, ok := c.topics[name]; ok {
		delete(c.byID, old.ID)
		delete(c.topics, name)
	}
	e, ok := c.records[name]
	if !ok {
		return
	}
	t := Topic{
		Name:       name,
		ID:         e.id,
		Partitions: make([]PartitionState, len(e.rec.Partitions)),
		Configs:    cloneConfigs(e.rec.Configs),
		Internal:   e.rec.Internal,
	}
	for i, p := range e.rec.Partitions {
		st := p.stateRecord
		if s, ok := c.states[name][int32(i)]; ok {
			st = s.st
		}
		replicas := p.Replicas
		if len(st.Assigned) > 0 {
			replicas = st.Assigned
		}
		t.Partitions[i] = PartitionState{
			Partition:   int32(i),
			Replicas:    slices.Clone(replicas),
			Leader:      st.Leader,
			LeaderEpoch: st.LeaderEpoch,
			ISR:         slices.Clone(st.ISR),
			Adding:      slices.Clone(st.Adding),
			Removing:    slices.Clone(st.Removing),
		}
	}
	c.topics[name] = t
	c.byID[t.ID] = name
}

// stateModRev is the mod revision of a partition's state key, 0 if it has
// none yet (etcd compares a missing key's revisions as 0).
func (c *cache) stateModRev(name string, p int32) int64 {
	return c.states[name][p].modRev
}
