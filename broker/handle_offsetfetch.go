package broker

// OffsetFetch, versions 0-10.
//
// v1: offsets from the coordinator (v0 read ZooKeeper; answered the same).
// v2: a null topic list fetches every committed offset, and a
// top-level error. v5: leader epoch. v6+: flexible. v7: require stable
// (no transactions yet, so every offset is stable). v8: batched groups.
// v9: member id and epoch (KIP-848: checked for consumer groups,
// UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH; not for classic groups). v10:
// topics by id. A partition without a committed offset answers -1.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/coordinator"
	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleOffsetFetch(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	resp := kmsg.NewPtrOffsetFetchResponse()
	if req.Version < 8 {
		var topics map[string][]int32
		if req.Topics != nil {
			topics = map[string][]int32{}
			for _, rt := range req.Topics {
				topics[rt.Topic] = append(topics[rt.Topic], rt.Partitions...)
			}
		}
		err := b.checkGroupOwner(req.Group)
		var offsets []coordinator.FetchedOffset
		if err == nil {
			offsets, err = b.coord.Fetch(ctx, req.Group, topics, req.RequireStable)
		}
		if err != nil && req.Version < 2 {
			// No top-level error before v2: every partition carries it.
			for _, rt := range req.Topics {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.Offset, sp.ErrorCode = p, -1, err.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp
		}
		if err != nil {
			resp.ErrorCode = err.Code
			return resp
		}
		// The same answer as a v8 group, reshaped into the old layout.
		var sg kmsg.OffsetFetchResponseGroup
		appendGroupOffsets(&sg, offsets, func(string) [16]byte { return [16]byte{} })
		for _, gt := range sg.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.OffsetFetchResponseTopicPartition{
					Partition: gp.Partition, Offset: gp.Offset, LeaderEpoch: gp.LeaderEpoch, Metadata: gp.Metadata, ErrorCode: gp.ErrorCode,
				})
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, b.offsetFetchGroup(ctx, req.Version, rg, req.RequireStable))
	}
	return resp
}

// offsetFetchGroup answers one group of a batched (v8+) OffsetFetch.
func (b *Broker) offsetFetchGroup(ctx context.Context, version int16, rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	var topics map[string][]int32
	ids := map[string][16]byte{}
	if rg.Topics != nil {
		topics = map[string][]int32{}
		for _, rt := range rg.Topics {
			name, err := b.requestTopic(version >= 10, rt.Topic, rt.TopicID)
			if err != nil {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.TopicID = rt.TopicID
				for _, p := range rt.Partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, kerr.UnknownTopicID.Code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
				continue
			}
			topics[name] = append(topics[name], rt.Partitions...)
			ids[name] = rt.TopicID
		}
	}
	err := b.checkGroupOwner(rg.Group)
	if err == nil && version >= 9 { // KIP-848: a consumer group member's id and epoch
		err = b.coord.CheckConsumerOffsetFetch(ctx, rg.Group, rg.MemberID, rg.MemberEpoch)
	}
	var offsets []coordinator.FetchedOffset
	if err == nil {
		offsets, err = b.coord.Fetch(ctx, rg.Group, topics, requireStable)
	}
	if err != nil {
		sg.ErrorCode = err.Code
		return sg
	}
	appendGroupOffsets(&sg, offsets, func(topic string) [16]byte {
		if id, ok := ids[topic]; ok {
			return id
		}
		t, _ := b.store.Topic(topic)
		return t.ID
	})
	return sg
}

func appendGroupOffsets(sg *kmsg.OffsetFetchResponseGroup, offsets []coordinator.FetchedOffset, topicID func(string) [16]byte) {
	for _, f := range offsets {
		if n := len(sg.Topics); n == 0 || sg.Topics[n-1].Topic != f.Topic {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic, st.TopicID = f.Topic, topicID(f.Topic)
			sg.Topics = append(sg.Topics, st)
		}
		sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		sp.Partition, sp.Offset, sp.LeaderEpoch = f.Partition, f.Offset, f.Epoch
		if f.Err != nil {
			sp.ErrorCode = f.Err.Code
		}
		meta := f.Metadata
		sp.Metadata = &meta
		st := &sg.Topics[len(sg.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
}
