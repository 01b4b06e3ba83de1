// Command kbench measures a Kafka broker with franz-go: produce throughput
// and per-record latency with acks=1 and with acks=-1 (idempotent), then
// consume throughput reading the acks=1 topic back.
//
// With --kafkad it starts a fresh kafkad on free loopback ports with a temp
// data dir and removes both at the end; with --brokers it uses a running
// broker, such as Apache Kafka for a reference run on the same machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	kafkad      string
	brokers     string
	records     int
	valueSize   int
	partitions  int
	compression string
	timeout     time.Duration
	keepTopics  bool
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
	fs.IntVar(&o.records, "records", 200000, "records per produce run")
	fs.IntVar(&o.valueSize, "value-size", 1024, "bytes per record value")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions per topic")
	fs.StringVar(&o.compression, "compression", "none", "producer compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "with --brokers, leave the benchmark topics behind")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (o.kafkad == "") == (o.brokers == ""):
		return o, errors.New("give exactly one of --kafkad or --brokers")
	case o.records < 1 || o.valueSize < 0 || o.partitions < 1 || o.partitions > 1<<16:
		return o, errors.New("--records and --partitions must be positive, --value-size not negative")
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
	// SIGINT cancels the run; run's deferred cleanup then stops the broker
	// and removes its directory before main exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	seeds, target := strings.Split(o.brokers, ","), "running broker at "+o.brokers
	if o.kafkad != "" {
		fmt.Fprintf(stderr, "starting %s ...\n", o.kafkad)
		var b *brokerProc
		if b, err = startBroker(ctx, o.kafkad, stderr); err != nil {
			return err
		}
		// err is run's result here, so a failed run shows the broker's log.
		defer func() { b.stop(stderr, err != nil) }()
		seeds, target = []string{b.addr}, "fresh kafkad ("+o.kafkad+") on "+b.addr
	}

	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	// A unique suffix lets repeated runs share a long-lived broker.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	specs := []produceSpec{
		{name: "produce acks=1", topic: "kbench-acks1-" + suffix, acks: kgo.LeaderAck()},
		{name: "produce acks=-1 idemp.", topic: "kbench-acksall-" + suffix, acks: kgo.AllISRAcks(), idempotent: true},
	}
	for _, s := range specs {
		if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, s.topic); err != nil {
			return fmt.Errorf("creating topic %s: %w", s.topic, err)
		}
		if o.kafkad == "" && !o.keepTopics {
			defer deleteTopic(adm, s.topic, stderr)
		}
	}

	values := newValueSource(o.valueSize)
	var results []result
	for _, s := range specs {
		fmt.Fprintf(stderr, "%s: %d records to %s ...\n", s.name, o.records, s.topic)
		r, err := produce(ctx, seeds, codecs[o.compression], s, o.records, values)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Fprintf(stderr, "consuming %s ...\n", specs[0].topic)
	r, err := consume(ctx, seeds, adm, specs[0].topic, int64(o.records))
	if err != nil {
		return err
	}
	results = append(results, r)
	printReport(stdout, o, target, machine(), results)
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
