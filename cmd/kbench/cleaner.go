package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The log cleaner workload, on a broker kbench started (it reads the
// partition's segment files on disk, so not with --brokers):
//
//  1. --cleaner-records records of --value-size values go to a one-partition
//     topic with cleanup.policy=delete (nothing is cleaned yet), keyed so
//     that --cleaner-unique of them have distinct keys (key i mod n), in
//     segments of cleanerSegmentBytes.
//  2. A producer writes to another topic for cleanerBaselineTime: the
//     broker's produce throughput with an idle cleaner.
//  3. The topic is altered to cleanup.policy=compact and the same producer
//     runs again until the cleaner is done. Done: the inactive segments
//     (the cleaner never touches the active one) have shrunk below half
//     their dirty size and then stayed the same for cleanerSettle; the
//     cleaning ended at their last change.
//
// Cleaner throughput is the dirty bytes (the inactive segments when the
// policy changed) over the time from the change to the last change of the
// segments, so it includes how soon the cleaner notices: both brokers run
// with log.cleaner.backoff.ms=cleanerBackoffMs. Produce throughput while
// cleaning counts the records acknowledged over that same span.
const (
	cleanerSegmentBytes = 16 << 20
	cleanerBaselineTime = 3 * time.Second
	cleanerBackoffMs    = 100
	cleanerSettle       = 2 * time.Second
	cleanerPoll         = 10 * time.Millisecond
	cleanerTimeout      = 3 * time.Minute
)

// cleanerResult is the cleaner workload's run on one broker.
type cleanerResult struct {
	records     int
	keys        int
	dirtyBytes  int64         // inactive segments' bytes when compaction was turned on
	activeBytes int64         // the active segment's, left alone
	cleanBytes  int64         // inactive segments' bytes once done
	elapsed     time.Duration // policy change to done
	baseline    result        // produce with the cleaner idle
	during      result        // produce while the cleaner ran
}

// mbPerSec is the cleaner's throughput in MB (10^6 bytes) of dirty log per
// second, the unit Kafka's cleaner reports.
func (c cleanerResult) mbPerSec() float64 {
	if secs := c.elapsed.Seconds(); secs > 0 {
		return float64(c.dirtyBytes) / secs / 1e6
	}
	return 0
}

// benchCleaner runs the cleaner workload; a failure is kept in
// r.cleanerErr, only the run's end (ctx) is returned.
func benchCleaner(ctx context.Context, o options, r *brokerRun, adm *kadm.Client, seeds []string, suffix string, stderr io.Writer) error {
	if r.dataDir == "" {
		return nil
	}
	res, err := cleanerRun(ctx, o, r, adm, seeds, suffix, stderr)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: cleaner workload failed: %v\n", r.label, err)
		r.cleanerErr = err
		return nil
	}
	r.cleaner = &res
	return nil
}

func cleanerRun(ctx context.Context, o options, r *brokerRun, adm *kadm.Client, seeds []string, suffix string, stderr io.Writer) (cleanerResult, error) {
	res := cleanerResult{records: o.cleanerRecords, keys: max(int(float64(o.cleanerRecords)*o.cleanerUnique), 1)}
	topic, other := "kbench-compact-"+suffix, "kbench-cleaning-"+suffix
	configs := map[string]*string{
		"cleanup.policy": kadm.StringPtr("delete"),
		"retention.ms":   kadm.StringPtr("-1"),
		"segment.bytes":  kadm.StringPtr(strconv.Itoa(cleanerSegmentBytes)),
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, topic); err != nil {
		return res, fmt.Errorf("creating topic %s: %w", topic, err)
	}
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, other); err != nil {
		return res, fmt.Errorf("creating topic %s: %w", other, err)
	}
	values := newValueSource(o.valueSize)
	fmt.Fprintf(stderr, "%s: cleaner: %d records, %d keys, to %s ...\n", r.label, res.records, res.keys, topic)
	spec := produceSpec{name: "cleaner fill", topic: topic, acks: kgo.LeaderAck(), keys: res.keys}
	if _, err := produce(ctx, seeds, kgo.NoCompression(), spec, res.records, values); err != nil {
		return res, err
	}
	partDir := filepath.Join(r.dataDir, topic+"-0")
	inactive, active, err := segmentBytes(partDir)
	if err != nil {
		return res, err
	}
	if inactive == 0 {
		return res, fmt.Errorf("%s holds one segment only: nothing for the cleaner", topic)
	}
	res.dirtyBytes, res.activeBytes = inactive, active

	fmt.Fprintf(stderr, "%s: cleaner: produce baseline to %s for %s ...\n", r.label, other, cleanerBaselineTime)
	timer := make(chan struct{})
	go func() { time.Sleep(cleanerBaselineTime); close(timer) }()
	if res.baseline, err = produceUntil(ctx, seeds, other, timer, values, nil); err != nil {
		return res, err
	}

	fmt.Fprintf(stderr, "%s: cleaner: compacting %.1f MiB of dirty log while producing to %s ...\n", r.label, float64(inactive)/(1<<20), other)
	done := make(chan struct{})
	var during result
	var duringErr error
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		during, duringErr = produceUntil(ctx, seeds, other, done, values, &acked)
	}()
	var w cleanWait
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}
	w.start(&acked)
	resp, err := adm.AlterTopicConfigs(ctx, alter, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err == nil {
		err = w.wait(ctx, partDir, inactive)
	}
	close(done)
	wg.Wait()
	if err != nil {
		return res, err
	}
	if duringErr != nil {
		return res, duringErr
	}
	res.cleanBytes, res.elapsed = w.size, w.lastChange.Sub(w.started)
	res.during = result{name: during.name, bytes: w.ackedAtChange - w.ackedAtStart, elapsed: res.elapsed}
	return res, nil
}

// cleanWait follows a partition's inactive segments while the cleaner
// works on them, sampling a producer's acknowledged bytes at the same
// instants.
type cleanWait struct {
	acked                       *atomic.Int64
	started, lastChange         time.Time
	ackedAtStart, ackedAtChange int64
	size                        int64 // inactive bytes at the last change
}

func (w *cleanWait) start(acked *atomic.Int64) {
	w.acked, w.started, w.ackedAtStart = acked, time.Now(), acked.Load()
	w.lastChange, w.ackedAtChange = w.started, w.ackedAtStart
}

// wait polls until the inactive segments are below half of dirty and have
// not changed for cleanerSettle.
func (w *cleanWait) wait(ctx context.Context, dir string, dirty int64) error {
	w.size = dirty
	for {
		inactive, _, err := segmentBytes(dir)
		if err != nil {
			return err
		}
		now, acked := time.Now(), w.acked.Load()
		switch {
		case inactive != w.size:
			w.size, w.lastChange, w.ackedAtChange = inactive, now, acked
		case 2*inactive < dirty && now.Sub(w.lastChange) >= cleanerSettle:
			return nil
		case now.Sub(w.started) > cleanerTimeout:
			return fmt.Errorf("not cleaned after %s: inactive segments hold %d of %d dirty bytes", cleanerTimeout, inactive, dirty)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cleanerPoll):
		}
	}
}

// segmentBytes sums the partition's .log files: the active segment (the
// highest base offset) apart from the rest.
func segmentBytes(dir string) (inactive, active int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	var last string
	sizes := map[string]int64{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // swapped away meanwhile
		}
		if err != nil {
			return 0, 0, err
		}
		sizes[e.Name()] = info.Size()
		last = max(last, e.Name()) // 20-digit names sort as offsets
	}
	for name, n := range sizes {
		if name == last {
			active = n
		} else {
			inactive += n
		}
	}
	return inactive, active, nil
}

// produceUntil writes keyed records (acks=1) to topic until stop closes,
// and counts what was acknowledged by then; acked, when not nil, follows
// the acknowledged key and value bytes as they come.
func produceUntil(ctx context.Context, seeds []string, topic string, stop <-chan struct{}, values *valueSource, acked *atomic.Int64) (result, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		return result{}, err
	}
	defer cl.Close()
	var (
		records, bytes atomic.Int64
		firstErr       atomic.Pointer[error]
		stopped        atomic.Bool
	)
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-stop:
		default:
			r := &kgo.Record{Key: strconv.AppendInt([]byte("key-"), int64(i), 10), Value: values.value(i)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				switch {
				case err != nil:
					firstErr.CompareAndSwap(nil, &err)
				case !stopped.Load():
					records.Add(1)
					n := int64(len(r.Key) + len(r.Value))
					bytes.Add(n)
					if acked != nil {
						acked.Add(n)
					}
				}
			})
			continue
		}
		break
	}
	stopped.Store(true)
	elapsed := time.Since(start)
	res := result{name: "produce acks=1", records: records.Load(), bytes: bytes.Load(), elapsed: elapsed}
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	if e := firstErr.Load(); e != nil {
		return res, *e
	}
	return res, ctx.Err()
}

// printCleaner writes the cleaner workload's table.
func printCleaner(w io.Writer, o options, runs []*brokerRun) {
	fmt.Fprintf(w, "\nlog cleaner (one partition, %d records of %d B values, %.0f%% distinct keys, %d MiB segments; produce acks=1 to a %d-partition topic meanwhile)\n",
		o.cleanerRecords, o.valueSize, 100*o.cleanerUnique, cleanerSegmentBytes>>20, o.partitions)
	fmt.Fprintf(w, "%-8s %10s %10s %8s %8s %12s %12s %9s\n",
		"broker", "dirty MiB", "clean MiB", "seconds", "MB/s", "prod. MiB/s", "w/ cleaner", "share")
	var found []*cleanerResult
	for _, r := range runs {
		c := r.cleaner
		if c == nil {
			msg := "not run (needs a broker kbench started)"
			if r.cleanerErr != nil {
				msg = oneLine(r.cleanerErr)
			}
			fmt.Fprintf(w, "%-8s %s\n", r.label, msg)
			continue
		}
		found = append(found, c)
		fmt.Fprintf(w, "%-8s %10.1f %10.1f %8.2f %8.1f %12.1f %12.1f %9s\n", r.label,
			float64(c.dirtyBytes)/(1<<20), float64(c.cleanBytes)/(1<<20), c.elapsed.Seconds(), c.mbPerSec(),
			c.baseline.mibPerSec(), c.during.mibPerSec(), ratio(c.during.mibPerSec(), c.baseline.mibPerSec()))
	}
	if len(runs) == 2 && len(found) == 2 {
		a, b := found[0], found[1]
		fmt.Fprintf(w, "%-8s %10s %10s %8s %8s %12s %12s\n", "ratio", "", "", "", ratio(a.mbPerSec(), b.mbPerSec()),
			ratio(a.baseline.mibPerSec(), b.baseline.mibPerSec()), ratio(a.during.mibPerSec(), b.during.mibPerSec()))
	}
	fmt.Fprintf(w, "MB/s: dirty bytes (inactive segments) over the time from cleanup.policy=compact to the segments' last change (log.cleaner.backoff.ms=%d);\n",
		cleanerBackoffMs)
	fmt.Fprintln(w, "prod. MiB/s: keys and values acknowledged per second with the cleaner idle; w/ cleaner: while it ran; share: the second over the first")
}

// cleanerFailure is the cleaner workload's error, if it ran and failed.
func (r *brokerRun) cleanerFailure() error { return r.cleanerErr }
