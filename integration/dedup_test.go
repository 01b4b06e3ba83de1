package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/internal/testbatch"
)

// TestDuplicateBatchRetryAcrossRestart sends the very bytes of an
// idempotent producer's batches again after the broker went down, the way
// a producer retries a batch whose answer it never got. The broker must
// answer with the original offsets and write nothing twice, whether it was
// stopped cleanly (producer-state snapshot) or killed (state rebuilt from
// the log).
func TestDuplicateBatchRetryAcrossRestart(t *testing.T) {
	for _, mode := range []string{"sigterm", "sigkill"} {
		t.Run(mode, func(t *testing.T) {
			k := startKafkad(t, brokerOpts{})
			ctx := context.Background()
			created, err := kadm.NewClient(k.client(t)).CreateTopic(ctx, 1, 1, nil, "dedup")
			require.NoError(t, err)

			cl := k.client(t)
			init, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
			require.NoError(t, err)
			require.Equal(t, int16(0), init.ErrorCode)
			pid, epoch := init.ProducerID, init.ProducerEpoch

			produce := func(cl *kgo.Client, batch []byte) kmsg.ProduceResponseTopicPartition {
				t.Helper()
				req := kmsg.NewPtrProduceRequest()
				req.Acks, req.TimeoutMillis = -1, 5000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic, rt.TopicID = "dedup", created.ID // v13+ names topics by id
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Records = batch
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				require.NoError(t, err)
				return resp.Topics[0].Partitions[0]
			}
			first := testbatch.Encode(pid, epoch, 0, "a", "b")
			second := testbatch.Encode(pid, epoch, 2, "c")
			p := produce(cl, first)
			require.Equal(t, int16(0), p.ErrorCode)
			require.Equal(t, int64(0), p.BaseOffset)
			p = produce(cl, second)
			require.Equal(t, int16(0), p.ErrorCode)
			require.Equal(t, int64(2), p.BaseOffset)

			if mode == "sigkill" {
				k.Kill()
			} else {
				k.Stop()
			}
			k.Start()
			cl = k.client(t)

			p = produce(cl, second)
			require.Equal(t, int16(0), p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
			assert.Equal(t, int64(2), p.BaseOffset, "the retried last batch keeps its offset")
			p = produce(cl, first)
			require.Equal(t, int16(0), p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
			assert.Equal(t, int64(0), p.BaseOffset, "an older batch among the last five keeps its offset")
			p = produce(cl, testbatch.Encode(pid, epoch, 5, "gap"))
			assert.Equal(t, kerr.OutOfOrderSequenceNumber.Code, p.ErrorCode, "a sequence gap is refused")
			p = produce(cl, testbatch.Encode(pid, epoch, 3, "d"))
			require.Equal(t, int16(0), p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
			assert.Equal(t, int64(3), p.BaseOffset)

			consumer := k.client(t, kgo.ConsumeTopics("dedup"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var got []string
			pollCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for len(got) < 4 {
				fs := consumer.PollFetches(pollCtx)
				require.NoError(t, pollCtx.Err(), "consumed only %q", got)
				fs.EachRecord(func(r *kgo.Record) {
					assert.Equal(t, int64(len(got)), r.Offset)
					got = append(got, string(r.Value))
				})
			}
			assert.Equal(t, []string{"a", "b", "c", "d"}, got)
			end, err := kadm.NewClient(cl).ListEndOffsets(ctx, "dedup")
			require.NoError(t, err)
			o, _ := end.Lookup("dedup", 0)
			assert.Equal(t, int64(4), o.Offset, "nothing was written twice")
		})
	}
}
