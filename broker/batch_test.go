package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/internal/testbatch"
)

// testBatch encodes an uncompressed v2 record batch with a valid CRC, for
// driving Produce by hand. pid -1 means not idempotent.
func testBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	return testbatch.Encode(pid, epoch, seq, values...)
}

// produceRequest wraps batches for one partition in a Produce v9 request.
func produceRequest(topic string, partition int32, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }
