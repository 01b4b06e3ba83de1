package broker

// DeleteTopics, versions 1-6.
//
// v1 is the KIP-896 floor. v4+: flexible. v5: error messages. v6: topics
// by name or by id (KIP-516). delete.topic.enable=false refuses every topic
// with TOPIC_DELETION_DISABLED. A deleted topic's logs are removed by every
// broker hosting it when the metadata store reports the deletion.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDeleteTopics(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := ""
		var err error
		switch {
		case rt.Topic != nil:
			name = *rt.Topic
			if t, ok := b.store.Topic(name); ok {
				st.TopicID = t.ID
			}
		default:
			if t, ok := b.store.TopicByID(rt.TopicID); ok {
				name = t.Name
				st.Topic = &t.Name
			} else {
				err = errUnknownTopicID
			}
		}
		if err == nil && !b.cfg.DeleteTopicEnable {
			err = errTopicDeletionDisabled
		}
		if err == nil {
			err = b.ctrl.DeleteTopic(ctx, name)
		}
		if err == nil {
			// Drop the local logs now rather than when the store's event
			// arrives, so that this client's next request already finds the
			// topic gone.
			b.dropTopic(name)
		}
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
