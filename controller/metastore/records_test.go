package metastore

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKey(t *testing.T) {
	k := keys{prefix: "/kafkad/"}
	cases := []struct {
		name string
		key  string
		want parsedKey
	}{
		{"topic", "/kafkad/topics/orders", parsedKey{kind: kindTopic, topic: "orders"}},
		{"partition", "/kafkad/partitions/orders/12", parsedKey{kind: kindPartition, topic: "orders", partition: 12}},
		{"broker", "/kafkad/brokers/3", parsedKey{kind: kindBroker, broker: 3}},
		{"cluster id", "/kafkad/cluster/id", parsedKey{}},
		{"controller", "/kafkad/controller", parsedKey{kind: kindController}},
		{"controller epoch", "/kafkad/controller_epoch", parsedKey{}},
		{"under controller", "/kafkad/controller/1", parsedKey{}},
		{"other prefix", "/other/topics/orders", parsedKey{}},
		{"invalid topic name", "/kafkad/topics/a/b", parsedKey{}},
		{"empty topic", "/kafkad/topics/", parsedKey{}},
		{"leading zero", "/kafkad/brokers/03", parsedKey{}},
		{"negative", "/kafkad/partitions/orders/-1", parsedKey{}},
		{"too large", "/kafkad/brokers/2147483648", parsedKey{}},
		{"partition without id", "/kafkad/partitions/orders", parsedKey{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, k.parseKey(tc.key))
		})
	}
	// Keys the store writes parse back.
	assert.Equal(t, parsedKey{kind: kindPartition, topic: "t", partition: 7}, k.parseKey(k.partition("t", 7)))
	assert.Equal(t, parsedKey{kind: kindBroker, broker: 42}, k.parseKey(k.broker(42)))
	assert.Equal(t, parsedKey{kind: kindTopic, topic: "t"}, k.parseKey(k.topic("t")))
	assert.Equal(t, parsedKey{kind: kindController}, k.parseKey(k.controller()))
}

func TestNewUUID(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 1000 {
		id := newUUID()
		require.False(t, seen[id])
		seen[id] = true
		assert.NotEqual(t, [16]byte{}, id)
		assert.NotEqual(t, metadataTopicID, id)
		assert.Equal(t, byte(0x40), id[6]&0xf0, "version 4")
		assert.Equal(t, byte(0x80), id[8]&0xc0, "RFC 4122 variant")
		s := encodeUUID(id)
		assert.Len(t, s, 22)
		assert.NotEqual(t, byte('-'), s[0])
		back, err := decodeUUID(s)
		require.NoError(t, err)
		assert.Equal(t, id, back)
	}
}

func TestDecodeTopicRoundTrip(t *testing.T) {
	id := newUUID()
	rec := topicRecord{
		ID:         encodeUUID(id),
		Partitions: []partitionRecord{toPartitionRecord(PartitionState{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}})},
		Configs:    map[string]string{"retention.ms": "1"},
	}
	got, gotID, err := decodeTopic([]byte(mustJSON(rec)))
	require.NoError(t, err)
	assert.Equal(t, rec, got)
	assert.Equal(t, id, gotID)

	for name, bad := range map[string]string{
		"not json":    "{",
		"zero id":     `{"id":"AAAAAAAAAAAAAAAAAAAAAA","partitions":[]}`,
		"short id":    `{"id":"AAAA","partitions":[]}`,
		"no replicas": `{"id":"` + encodeUUID(id) + `","partitions":[{"replicas":[],"leader":-1,"isr":[]}]}`,
	} {
		_, _, err := decodeTopic([]byte(bad))
		assert.ErrorIs(t, err, ErrCorrupt, name)
	}
}

// The decoders parse whatever is in etcd: they must never panic, and what
// they accept must survive re-encoding.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"/kafkad/topics/t", "/kafkad/partitions/t/0", "/kafkad/brokers/1", "/kafkad/x", ""} {
		f.Add(s)
	}
	k := keys{prefix: "/kafkad/"}
	f.Fuzz(func(t *testing.T, key string) {
		p := k.parseKey(key)
		switch p.kind {
		case kindTopic:
			require.Equal(t, key, k.topic(p.topic))
		case kindPartition:
			require.Equal(t, key, k.partition(p.topic, p.partition))
		case kindBroker:
			require.Equal(t, key, k.broker(p.broker))
		}
	})
}

func FuzzDecodeTopic(f *testing.F) {
	f.Add([]byte(`{"id":"` + encodeUUID(newUUID()) + `","partitions":[{"replicas":[1],"leader":1,"leader_epoch":0,"isr":[1]}],"configs":{"a":"b"},"internal":true}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, id, err := decodeTopic(b)
		if err != nil {
			return
		}
		require.NotEqual(t, [16]byte{}, id)
		again, id2, err := decodeTopic([]byte(mustJSON(rec)))
		require.NoError(t, err)
		require.Equal(t, id, id2)
		require.Equal(t, len(rec.Partitions), len(again.Partitions))
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"leader":1,"leader_epoch":2,"isr":[1,2]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		var again stateRecord
		require.NoError(t, json.Unmarshal([]byte(mustJSON(st)), &again))
		require.Equal(t, st.Leader, again.Leader)
		require.Equal(t, st.LeaderEpoch, again.LeaderEpoch)
	})
}

func FuzzDecodeBroker(f *testing.F) {
	f.Add([]byte(mustJSON(encodeBroker(BrokerInfo{ID: 1, Host: "h", Port: 1, Listeners: []Listener{{Name: "PLAINTEXT"}}}))))
	f.Add([]byte(`{"port":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := decodeBroker(5, b)
		if err != nil {
			return
		}
		again, err := decodeBroker(5, []byte(mustJSON(encodeBroker(info))))
		require.NoError(t, err)
		require.Equal(t, info, again)
	})
}
