package metastore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// DefaultPrefix is the key prefix when New is given none.
const DefaultPrefix = "/kafkad/"

// keys builds the keys of the layout in doc.go.
type keys struct{ prefix string }

func (k keys) topics() string                  { return k.prefix + "topics/" }
func (k keys) topic(name string) string        { return k.topics() + name }
func (k keys) partitionsOf(name string) string { return k.prefix + "partitions/" + name + "/" }
func (k keys) partition(name string, p int32) string {
	return k.partitionsOf(name) + strconv.FormatInt(int64(p), 10)
}
func (k keys) broker(id int32) string {
	return k.prefix + "brokers/" + strconv.FormatInt(int64(id), 10)
}
func (k keys) clusterID() string       { return k.prefix + "cluster/id" }
func (k keys) producerIDs() string     { return k.prefix + "cluster/producer_ids" }
func (k keys) controller() string      { return k.prefix + "controller" }
func (k keys) controllerEpoch() string { return k.prefix + "controller_epoch" }

// keyKind says what a key under the prefix holds.
type keyKind int

const (
	kindOther keyKind = iota // cluster keys and anything unknown: not cached
	kindTopic
	kindPartition
	kindBroker
	kindController
	kindBrokerConfigs
	kindScram
)

// parsedKey is a key under the prefix, split into its parts.
type parsedKey struct {
	kind      keyKind
	topic     string
	partition int32
	broker    int32
	entity    string // kindBrokerConfigs: broker id or DefaultBrokerEntity
	user      string // kindScram: user name (unescaped)
	mechanism string // kindScram: SCRAM-SHA-256 or SCRAM-SHA-512
}

// parseKey splits a key read from etcd. Keys that do not fit the layout
// (written by something else, or by a newer kafkad) parse as kindOther and
// are ignored rather than trusted.
func (k keys) parseKey(key string) parsedKey {
	rel, ok := strings.CutPrefix(key, k.prefix)
	if !ok {
		return parsedKey{}
	}
	kind, rest, _ := strings.Cut(rel, "/")
	switch kind {
	case "topics":
		if ValidateTopicName(rest) == nil {
			return parsedKey{kind: kindTopic, topic: rest}
		}
	case "partitions":
		name, p, ok := strings.Cut(rest, "/")
		if !ok || ValidateTopicName(name) != nil {
			break
		}
		if n, ok := parseID(p); ok {
			return parsedKey{kind: kindPartition, topic: name, partition: n}
		}
	case "brokers":
		if n, ok := parseID(rest); ok {
			return parsedKey{kind: kindBroker, broker: n}
		}
	case "configs":
		if r, ok := strings.CutPrefix(rest, "brokers/"); ok {
			if e, ok := parseBrokerConfigsKey(r); ok {
				return parsedKey{kind: kindBrokerConfigs, entity: e}
			}
		}
	case "scram":
		if u, m, ok := parseScramKey(rest); ok {
			return parsedKey{kind: kindScram, user: u, mechanism: m}
		}
	case "controller":
		if rel == "controller" {
			return parsedKey{kind: kindController}
		}
	}
	return parsedKey{}
}

// parseID parses a non-negative int32 in canonical decimal (no sign, no
// leading zeros), so that one id has exactly one key.
func parseID(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return int32(n), true
}

// topicRecord is the value of P topics/<name>.
type topicRecord struct {
	ID         string            `json:"id"`
	Partitions []partitionRecord `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

// partitionRecord is one partition inside a topic record: its replicas and
// its state as created.
type partitionRecord struct {
	Replicas []int32 `json:"replicas"`
	stateRecord
}

// stateRecord is the value of P partitions/<name>/<partition>.
type stateRecord struct {
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	ISR         []int32 `json:"isr"`
	// Assigned overrides the topic record's replicas once a reassignment
	// changed them; Adding and Removing describe one in progress.
	Assigned []int32 `json:"assigned,omitempty"`
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// brokerRecord is the value of P brokers/<id>.
type brokerRecord struct {
	Host      string           `json:"host"`
	Port      int32            `json:"port"`
	Rack      string           `json:"rack,omitempty"`
	Listeners []listenerRecord `json:"listeners,omitempty"`
	// DirectoryID identifies the broker's log directory (meta.properties'
	// directory.id): a restart on the same data replaces its own stale
	// registration instead of waiting for the lease to expire.
	DirectoryID string `json:"directory_id,omitempty"`
}

type listenerRecord struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"security_protocol"`
}

// controllerRecord is the value of P controller: who is controller, and
// the epoch it was elected with.
type controllerRecord struct {
	BrokerID int32 `json:"broker_id"`
	Epoch    int64 `json:"epoch"`
}

// controllerEpochRecord is the value of P controller_epoch: the epoch of
// the last controller elected, which outlives its controller key.
type controllerEpochRecord struct {
	Epoch int64 `json:"epoch"`
}

// clusterIDRecord is the value of P cluster/id.
type clusterIDRecord struct {
	ID string `json:"id"`
}

// producerIDsRecord is the value of P cluster/producer_ids.
type producerIDsRecord struct {
	Next int64 `json:"next"`
}

// decodeTopic parses a topic record and checks what the cache relies on:
// a valid id, and replicas and state for every partition.
func decodeTopic(b []byte) (topicRecord, [16]byte, error) {
	var rec topicRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, [16]byte{}, fmt.Errorf("%w: topic record: %w", ErrCorrupt, err)
	}
	id, err := decodeUUID(rec.ID)
	if err != nil {
		return rec, id, err
	}
	for i, p := range rec.Partitions {
		if len(p.Replicas) == 0 {
			return rec, id, fmt.Errorf("%w: topic record: partition %d has no replicas", ErrCorrupt, i)
		}
	}
	return rec, id, nil
}

func decodeState(b []byte) (stateRecord, error) {
	var st stateRecord
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%w: partition state: %w", ErrCorrupt, err)
	}
	return st, nil
}

func decodeController(b []byte) (controllerRecord, error) {
	var rec controllerRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%w: controller: %w", ErrCorrupt, err)
	}
	if rec.BrokerID < 0 || rec.Epoch < 1 {
		return rec, fmt.Errorf("%w: controller: broker %d epoch %d", ErrCorrupt, rec.BrokerID, rec.Epoch)
	}
	return rec, nil
}

func decodeControllerEpoch(b []byte) (int64, error) {
	var rec controllerEpochRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return 0, fmt.Errorf("%w: controller epoch: %w", ErrCorrupt, err)
	}
	if rec.Epoch < 0 {
		return 0, fmt.Errorf("%w: controller epoch %d is negative", ErrCorrupt, rec.Epoch)
	}
	return rec.Epoch, nil
}

func decodeBroker(id int32, b []byte) (BrokerInfo, error) {
	var rec brokerRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return BrokerInfo{}, fmt.Errorf("%w: broker %d: %w", ErrCorrupt, id, err)
	}
	info := BrokerInfo{ID: id, Host: rec.Host, Port: rec.Port, Rack: rec.Rack, DirectoryID: rec.DirectoryID}
	for _, l := range rec.Listeners {
		info.Listeners = append(info.Listeners, Listener(l))
	}
	return info, nil
}

func encodeBroker(b BrokerInfo) brokerRecord {
	rec := brokerRecord{Host: b.Host, Port: b.Port, Rack: b.Rack, DirectoryID: b.DirectoryID}
	for _, l := range b.Listeners {
		rec.Listeners = append(rec.Listeners, listenerRecord(l))
	}
	return rec
}

// mustJSON encodes records made of strings, ints and maps, which cannot
// fail to encode.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("metastore: encode %T: %v", v, err))
	}
	return string(b)
}

// newUUID returns a random version 4 UUID as Kafka makes topic and cluster
// ids: never all-zero (Kafka's "no id") nor 0...01 (its metadata topic),
// and never one whose base64url text starts with '-', which command-line
// tools would take for a flag.
func newUUID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // never fails: crypto/rand aborts the process instead
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id != ([16]byte{}) && id != metadataTopicID && encodeUUID(id)[0] != '-' {
			return id
		}
	}
}

// metadataTopicID is reserved by Kafka for its __cluster_metadata topic.
var metadataTopicID = [16]byte{15: 1}

// encodeUUID renders an id as Kafka prints it: unpadded base64url, 22 chars.
func encodeUUID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func decodeUUID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: id %q is not 16 bytes of unpadded base64url", ErrCorrupt, s)
	}
	copy(id[:], b)
	if id == ([16]byte{}) {
		return id, fmt.Errorf("%w: id is all zero", ErrCorrupt)
	}
	return id, nil
}
