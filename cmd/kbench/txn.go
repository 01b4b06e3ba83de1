package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transactions workloads, with franz-go: one transactional producer
// per transaction size writes --txn-records records (--value-size values,
// acks=-1, as transactions require) to a topic of --partitions partitions
// in transactions of that many records, one after the other: begin,
// produce every record, Flush, EndTransaction(TryCommit). --txn-time ends
// the measured part early: a broker slow at transactions is measured over
// the transactions it got through, not waited for. The first transactions
// are an unmeasured warm-up of --warmup records or txnWarmupTime, whichever
// ends first (at least one transaction, which carries FindCoordinator and
// InitProducerId).
//
// Every transaction is bounded by txnStepTimeout, so a broker that never
// answers, or answers a retriable error forever, fails the workload instead
// of stalling the run; the failure is kept in the broker's row and the
// other broker's figures still count.
var txnSizes = []int{100, 1000}

const (
	// txnStepTimeout bounds one transaction, begin to commit.
	txnStepTimeout = 30 * time.Second
	// txnAbortTimeout bounds aborting a failed transaction.
	txnAbortTimeout = 10 * time.Second
	// txnTimeout is the transaction.timeout.ms franz-go asks for: above
	// txnStepTimeout, so the coordinator never aborts a transaction the
	// workload is still waiting on.
	txnTimeout = time.Minute
	// txnWarmupTime bounds the warm-up of one transaction size.
	txnWarmupTime = 5 * time.Second
)

// txnResult is one transaction size's run on one broker.
type txnResult struct {
	size    int   // records per transaction
	txns    int64 // measured transactions committed
	records int64
	bytes   int64 // keys plus values
	elapsed time.Duration
	commit  *histogram // the EndTransaction(TryCommit) call, per transaction
	// etcd is kafkad's embedded etcd's write counters over the measured
	// transactions; nil for a broker without one kbench can read.
	etcd *etcdWrites
}

// rate is records per second.
func (t txnResult) rate() float64 {
	if secs := t.elapsed.Seconds(); secs > 0 {
		return float64(t.records) / secs
	}
	return 0
}

// mibPerSec is MiB of keys and values per second.
func (t txnResult) mibPerSec() float64 {
	if secs := t.elapsed.Seconds(); secs > 0 {
		return float64(t.bytes) / secs / (1 << 20)
	}
	return 0
}

// txnRuns is how many transactions of size records the workload runs: the
// warm-up's (at least one) and the measured ones (at least one).
func txnRuns(size, warmupRecords, records int) (warm, measured int) {
	return max(min(warmupRecords, records)/size, 1), max(records/size, 1)
}

// benchTxns runs the transactions workloads on one broker. A failure is
// kept in r.txnErr, as the group workloads' is, and the sizes after it are
// not run; only the run's end (ctx) is returned.
func benchTxns(ctx context.Context, o options, r *brokerRun, adm *kadm.Client, seeds []string, fresh bool, suffix string, stderr io.Writer) error {
	r.txnUnsupported = !advertisesEndTxn(ctx, adm)
	values := newValueSource(o.valueSize)
	for _, size := range txnSizes {
		topic := fmt.Sprintf("kbench-txn%d-%s", size, suffix)
		created, err := adm.CreateTopic(ctx, int32(o.partitions), max(r.rf, 1), nil, topic)
		if err == nil {
			err = created.Err
		}
		if err != nil {
			r.txnErr, r.txnFailedSize = fmt.Errorf("creating topic %s: %w", topic, err), size
			return ctx.Err()
		}
		if !fresh && !o.keepTopics {
			defer deleteTopic(adm, topic, stderr)
		}
		warm, measured := txnRuns(size, o.warmup, o.txnRecords)
		fmt.Fprintf(stderr, "%s: transactions: %d of %d records or %s to %s (after up to %d unmeasured) ...\n", r.label, measured, size, o.txnTime, topic, warm)
		res, err := txnRun(ctx, seeds, codecs[o.compression], topic, "kbench-txn-"+suffix+"-"+strconv.Itoa(size), size, warm, measured, o.txnTime, values, r.etcdURL)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.txnErr, r.txnFailedSize = err, size
			fmt.Fprintf(stderr, "%s: transactions of %d records failed: %v\n", r.label, size, err)
			return nil
		}
		r.txns = append(r.txns, res)
	}
	return nil
}

// advertisesEndTxn tells whether the broker lists EndTxn in its
// ApiVersions: one that does not has no transactions yet, and its failure
// is reported as such rather than as a broken run. An unanswered request
// counts as advertising, so a failure is never excused by doubt.
func advertisesEndTxn(ctx context.Context, adm *kadm.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return true
	}
	for _, v := range versions {
		if v.Err != nil {
			continue
		}
		if _, ok := v.KeyMaxVersion(int16(kmsg.EndTxn)); !ok {
			return false
		}
	}
	return true
}

// txnRun produces up to warm unmeasured transactions of size records
// (txnWarmupTime ends them early), then up to measured ones (limit ends
// them early), with one transactional producer; at least one of each. With
// etcdURL it reads the embedded etcd's write counters before and after the
// measured part.
func txnRun(ctx context.Context, seeds []string, codec kgo.CompressionCodec, topic, txnID string, size, warm, measured int, limit time.Duration, values *valueSource, etcdURL string) (txnResult, error) {
	res := txnResult{size: size, commit: &histogram{}}
	log := &lastErrLogger{}
	cl, err := kgo.NewClient(
		kgo.WithLogger(log),
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(txnTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
	)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	p := &txnProducer{cl: cl, values: values, log: log}
	warmStart := time.Now()
	for i := 0; i < warm && (i == 0 || time.Since(warmStart) < txnWarmupTime); i++ {
		if _, _, err := p.transaction(ctx, size); err != nil {
			return res, coordinatorHint(ctx, cl, txnID, fmt.Errorf("warm-up transaction %d: %w", i+1, err))
		}
	}
	var before etcdWrites
	if etcdURL != "" {
		if before, err = readEtcdWrites(ctx, etcdURL); err != nil {
			return res, err
		}
	}
	start := time.Now()
	for i := 0; i < measured && (i == 0 || time.Since(start) < limit); i++ {
		took, bytes, err := p.transaction(ctx, size)
		if err != nil {
			return res, coordinatorHint(ctx, cl, txnID, fmt.Errorf("transaction %d: %w", i+1, err))
		}
		res.commit.Record(took)
		res.txns++
		res.records += int64(size)
		res.bytes += bytes
	}
	res.elapsed = time.Since(start)
	if etcdURL != "" {
		after, err := readEtcdWrites(ctx, etcdURL)
		if err != nil {
			return res, err
		}
		res.etcd = &etcdWrites{proposals: after.proposals - before.proposals, puts: after.puts - before.puts}
	}
	return res, nil
}

// coordinatorHint adds to a transaction that timed out what the broker
// answers a FindCoordinator for its transactional id, when that is an
// error: a client retrying COORDINATOR_NOT_AVAILABLE until the deadline
// says nothing more than "context deadline exceeded" itself.
func coordinatorHint(ctx context.Context, cl *kgo.Client, txnID string, err error) error {
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 1 // transaction
	req.CoordinatorKey, req.CoordinatorKeys = txnID, []string{txnID}
	resp, rerr := req.RequestWith(ctx, cl)
	if rerr != nil {
		return err
	}
	code := resp.ErrorCode
	if len(resp.Coordinators) > 0 { // v4+: batched keys
		code = resp.Coordinators[0].ErrorCode
	}
	if cerr := kerr.ErrorForCode(code); cerr != nil {
		return fmt.Errorf("%w; FindCoordinator for transactional id %s answers %w", err, txnID, cerr)
	}
	return err
}

// txnProducer runs transactions one after the other on one client.
type txnProducer struct {
	cl     *kgo.Client
	values *valueSource
	log    *lastErrLogger
	next   int // index of the next record, for its key and value
}

// transaction begins a transaction, produces size records, flushes and
// commits, all within txnStepTimeout. It returns how long the commit
// (EndTransaction) took and the bytes of keys and values committed. A
// transaction that fails is aborted.
func (p *txnProducer) transaction(ctx context.Context, size int) (commit time.Duration, bytes int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, txnStepTimeout)
	defer cancel()
	if err := p.cl.BeginTransaction(); err != nil {
		return 0, 0, fmt.Errorf("begin: %w", err)
	}
	p.log.reset()
	defer func() {
		if err != nil {
			err = p.log.explain(err)
			p.abort()
		}
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	for range size {
		i := p.next
		p.next++
		r := &kgo.Record{Key: strconv.AppendInt([]byte("key-"), int64(i), 10), Value: p.values.value(i)}
		bytes += int64(len(r.Key) + len(r.Value))
		wg.Add(1)
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				if failed++; firstErr == nil {
					firstErr = err
				}
			}
		})
	}
	// Flush returns once every promise has been called, or when ctx
	// ends; only in the first case is waiting for the promises safe.
	if err := p.cl.Flush(ctx); err != nil {
		return 0, 0, fmt.Errorf("flush: %w", err)
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, fmt.Errorf("%d of %d records failed, first: %w", failed, size, firstErr)
	}
	start := time.Now()
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return time.Since(start), bytes, nil
}

// abort fails whatever is still buffered and aborts the transaction, on
// its own deadline: the transaction's may be what ended it. Its errors are
// of no interest, the transaction's own is reported.
func (p *txnProducer) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), txnAbortTimeout)
	defer cancel()
	_ = p.cl.AbortBufferedRecords(ctx)
	_ = p.cl.EndTransaction(ctx, kgo.TryAbort)
}

// lastErrLogger keeps the last error franz-go logged. A transaction that
// times out says only "context deadline exceeded", while the client has
// been retrying something the whole time (FindCoordinator answered
// COORDINATOR_NOT_AVAILABLE, say): that is the explanation worth showing.
type lastErrLogger struct {
	mu   sync.Mutex
	last string
}

func (l *lastErrLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

// Log keeps a message that carries an "err" key with a non-nil value.
func (l *lastErrLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, _ := keyvals[i].(string); k == "err" && keyvals[i+1] != nil {
			l.mu.Lock()
			l.last = fmt.Sprintf("%s: %v", msg, keyvals[i+1])
			l.mu.Unlock()
			return
		}
	}
}

func (l *lastErrLogger) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = ""
}

// explain adds the client's last logged error to err, the cause of which
// it likely is.
func (l *lastErrLogger) explain(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == "" {
		return err
	}
	return fmt.Errorf("%w (the client's last logged error: %s)", err, l.last)
}

// printTxns writes the transactions workloads' rows: per transaction size
// a row per broker and, with two that both measured it, a row of ratios,
// first to second.
func printTxns(w io.Writer, o options, runs []*brokerRun) {
	fmt.Fprintf(w, "\ntransactions (franz-go, one transactional producer, acks=-1, %d records of %d B values or %s per size, %d partitions, compression %s)\n",
		o.txnRecords, o.valueSize, o.txnTime, o.partitions, o.compression)
	fmt.Fprintf(w, "%-24s %-7s %7s %9s %8s %10s %8s %9s %9s %9s\n",
		"workload", "broker", "txns", "records", "seconds", "records/s", "MiB/s", "p50 ms", "p99 ms", "max ms")
	for _, size := range txnSizes {
		name := fmt.Sprintf("txn of %d records", size)
		found := make([]*txnResult, len(runs))
		for i, r := range runs {
			found[i] = r.txnResult(size)
			if t := found[i]; t != nil {
				h := t.commit
				fmt.Fprintf(w, "%-24s %-7s %7d %9d %8.2f %10.0f %8.1f %9s %9s %9s\n", name, r.label, t.txns, t.records, t.elapsed.Seconds(),
					t.rate(), t.mibPerSec(), ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Max()))
			} else {
				fmt.Fprintf(w, "%-24s %-7s %s\n", name, r.label, r.txnMissing(size))
			}
			name = ""
		}
		if len(runs) == 2 && found[0] != nil && found[1] != nil {
			a, b := found[0], found[1]
			fmt.Fprintf(w, "%-24s %-7s %7s %9s %8s %10s %8s %9s %9s %9s\n", "", "ratio", "", "", "",
				ratio(a.rate(), b.rate()), ratio(a.mibPerSec(), b.mibPerSec()),
				ratio(float64(a.commit.Percentile(50)), float64(b.commit.Percentile(50))),
				ratio(float64(a.commit.Percentile(99)), float64(b.commit.Percentile(99))),
				ratio(float64(a.commit.Max()), float64(b.commit.Max())))
		}
	}
	fmt.Fprintln(w, "each transaction: begin, produce its records, Flush, EndTransaction(TryCommit), one after the other;")
	fmt.Fprintln(w, "records/s and MiB/s over whole transactions (MiB/s counts keys and values); latency (ms): the EndTransaction call (EndTxn), per transaction")
	for _, r := range runs {
		for _, t := range r.txns {
			if e := t.etcd; e != nil && t.txns > 0 {
				n := float64(t.txns)
				fmt.Fprintf(w, "%s etcd writes per transaction of %d records: %.2f raft proposals, %.2f keys put (embedded etcd's /metrics over the run; background writes included)\n",
					r.label, t.size, e.proposals/n, e.puts/n)
			}
		}
		if r.txnErr != nil && r.txnUnsupported {
			fmt.Fprintf(w, "%s does not advertise EndTxn (ApiVersions): no transactions yet, its failure does not fail the run\n", r.label)
		}
	}
}

// txnResult is the run's result for one transaction size, nil if it has
// none.
func (r *brokerRun) txnResult(size int) *txnResult {
	i := slices.IndexFunc(r.txns, func(t txnResult) bool { return t.size == size })
	if i < 0 {
		return nil
	}
	return &r.txns[i]
}

// txnMissing is a table cell saying why a size has no figures.
func (r *brokerRun) txnMissing(size int) string {
	switch {
	case r.txnErr == nil:
		return "not run"
	case size == r.txnFailedSize:
		return oneLine(r.txnErr)
	default:
		return fmt.Sprintf("skipped: transactions of %d records failed", r.txnFailedSize)
	}
}

// txnFailure is the transactions workloads' error as a failure of the
// run: none when the broker has no transactions to measure yet.
func (r *brokerRun) txnFailure() error {
	if r.txnUnsupported || r.txnErr == nil {
		return nil
	}
	return fmt.Errorf("transactions of %d records: %w", r.txnFailedSize, r.txnErr)
}
