package broker

// OffsetCommit, versions 0-10.
//
// v1: generation and member id. v2-4: retention time (ignored, as Kafka
// does since 2.1: offsets.retention.minutes applies). v6: leader epoch.
// v7: instance id. v8+: flexible. v10: topics by id (KIP-848's era). A
// member's commit is checked against its generation; generation -1 with no
// member id is a standalone consumer, allowed while the group has no
// members. In a KIP-848 consumer group the generation is the member epoch
// (STALE_MEMBER_EPOCH; an older epoch still commits the partitions the
// member was given by then, KIP-1251). Every accepted partition is
// written in one etcd transaction.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleOffsetCommit(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	var commits []coordinator.OffsetCommit
	for _, rt := range req.Topics {
		topic, err := b.requestTopic(req.Version >= 10, rt.Topic, rt.TopicID)
		t, _ := b.store.Topic(topic)
		for _, rp := range rt.Partitions {
			oc := coordinator.OffsetCommit{Topic: topic, Partition: rp.Partition, Offset: rp.Offset, Epoch: rp.LeaderEpoch, Metadata: rp.Metadata}
			switch {
			case err != nil:
				oc.Err = kerr.UnknownTopicID
			case !t.HasPartition(rp.Partition):
				oc.Err = kerr.UnknownTopicOrPartition
			}
			if req.Version < 6 {
				oc.Epoch = -1
			}
			commits = append(commits, oc)
		}
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		generation = -1
	}
	reqErr := b.checkGroupOwner(req.Group)
	if reqErr == nil {
		reqErr = b.coord.Commit(ctx, req.Group, memberID, req.InstanceID, generation, commits)
	}
	resp := kmsg.NewPtrOffsetCommitResponse()
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			err := reqErr
			if err == nil {
				err = commits[i].Err
			}
			if err != nil {
				sp.ErrorCode = err.Code
			}
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
