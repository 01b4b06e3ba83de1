package protocol

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceBody encodes a Produce request at version v with two topics, the
// second with several partitions, a null and an empty batch, and unknown
// tagged fields where the version has them.
func produceBody(v int16) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = v
	txn := "txn-1"
	req.TransactionID = &txn
	req.Acks = -1
	for i := range 2 {
		topic := kmsg.NewProduceRequestTopic()
		topic.Topic = []string{"a", "long-topic-name"}[i]
		topic.TopicID[0] = byte(i + 1)
		for p := range int32(3 * i) {
			part := kmsg.NewProduceRequestTopicPartition()
			part.Partition = p
			part.Records = make([]byte, 10*p)
			if p == 1 {
				part.Records = nil
			}
			part.UnknownTags.Set(7, []byte{1, 2, 3})
			topic.Partitions = append(topic.Partitions, part)
		}
		topic.UnknownTags.Set(9, []byte{4})
		req.Topics = append(req.Topics, topic)
	}
	req.UnknownTags.Set(11, nil)
	return req.AppendTo(nil)
}

func TestCheckProduceCountsAcceptsValid(t *testing.T) {
	for v := int16(3); v <= 13; v++ {
		body := produceBody(v)
		back := kmsg.NewPtrProduceRequest()
		back.Version = v
		require.NoError(t, back.ReadFrom(body), "v%d", v)
		assert.NoError(t, checkProduceCounts(v, body), "v%d", v)
	}
}

// A body that is only a huge topic or partition count is refused before
// kmsg would allocate ~64 bytes per declared element.
func TestCheckCountsRefusesHostileCounts(t *testing.T) {
	const size = 1 << 20
	fill := func(prefix []byte) []byte {
		b := binary.BigEndian.AppendUint32(append([]byte{}, prefix...), uint32(size))
		return append(b, make([]byte, size)...)
	}
	produce := Header{Key: int16(kmsg.Produce), Version: 7}
	tests := []struct {
		name string
		h    Header
		body []byte
	}{
		// transactional_id null, acks 1, timeout 0, then the topics count.
		{"produce topics", produce, fill([]byte{0xff, 0xff, 0, 1, 0, 0, 0, 0})},
		// ... one topic named "", then its partitions count.
		{"produce partitions", produce, fill([]byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0})},
		{"createtopics above the non-produce cap", Header{Key: int16(kmsg.CreateTopics), Version: 4}, make([]byte, MaxNonProduceBody+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := checkCounts(tc.h, tc.body)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrArrayCount)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10))
		})
	}
	t.Run("table refuses before decoding", func(t *testing.T) {
		tbl, err := NewTable(API{Key: kmsg.Produce, Min: 3, Max: 13, Handle: func(_ context.Context, _ *Request) {}})
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err = tbl.Decode(produce, tests[0].body)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrArrayCount)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size), "allocated more than the frame")
	})
}

// FuzzCheckProduceCounts: the walker never refuses a Produce body kmsg
// decodes, whatever the version.
func FuzzCheckProduceCounts(f *testing.F) {
	for v := int16(3); v <= 13; v++ {
		f.Add(v, produceBody(v))
	}
	f.Fuzz(func(t *testing.T, v int16, body []byte) {
		if v < 3 || v > 13 {
			return
		}
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		walkErr := checkProduceCounts(v, body)
		if req.ReadFrom(body) == nil && walkErr != nil {
			t.Fatalf("v%d: kmsg decodes a body the walker refuses: %v", v, walkErr)
		}
	})
}
