// Command kbench measures a Kafka broker with franz-go: produce throughput
// and per-record latency with acks=1 and with acks=-1 (idempotent), then
// consume throughput reading the acks=1 topic back; then consumer groups:
// how long ten members take to join one group and how many offset commits
// one member gets through (groups.go); then transactions: transactional
// produce throughput and commit latency for two transaction sizes (txn.go).
//
// With --kafkad it starts a fresh kafkad on free loopback ports with a temp
// data dir and removes both at the end; with --brokers it uses a running
// broker instead.
//
// With --kafka-lib (a directory of Apache Kafka's jars, as `make
// compat-tools` installs) it also starts a fresh single-node KRaft Apache
// Kafka the same way, after the first broker has been stopped, runs the same
// workloads against it, and reports both side by side with kafkad/Kafka
// ratios: the project's figures are ratios against a reference run on the
// same machine in the same invocation. Kafka's own kafka-producer-perf-test
// and kafka-consumer-perf-test then run against both brokers as well.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	kafkad      string
	brokers     string
	kafkaLib    string
	java        string
	kafkaHeap   string
	records     int
	valueSize   int
	partitions  int
	warmup      int
	compression string
	timeout     time.Duration
	keepTopics  bool
	rf3         bool
	groups      bool
	groupsOnly  bool
	commitTime  time.Duration
	txn         bool
	txnOnly     bool
	txnRecords  int
	txnTime     time.Duration
	cleaner     bool
	cleanerOnly bool
	// cleanerRecords records go to the cleaner workload's topic, of which
	// cleanerUnique (a fraction) have distinct keys.
	cleanerRecords int
	cleanerUnique  float64
}

// core tells whether the produce and consume workloads (and the perf
// tools) run: not when only groups or transactions were asked for.
func (o options) core() bool { return !o.groupsOnly && !o.txnOnly && !o.cleanerOnly }

// runGroups tells whether the consumer-group workloads run.
func (o options) runGroups() bool { return o.groupsOnly || o.groups && !o.txnOnly && !o.cleanerOnly }

// runTxn tells whether the transactions workloads run.
func (o options) runTxn() bool { return o.txnOnly || o.txn && !o.groupsOnly && !o.cleanerOnly }

// runCleaner tells whether the log cleaner workload runs.
func (o options) runCleaner() bool {
	return o.cleanerOnly || o.cleaner && !o.groupsOnly && !o.txnOnly
}

var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("kbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kafkad, "kafkad", "", "path to a kafkad binary to start fresh for the run")
	fs.StringVar(&o.brokers, "brokers", "", "comma list of host:port of a running broker to use instead")
	fs.StringVar(&o.kafkaLib, "kafka-lib", "", "directory of Apache Kafka's jars: also start Apache Kafka from them as the reference, and run its perf tools against both brokers")
	fs.StringVar(&o.java, "java", "java", "the java command for --kafka-lib")
	fs.StringVar(&o.kafkaHeap, "kafka-heap", "1g", "Apache Kafka's JVM heap (-Xms and -Xmx)")
	fs.IntVar(&o.records, "records", 200000, "records per produce run")
	fs.IntVar(&o.valueSize, "value-size", 1024, "bytes per record value")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions per topic")
	fs.IntVar(&o.warmup, "warmup", 50000, "records per produce workload of an unmeasured warm-up run on each broker (0: none)")
	fs.StringVar(&o.compression, "compression", "none", "producer compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "with --brokers, leave the benchmark topics behind")
	fs.BoolVar(&o.rf3, "rf3", false, "with --kafkad, also measure a three-broker kafkad cluster with RF=3 against the single broker")
	fs.BoolVar(&o.groups, "groups", true, "run the consumer-group workloads (join time, offset commits)")
	fs.BoolVar(&o.groupsOnly, "groups-only", false, "run only the consumer-group workloads")
	fs.DurationVar(&o.commitTime, "commit-time", 5*time.Second, "how long the offset-commit workload is measured")
	fs.BoolVar(&o.txn, "txn", true, "run the transactions workloads (transactional produce in transactions of 100 and of 1000 records)")
	fs.BoolVar(&o.txnOnly, "txn-only", false, "run only the transactions workloads (with --groups-only: groups and transactions)")
	fs.IntVar(&o.txnRecords, "txn-records", 100000, "records per transactions workload (one per transaction size), unless --txn-time ends it first")
	fs.DurationVar(&o.txnTime, "txn-time", 10*time.Second, "how long a transactions workload is measured at most")
	fs.BoolVar(&o.cleaner, "cleaner", true, "run the log cleaner workload (on brokers kbench starts): cleaner throughput, and produce throughput while it runs")
	fs.BoolVar(&o.cleanerOnly, "cleaner-only", false, "run only the log cleaner workload")
	fs.IntVar(&o.cleanerRecords, "cleaner-records", 200000, "records written for the cleaner to compact")
	fs.Float64Var(&o.cleanerUnique, "cleaner-unique", 0.1, "fraction of the cleaner workload's records with distinct keys")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (o.kafkad == "") == (o.brokers == ""):
		return o, errors.New("give exactly one of --kafkad or --brokers")
	case o.records < 1 || o.valueSize < 0 || o.partitions < 1 || o.partitions > 1<<16 || o.warmup < 0:
		return o, errors.New("--records and --partitions must be positive, --value-size and --warmup not negative")
	case o.kafkaLib != "" && o.valueSize < 1:
		return o, errors.New("--kafka-lib needs a --value-size of at least 1 (kafka-producer-perf-test's --record-size)")
	case o.groupsOnly && !o.groups:
		return o, errors.New("--groups-only with --groups=false leaves nothing to run")
	case o.groups && o.commitTime <= 0:
		return o, errors.New("--commit-time must be positive")
	case o.txnOnly && !o.txn:
		return o, errors.New("--txn-only with --txn=false leaves nothing to run")
	case o.txn && (o.txnRecords < 1 || o.txnTime <= 0):
		return o, errors.New("--txn-records and --txn-time must be positive")
	case o.cleanerOnly && !o.cleaner:
		return o, errors.New("--cleaner-only with --cleaner=false leaves nothing to run")
	case o.cleanerOnly && (o.groupsOnly || o.txnOnly):
		return o, errors.New("--cleaner-only runs alone: not with --groups-only or --txn-only")
	case o.cleaner && (o.cleanerRecords < 1 || o.cleanerUnique <= 0 || o.cleanerUnique > 1):
		return o, errors.New("--cleaner-records must be positive and --cleaner-unique in (0, 1]")
	}
	if _, ok := codecs[o.compression]; !ok {
		return o, fmt.Errorf("unknown --compression %q", o.compression)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kbench:", err)
		os.Exit(2)
	}
	// SIGINT cancels the run; run's deferred cleanup then stops the
	// brokers and tools and removes their directories before main exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kbench:", err)
		os.Exit(1)
	}
}

// brokerRun is everything measured on one broker.
type brokerRun struct {
	label   string // table rows: "kafkad", "broker", "Kafka"
	target  string // what and where, for the report's heading
	results []result
	// The Java perf tools' results, with --kafka-lib; a tool that failed
	// leaves its error instead (the other broker's figures still count).
	producerPerf    producerPerf
	consumerPerf    consumerPerf
	producerPerfErr error
	consumerPerfErr error
	rf              int16 // topics' replication factor (0: 1)
	noPerfTools     bool  // skip Kafka's perf tools
	noGroups        bool  // skip the group workloads
	noTxn           bool  // skip the transactions workloads
	// The group workloads' results; a failure leaves its error (the
	// figures measured before it still count).
	groups    groupResults
	groupsErr error
	etcdURL   string // the broker's embedded etcd, for its write counters ("": none known)
	// The transactions workloads' results, one per size measured; a
	// failure leaves its error. txnUnsupported: the broker does not
	// advertise EndTxn, so its failure is no failure of the run.
	txns           []txnResult
	txnErr         error
	txnFailedSize  int // the transaction size txnErr stopped
	txnUnsupported bool
	// dataDir is the broker's log dir, for the cleaner workload ("": not a
	// broker kbench started).
	dataDir    string
	cleaner    *cleanerResult
	cleanerErr error
}

// reference describes the Apache Kafka used with --kafka-lib.
type reference struct {
	kafkaVersion string
	javaVersion  string
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	// Check the reference's prerequisites before spending time on kafkad.
	var ref reference
	if o.kafkaLib != "" {
		var err error
		if ref.kafkaVersion, err = kafkaVersion(o.kafkaLib); err != nil {
			return err
		}
		if _, err := exec.LookPath(o.java); err != nil {
			return fmt.Errorf("--kafka-lib needs Java: %w", err)
		}
		if ref.javaVersion, err = javaVersion(ctx, o.java); err != nil {
			return err
		}
	}

	// A unique suffix lets repeated runs share a long-lived broker.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	subject := &brokerRun{label: "kafkad"}
	if o.kafkad == "" {
		subject.label = "broker"
	}
	if err := benchSubject(ctx, o, subject, suffix, stderr); err != nil {
		return err
	}
	var cluster *brokerRun
	if o.rf3 && o.kafkad != "" && o.core() {
		cluster = &brokerRun{label: "RF=3"}
		if err := benchCluster(ctx, o, cluster, suffix+"r3", stderr); err != nil {
			return err
		}
		defer printReplication(stdout, subject, cluster)
	}
	if o.kafkaLib == "" {
		if o.core() {
			printReport(stdout, o, subject.target, machine(), subject.results)
		} else {
			fmt.Fprintln(stdout)
			printTargets(stdout, machine(), []*brokerRun{subject})
		}
		if o.runGroups() {
			printGroups(stdout, []*brokerRun{subject})
		}
		if o.runTxn() {
			printTxns(stdout, o, []*brokerRun{subject})
		}
		if o.runCleaner() {
			printCleaner(stdout, o, []*brokerRun{subject})
		}
		return errors.Join(subject.groupsErr, subject.txnFailure(), subject.cleanerFailure())
	}

	kafka := &brokerRun{label: "Kafka"}
	if err := benchKafka(ctx, o, ref, kafka, suffix, stderr); err != nil {
		return err
	}
	runs := []*brokerRun{subject, kafka}
	if o.core() {
		printComparison(stdout, o, ref, machine(), runs)
	} else {
		fmt.Fprintln(stdout)
		printTargets(stdout, machine(), runs)
	}
	if o.runGroups() {
		printGroups(stdout, runs)
	}
	if o.runTxn() {
		printTxns(stdout, o, runs)
	}
	if o.runCleaner() {
		printCleaner(stdout, o, runs)
	}
	var errs []error
	for _, r := range runs {
		for _, err := range []error{r.producerPerfErr, r.consumerPerfErr, r.groupsErr, r.txnFailure(), r.cleanerFailure()} {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.label, err))
			}
		}
	}
	return errors.Join(errs...)
}

// benchSubject measures the broker under test: a fresh kafkad, stopped
// before returning, or the running broker of --brokers.
func benchSubject(ctx context.Context, o options, r *brokerRun, suffix string, stderr io.Writer) (err error) {
	if o.kafkad == "" {
		r.target = "running broker at " + o.brokers
		return benchBroker(ctx, o, r, strings.Split(o.brokers, ","), false, suffix, stderr)
	}
	fmt.Fprintf(stderr, "starting %s ...\n", o.kafkad)
	var b *brokerProc
	if b, err = startBroker(ctx, o.kafkad, o.partitions, stderr); err != nil {
		return err
	}
	// err is the result here, so a failed run shows the broker's log.
	defer func() { b.stop(stderr, failed(err)) }()
	r.target = "fresh kafkad (" + o.kafkad + ") on " + b.addr
	r.etcdURL = b.etcdURL
	r.dataDir = b.dataDir()
	return benchBroker(ctx, o, r, []string{b.addr}, true, suffix, stderr)
}

// failed tells whether err calls for the broker's log: not when the run
// was merely interrupted.
func failed(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled)
}

// benchKafka measures a fresh Apache Kafka from --kafka-lib, stopped
// before returning.
func benchKafka(ctx context.Context, o options, ref reference, r *brokerRun, suffix string, stderr io.Writer) (err error) {
	fmt.Fprintf(stderr, "starting Apache Kafka %s from %s ...\n", ref.kafkaVersion, o.kafkaLib)
	var b *brokerProc
	if b, err = startKafka(ctx, o.java, o.kafkaLib, o.kafkaHeap, o.partitions, stderr); err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stderr, "stopping Apache Kafka ...")
		b.stop(stderr, failed(err))
	}()
	r.target = fmt.Sprintf("fresh Apache Kafka %s (KRaft, one broker+controller node, -Xmx%s, %s) on %s",
		ref.kafkaVersion, o.kafkaHeap, ref.javaVersion, b.addr)
	r.dataDir = b.dataDir()
	return benchBroker(ctx, o, r, []string{b.addr}, true, suffix, stderr)
}

// benchBroker runs every workload against one broker: an unmeasured
// warm-up (a JVM broker in particular is far from its steady speed while
// still compiling), the franz-go workloads and, with --kafka-lib, Kafka's
// perf tools. On a broker kbench did not start (not fresh) it removes its
// topics and group afterwards.
func benchBroker(ctx context.Context, o options, r *brokerRun, seeds []string, fresh bool, suffix string, stderr io.Writer) error {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if !o.core() {
		if o.runGroups() {
			if err := benchGroups(ctx, o, r, adm, seeds, fresh, suffix, stderr); err != nil {
				return err
			}
		}
		if o.runTxn() && !r.noTxn {
			if err := benchTxns(ctx, o, r, adm, seeds, fresh, suffix, stderr); err != nil {
				return err
			}
		}
		if o.runCleaner() {
			return benchCleaner(ctx, o, r, adm, seeds, suffix, stderr)
		}
		return nil
	}

	specs := []produceSpec{
		{name: "produce acks=1", topic: "kbench-acks1-" + suffix, acks: kgo.LeaderAck()},
		{name: "produce acks=-1 idemp.", topic: "kbench-acksall-" + suffix, acks: kgo.AllISRAcks(), idempotent: true},
	}
	var warmSpecs []produceSpec
	if o.warmup > 0 {
		for _, s := range specs {
			s.name, s.topic = "warm-up "+s.name, "kbench-warmup-"+strings.TrimPrefix(s.topic, "kbench-")
			warmSpecs = append(warmSpecs, s)
		}
	}
	perfTopic, perfGroup := "kbench-perf-"+suffix, "kbench-perf-"+suffix
	topics := []string{}
	for _, s := range append(warmSpecs, specs...) {
		topics = append(topics, s.topic)
	}
	if o.kafkaLib != "" && !r.noPerfTools {
		topics = append(topics, perfTopic)
	}
	for _, topic := range topics {
		if _, err := adm.CreateTopic(ctx, int32(o.partitions), max(r.rf, 1), nil, topic); err != nil {
			return fmt.Errorf("creating topic %s: %w", topic, err)
		}
		if !fresh && !o.keepTopics {
			defer deleteTopic(adm, topic, stderr)
		}
	}
	if !fresh && !o.keepTopics && o.kafkaLib != "" {
		defer deleteGroup(adm, perfGroup, stderr)
	}

	values := newValueSource(o.valueSize)
	if len(warmSpecs) > 0 {
		fmt.Fprintf(stderr, "%s: warm-up, %d records per workload (not measured) ...\n", r.label, o.warmup)
		for _, s := range warmSpecs {
			if _, err := produce(ctx, seeds, codecs[o.compression], s, o.warmup, values); err != nil {
				return err
			}
		}
		if _, err := consume(ctx, seeds, adm, warmSpecs[0].topic, int64(o.warmup)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, s := range specs {
		fmt.Fprintf(stderr, "%s: %s: %d records to %s ...\n", r.label, s.name, o.records, s.topic)
		res, err := produce(ctx, seeds, codecs[o.compression], s, o.records, values)
		if err != nil {
			return err
		}
		r.results = append(r.results, res)
	}
	fmt.Fprintf(stderr, "%s: consuming %s ...\n", r.label, specs[0].topic)
	res, err := consume(ctx, seeds, adm, specs[0].topic, int64(o.records))
	if err != nil {
		return err
	}
	r.results = append(r.results, res)
	if o.runGroups() && !r.noGroups {
		if err := benchGroups(ctx, o, r, adm, seeds, fresh, suffix, stderr); err != nil {
			return err
		}
	}
	if o.runTxn() && !r.noTxn {
		if err := benchTxns(ctx, o, r, adm, seeds, fresh, suffix, stderr); err != nil {
			return err
		}
	}
	if o.runCleaner() {
		if err := benchCleaner(ctx, o, r, adm, seeds, suffix, stderr); err != nil {
			return err
		}
	}

	if o.kafkaLib == "" || r.noPerfTools {
		return nil
	}
	addr := strings.Join(seeds, ",")
	fmt.Fprintf(stderr, "%s: kafka-producer-perf-test, %d records to %s ...\n", r.label, o.records, perfTopic)
	r.producerPerf, r.producerPerfErr = runProducerPerf(ctx, o.java, o.kafkaLib, addr, perfTopic, o.records, o.valueSize)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.producerPerfErr != nil {
		fmt.Fprintf(stderr, "%s: kafka-producer-perf-test failed: %v\n", r.label, r.producerPerfErr)
		r.consumerPerfErr = errors.New("skipped: kafka-producer-perf-test failed")
		return nil
	}
	fmt.Fprintf(stderr, "%s: kafka-consumer-perf-test, group %s reading %s ...\n", r.label, perfGroup, perfTopic)
	r.consumerPerf, r.consumerPerfErr = runConsumerPerf(ctx, o.java, o.kafkaLib, addr, perfTopic, perfGroup, o.records)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.consumerPerfErr != nil {
		fmt.Fprintf(stderr, "%s: kafka-consumer-perf-test failed: %v\n", r.label, r.consumerPerfErr)
	}
	return nil
}

// deleteTopic cleans up on a shared broker; it gets its own deadline since
// the run's context may be what ended the run.
func deleteTopic(adm *kadm.Client, topic string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		fmt.Fprintf(stderr, "kbench: deleting topic %s: %v\n", topic, err)
	}
}

// deleteGroup removes kafka-consumer-perf-test's group from a shared
// broker; a group that never came to be is no error.
func deleteGroup(adm *kadm.Client, group string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.DeleteGroup(ctx, group)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		fmt.Fprintf(stderr, "kbench: deleting group %s: %v\n", group, err)
	}
}
