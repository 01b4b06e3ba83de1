package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTxnRuns(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		size, warmup, records  int
		wantWarm, wantMeasured int
	}{
		{"defaults, small transactions", 100, 50000, 100000, 500, 1000},
		{"defaults, large transactions", 1000, 50000, 100000, 50, 100},
		{"warm-up capped by the measured records", 100, 50000, 1000, 10, 10},
		{"no warm-up still opens with one", 100, 0, 1000, 1, 10},
		{"fewer records than a transaction", 1000, 10, 10, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warm, measured := txnRuns(tc.size, tc.warmup, tc.records)
			assert.Equal(t, tc.wantWarm, warm)
			assert.Equal(t, tc.wantMeasured, measured)
		})
	}
}

func TestOptionsSelectWorkloads(t *testing.T) {
	for _, tc := range []struct {
		name              string
		args              []string
		core, groups, txn bool
		cleaner           bool
	}{
		{"default: everything", nil, true, true, true, true},
		{"no transactions", []string{"--txn=false"}, true, true, false, true},
		{"no cleaner", []string{"--cleaner=false"}, true, true, true, false},
		{"groups only", []string{"--groups-only"}, false, true, false, false},
		{"transactions only", []string{"--txn-only"}, false, false, true, false},
		{"cleaner only", []string{"--cleaner-only"}, false, false, false, true},
		{"groups and transactions only", []string{"--groups-only", "--txn-only"}, false, true, true, false},
		{"transactions only, groups off", []string{"--txn-only", "--groups=false"}, false, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"--kafkad=x"}, tc.args...), io.Discard)
			require.NoError(t, err)
			assert.Equal(t, tc.core, o.core(), "core")
			assert.Equal(t, tc.groups, o.runGroups(), "groups")
			assert.Equal(t, tc.txn, o.runTxn(), "transactions")
			assert.Equal(t, tc.cleaner, o.runCleaner(), "cleaner")
		})
	}
}

// fakeTxnResult is txns transactions of size records of 1 KiB over
// elapsed, their commits taking scale/10 to 10*scale.
func fakeTxnResult(size int, txns int64, elapsed, scale time.Duration) txnResult {
	h := &histogram{}
	for i := 1; i <= 100; i++ {
		h.Record(scale * time.Duration(i) / 10)
	}
	records := txns * int64(size)
	return txnResult{size: size, txns: txns, records: records, bytes: records << 10, elapsed: elapsed, commit: h}
}

func TestPrintTxns(t *testing.T) {
	o := options{txnRecords: 100000, txnTime: 10 * time.Second, valueSize: 1024, partitions: 6, compression: "none"}
	kafkad := &brokerRun{label: "kafkad", txns: []txnResult{
		fakeTxnResult(100, 1000, 10*time.Second, 2*time.Millisecond),
		fakeTxnResult(1000, 100, 2*time.Second, 4*time.Millisecond),
	}}
	kafkad.txns[0].etcd = &etcdWrites{proposals: 3000, puts: 2500}
	kafka := &brokerRun{label: "Kafka", txns: []txnResult{
		fakeTxnResult(100, 1000, 5*time.Second, time.Millisecond),
		fakeTxnResult(1000, 100, 1*time.Second, time.Millisecond),
	}}
	var out bytes.Buffer
	printTxns(&out, o, []*brokerRun{kafkad, kafka})
	text := out.String()
	assert.Contains(t, text, "100000 records of 1024 B values or 10s per size, 6 partitions")
	assert.Regexp(t, `txn of 100 records\s+kafkad\s+1000\s+100000\s+10\.00\s+10000\s+9\.8\s+(9\.9|10\.0)\d\s+19\.\d\d\s+20\.00\n`, text)
	assert.Regexp(t, `\n\s+Kafka\s+1000\s+100000\s+5\.00\s+20000\s+19\.5\s`, text)
	assert.Regexp(t, `\n\s+ratio\s+0\.50x\s+0\.50x\s+2\.00x\s+2\.00x\s+2\.00x\n`, text)
	assert.Regexp(t, `txn of 1000 records\s+kafkad\s+100\s+100000\s+2\.00\s+50000\s`, text)
	assert.Regexp(t, `\n\s+ratio\s+0\.50x\s+0\.50x\s+4\.00x\s+4\.00x\s+4\.00x\n`, text)
	assert.Contains(t, text, "kafkad etcd writes per transaction of 100 records: 3.00 raft proposals, 2.50 keys put")
	assert.NotContains(t, text, "of 1000 records: ", "no etcd figures for a size without them")
	assert.NotContains(t, text, "advertise")

	// kafkad without transactions: the failed size shows its error, the
	// next one is skipped, no ratio rows, and the note says why the run
	// does not fail.
	kafkad.txns, kafkad.txnFailedSize, kafkad.txnUnsupported = nil, 100, true
	kafkad.txnErr = errors.New("warm-up transaction 1: flush: context deadline exceeded\nmore")
	out.Reset()
	printTxns(&out, o, []*brokerRun{kafkad, kafka})
	text = out.String()
	assert.Contains(t, text, "txn of 100 records       kafkad  failed: warm-up transaction 1: flush: context deadline exceeded\n")
	assert.Contains(t, text, "txn of 1000 records      kafkad  skipped: transactions of 100 records failed\n")
	assert.Regexp(t, `\n\s+Kafka\s+100\s+100000\s+1\.00\s+100000\s`, text)
	assert.NotRegexp(t, `\sratio\s`, text)
	assert.Contains(t, text, "kafkad does not advertise EndTxn (ApiVersions)")
	assert.NoError(t, kafkad.txnFailure())

	// The same failure on a broker that claims transactions fails the run.
	kafkad.txnUnsupported = false
	assert.ErrorContains(t, kafkad.txnFailure(), "transactions of 100 records: warm-up transaction 1")
	assert.NoError(t, kafka.txnFailure())

	// A run without the workloads says so.
	out.Reset()
	printTxns(&out, o, []*brokerRun{{label: "broker"}})
	assert.Contains(t, out.String(), "txn of 100 records       broker  not run\n")
}

func TestLastErrLogger(t *testing.T) {
	l := &lastErrLogger{}
	base := fmt.Errorf("flush: %w", context.DeadlineExceeded)
	assert.Equal(t, base, l.explain(base), "nothing logged: the error as it is")

	l.Log(kgo.LogLevelInfo, "beginning transaction", "transactional_id", "x")
	l.Log(kgo.LogLevelInfo, "no error here", "err", nil)
	assert.Equal(t, base, l.explain(base))

	l.Log(kgo.LogLevelInfo, "producer id initialization failure", "err", kerr.CoordinatorNotAvailable)
	err := l.explain(base)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "(the client's last logged error: producer id initialization failure: COORDINATOR_NOT_AVAILABLE")

	l.reset()
	assert.Equal(t, base, l.explain(base), "reset forgets")
}
