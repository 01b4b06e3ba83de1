package broker

// DescribeLogDirs, versions 0-4 (KIP-113; v3 adds the top-level error
// code, v4 TotalBytes and UsableBytes, KIP-827).
//
// Every log dir of this broker (as absolute paths) with the current and
// future logs in it: size in bytes, OffsetLag and IsFuture. As in Kafka's
// ReplicaManager.describeLogDirs, a current log's lag is how far its end
// is behind the high watermark (never negative) and a future log's how far
// it is behind the current log. A null topic list means every partition;
// topics with no partition in a dir are left out. A dir whose file system
// cannot be read is KAFKA_STORAGE_ERROR with nothing else.
// kafka-log-dirs.sh --describe sends it.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

func (b *Broker) handleDescribeLogDirs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeLogDirsRequest)
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	var wanted map[storage.TopicPartition]bool
	if req.Topics != nil {
		wanted = map[storage.TopicPartition]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				wanted[storage.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	for _, d := range b.logs.DescribeLogDirs() {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = d.Path
		if d.Err != nil {
			b.log.Warn().Err(d.Err).Str("dir", d.Path).Msg("cannot describe log dir")
			rd.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, rd)
			continue
		}
		rd.TotalBytes, rd.UsableBytes = d.TotalBytes, d.UsableBytes
		for _, e := range d.Logs {
			if wanted != nil && !wanted[e.TopicPartition] {
				continue
			}
			if n := len(rd.Topics); n == 0 || rd.Topics[n-1].Topic != e.Topic {
				rt := kmsg.NewDescribeLogDirsResponseDirTopic()
				rt.Topic = e.Topic
				rd.Topics = append(rd.Topics, rt)
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size, rp.IsFuture = e.Partition, e.Size, e.IsFuture
			rp.OffsetLag = b.offsetLag(e)
			rt := &rd.Topics[len(rd.Topics)-1]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	slices.SortFunc(resp.Dirs, func(a, b kmsg.DescribeLogDirsResponseDir) int { return strings.Compare(a.Dir, b.Dir) })
	return resp
}

// offsetLag is Kafka's getLogEndOffsetLag.
func (b *Broker) offsetLag(e storage.LogDirEntry) int64 {
	if e.IsFuture {
		return e.CurrentLogEndOffset - e.LogEndOffset
	}
	b.mu.RLock()
	part := b.parts[e.TopicPartition]
	b.mu.RUnlock()
	if part == nil {
		return 0
	}
	return max(part.highWatermark()-e.LogEndOffset, 0)
}
