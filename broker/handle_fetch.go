package broker

// Fetch, versions 4-18.
//
// v4 is the floor (kafka-python 2.0 sends it): isolation level, last
// stable offset and aborted transactions. read_committed (isolation level
// 1) reads up to the last stable offset (the high watermark, or the first
// offset of the oldest transaction still open or whose marker the high
// watermark has not passed yet) and gets the aborted
// transactions overlapping the batches returned, so the client can drop
// their records. v5: log
// start offset. v7: fetch sessions (KIP-227), answered with session id 0
// semantics: kafkad creates no sessions, so every fetch is a full fetch; a
// request naming a session gets FETCH_SESSION_ID_NOT_FOUND, and a sessionless
// request with a positive epoch INVALID_FETCH_SESSION_EPOCH. v9:
// CurrentLeaderEpoch fencing (KIP-320). v11: rack (KIP-392), no preferred
// read replica here. v12+: flexible. v13+: topics named by id (KIP-516).
// v15+: replica state in a tag (KIP-903); v17-v18 add tags only.
//
// Data is whole batches straight from the segment files (no record
// decoding). The response honours MaxBytes and PartitionMaxBytes, except
// that the first batch of the first partition with data is returned whole
// even when larger (KIP-74), so a consumer can always make progress. When
// less than MinBytes is available the fetch waits (up to MaxWaitMillis) for
// an append to any partition it reads, without holding up the connection's
// other requests.

import (
	"context"
	"math"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/storage"
)

// noRecords is the empty (not null) record set of a partition without data.
var noRecords = []byte{}

func (b *Broker) handleFetch(ctx context.Context, r *protocol.Request) {
	req := r.Body.(*kmsg.FetchRequest)
	if code := fetchSessionError(req); code != 0 {
		resp := kmsg.NewPtrFetchResponse()
		resp.ErrorCode = code
		r.Respond(resp)
		return
	}
	resp, size, waitOn := b.readFetch(req)
	if size >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || len(waitOn) == 0 {
		r.Respond(resp)
		return
	}
	// Park the fetch: the connection goes on reading requests, and the
	// writer holds later answers until this one is given.
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	b.requestGoroutine(ctx, "parked fetch", func() { r.Respond(b.waitFetch(ctx, req, deadline, resp, waitOn)) })
}

// waitFetch re-reads after every append to one of the fetch's partitions
// until MinBytes is reached, the deadline passes or the connection closes.
func (b *Broker) waitFetch(ctx context.Context, req *kmsg.FetchRequest, deadline time.Time, resp *kmsg.FetchResponse, waitOn []<-chan struct{}) kmsg.Response {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		cases := make([]reflect.SelectCase, 0, len(waitOn)+2)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
		for _, ch := range waitOn {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		if chosen, _, _ := reflect.Select(cases); chosen < 2 {
			return resp
		}
		var size int
		resp, size, waitOn = b.readFetch(req)
		if size >= int(req.MinBytes) || len(waitOn) == 0 {
			return resp
		}
	}
}

// fetchReplica is the fetching broker's id, or -1 for a consumer.
func fetchReplica(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// fetchSessionError checks the session fields (v7+) against kafkad's
// sessionless answers.
func fetchSessionError(req *kmsg.FetchRequest) int16 {
	switch {
	case req.Version < 7:
		return 0
	case req.SessionID != 0:
		return kerr.FetchSessionIDNotFound.Code
	case req.SessionEpoch > 0:
		return kerr.InvalidFetchSessionEpoch.Code
	}
	return 0
}

// readFetch reads every requested partition once. It returns the answer,
// its data size, and the append channels of the partitions read without
// error (empty when any partition failed: errors are answered at once).
func (b *Broker) readFetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, []<-chan struct{}) {
	resp := kmsg.NewPtrFetchResponse()
	remaining := int64(math.MaxInt32)
	if req.MaxBytes > 0 {
		remaining = int64(req.MaxBytes)
	}
	var size int
	var waitOn []<-chan struct{}
	failed := false
	for i := range req.Topics {
		rt := &req.Topics[i]
		topic, topicErr := b.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			err := topicErr
			if err == nil {
				var ch <-chan struct{}
				ch, err = b.fetchPartition(topic, rp, fetchReplica(req), req.IsolationLevel == 1, size == 0, &remaining, &sp)
				waitOn = append(waitOn, ch)
			}
			if err != nil {
				failed = true
				sp.ErrorCode = errorCode(err)
			}
			if sp.RecordBatches == nil {
				// Kafka answers "no data" with empty records, never null;
				// librdkafka rejects a null record set as a bad message.
				sp.RecordBatches = noRecords
			}
			size += len(sp.RecordBatches)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if failed {
		waitOn = nil
	}
	return resp, size, waitOn
}

// fetchPartition reads one partition into sp. The append channel is taken
// before reading so an append racing with the read still wakes the fetch.
func (b *Broker) fetchPartition(topic string, rp *kmsg.FetchRequestTopicPartition, replica int32, readCommitted, minOne bool, remaining *int64, sp *kmsg.FetchResponseTopicPartition) (<-chan struct{}, error) {
	part, err := b.leaderPartition(topic, rp.Partition)
	if err != nil {
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		return nil, err
	}
	st, _ := part.snapshot()
	if err := checkLeaderEpoch(st.LeaderEpoch, rp.CurrentLeaderEpoch); err != nil {
		return nil, err
	}
	upTo := int64(-1)
	if replica >= 0 {
		// A follower: its fetch offset is its log end; it reads past the
		// high watermark, up to the leader's log end.
		if expand := part.followerFetched(replica, rp.FetchOffset, time.Now()); expand != nil {
			b.writeISR(part, expand, "follower caught up")
		}
		upTo = part.log.LogEndOffset()
	}
	ch := part.waitAppend()
	hw := part.highWatermark()
	lso := part.log.LastStableOffset(hw)
	if upTo < 0 {
		upTo = hw
		if readCommitted {
			upTo = lso
		}
	}
	sp.HighWatermark, sp.LastStableOffset = hw, lso
	sp.LogStartOffset = part.log.LogStartOffset()
	throttled := replica >= 0 && b.leaderThrottled(part, replica, st.ISR)
	now := time.Now()
	if throttled && b.throttle.leader.exceeded(now) {
		return ch, nil // over leader.replication.throttled.rate: no data this time
	}
	limit := min(int64(rp.PartitionMaxBytes), *remaining)
	data, err := part.log.Read(rp.FetchOffset, int32(max(limit, 0)), minOne, upTo)
	if err != nil {
		return nil, err
	}
	if throttled {
		b.throttle.leader.record(now, int64(len(data)))
	}
	sp.RecordBatches = data
	if readCommitted && replica < 0 && len(data) > 0 {
		aborted, err := part.log.AbortedTransactions(rp.FetchOffset, storage.NextOffset(data))
		if err != nil {
			return nil, err
		}
		for _, a := range aborted {
			sp.AbortedTransactions = append(sp.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset})
		}
	}
	*remaining -= int64(len(data))
	return ch, nil
}
