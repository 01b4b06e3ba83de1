package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// result is one measured workload.
type result struct {
	name    string
	records int64
	bytes   int64 // keys plus values
	elapsed time.Duration
	latency *histogram // nil for consume
}

// valueSource hands out value slices of one read-only buffer, so
// producing allocates no value bytes and in-flight records never share
// mutable memory. The text is random letters and digits: "random-ish",
// compressible about as much as typical text payloads, not zeros that
// every codec flattens.
type valueSource struct {
	buf  []byte
	size int
}

func newValueSource(size int) *valueSource {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	rng := rand.New(rand.NewPCG(42, 1024))
	buf := make([]byte, size+1<<20)
	for i := range buf {
		buf[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return &valueSource{buf: buf, size: size}
}

// value returns the i-th value; windows start at pseudo-random offsets so
// neighbouring records differ.
func (s *valueSource) value(i int) []byte {
	off := (i * 7919) % (len(s.buf) - s.size + 1)
	return s.buf[off : off+s.size : off+s.size]
}

// produceSpec is one produce run's client settings.
type produceSpec struct {
	name       string
	topic      string
	acks       kgo.Acks
	idempotent bool
	keys       int // > 0: record i's key is key-(i mod keys); else key-i
}

// produce writes n keyed records and measures each one's latency from the
// Produce call to its promise. Produce blocks while the client's buffer is
// full, so under saturation latency includes the wait in that buffer, as
// an application producing flat out would see.
func produce(ctx context.Context, seeds []string, codec kgo.CompressionCodec, spec produceSpec, n int, values *valueSource) (result, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(spec.topic),
		kgo.RequiredAcks(spec.acks),
		kgo.ProducerBatchCompression(codec),
	}
	if !spec.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return result{}, err
	}
	defer cl.Close()

	res := result{name: spec.name, latency: &histogram{}}
	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		firstErr error
		errOnce  sync.Once
		bytes    atomic.Int64
	)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		k := i
		if spec.keys > 0 {
			k = i % spec.keys
		}
		r := &kgo.Record{Key: strconv.AppendInt([]byte("key-"), int64(k), 10), Value: values.value(i)}
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			res.latency.Record(time.Since(sent))
			bytes.Add(int64(len(r.Key) + len(r.Value)))
		})
	}
	flushErr := cl.Flush(ctx)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.records, res.bytes = int64(res.latency.Count()), bytes.Load()
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case firstErr != nil:
		return res, fmt.Errorf("%s: %d of %d records failed, first: %w", spec.name, failed.Load(), n, firstErr)
	case flushErr != nil:
		return res, fmt.Errorf("%s: flush: %w", spec.name, flushErr)
	}
	return res, nil
}

// consume reads the topic from the start with a direct (group-less)
// consumer until every partition's end offset, checking that offsets are
// contiguous and that exactly want records come back.
func consume(ctx context.Context, seeds []string, adm *kadm.Client, topic string, want int64) (result, error) {
	res := result{name: "consume (acks=1 topic)"}
	startOffsets, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = startOffsets.Error()
	}
	if err != nil {
		return res, fmt.Errorf("listing start offsets: %w", err)
	}
	endOffsets, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = endOffsets.Error()
	}
	if err != nil {
		return res, fmt.Errorf("listing end offsets: %w", err)
	}
	next := map[int32]int64{}
	end := map[int32]int64{}
	var total int64
	startOffsets.Each(func(o kadm.ListedOffset) { next[o.Partition] = o.Offset })
	endOffsets.Each(func(o kadm.ListedOffset) {
		end[o.Partition] = o.Offset
		total += o.Offset - next[o.Partition]
	})
	if total != want {
		return res, fmt.Errorf("%s holds %d records by its offsets, %d were produced", topic, total, want)
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	start := time.Now()
	var gap error
	for res.records < want && gap == nil {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			e := errs[0]
			return res, fmt.Errorf("fetching %s[%d]: %w", e.Topic, e.Partition, e.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if gap == nil && (r.Offset != next[r.Partition] || r.Offset >= end[r.Partition]) {
				gap = fmt.Errorf("partition %d: got offset %d, expected %d (end %d)", r.Partition, r.Offset, next[r.Partition], end[r.Partition])
			}
			next[r.Partition] = r.Offset + 1
			res.records++
			res.bytes += int64(len(r.Key) + len(r.Value))
		})
	}
	res.elapsed = time.Since(start)
	if gap != nil {
		return res, gap
	}
	if res.records != want {
		return res, fmt.Errorf("consumed %d records, produced %d", res.records, want)
	}
	return res, nil
}
