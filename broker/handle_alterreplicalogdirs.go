package broker

// AlterReplicaLogDirs, versions 0-2 (KIP-113; v2 is flexible).
//
// Moves this broker's replicas of the named partitions to other log dirs
// of the same broker while they keep serving (storage.Manager.AlterLogDir
// has the steps). Errors per partition, as Kafka's
// ReplicaManager.alterReplicaLogDirs gives them: LOG_DIR_NOT_FOUND for a
// path that is not in log.dirs, REPLICA_NOT_AVAILABLE for a partition
// with no replica here (the dir is remembered and used when it is
// created), INVALID_TOPIC_EXCEPTION for a name too long for the future
// log's directory, KAFKA_STORAGE_ERROR when the future log cannot be
// created. kafka-reassign-partitions.sh sends it for "log_dirs" entries
// other than "any", then polls DescribeLogDirs until the move is done.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

// maxFutureDirName: "<topic>-<partition>.<32 hex>-future" must be a valid
// file name.
const maxFutureDirName = 255

func (b *Broker) handleAlterReplicaLogDirs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterReplicaLogDirsRequest)
	resp := kmsg.NewPtrAlterReplicaLogDirsResponse()
	results := map[string][]kmsg.AlterReplicaLogDirsResponseTopicPartition{}
	for _, d := range req.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				tp := storage.TopicPartition{Topic: t.Topic, Partition: p}
				rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
				rp.Partition = p
				if err := b.alterReplicaLogDir(tp, d.Dir); err != nil {
					b.log.Warn().Err(err).Str("topic", tp.Topic).Int32("partition", p).Str("dir", d.Dir).Msg("cannot alter replica log dir")
					rp.ErrorCode = errorCode(err)
				}
				results[t.Topic] = append(results[t.Topic], rp)
			}
		}
	}
	for topic, parts := range results {
		rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
		rt.Topic, rt.Partitions = topic, parts
		resp.Topics = append(resp.Topics, rt)
	}
	slices.SortFunc(resp.Topics, func(a, b kmsg.AlterReplicaLogDirsResponseTopic) int { return strings.Compare(a.Topic, b.Topic) })
	return resp
}

func (b *Broker) alterReplicaLogDir(tp storage.TopicPartition, dir string) error {
	if n := len(fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)) + 1 + 32 + len("-future"); n > maxFutureDirName {
		return fmt.Errorf("%w: topic name too long to move %s", metastore.ErrInvalidTopic, tp.Topic)
	}
	// storage logs the move itself.
	err := b.logs.AlterLogDir(tp, dir)
	if err != nil && errorCode(err) == kerr.UnknownServerError.Code {
		// Creating the future log failed on disk.
		err = fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	return err
}
