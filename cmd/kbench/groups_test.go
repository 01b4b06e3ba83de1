package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lines of an etcd 3.7 member's /metrics.
const etcdMetricsText = `# HELP etcd_mvcc_put_total Total number of puts seen by this member.
# TYPE etcd_mvcc_put_total counter
etcd_mvcc_put_total 1234
etcd_mvcc_put_size_in_use 99
# TYPE etcd_server_proposals_committed_total gauge
etcd_server_proposals_committed_total 5.5e+06
etcd_server_proposals_applied_total 5.5e+06
`

func TestParseEtcdWrites(t *testing.T) {
	w, err := parseEtcdWrites(strings.NewReader(etcdMetricsText))
	require.NoError(t, err)
	assert.Equal(t, etcdWrites{proposals: 5.5e6, puts: 1234}, w)

	_, err = parseEtcdWrites(strings.NewReader("etcd_mvcc_put_total 1\n"))
	assert.ErrorContains(t, err, "no etcd_server_proposals_committed_total")
	_, err = parseEtcdWrites(strings.NewReader("etcd_mvcc_put_total many\netcd_server_proposals_committed_total 1\n"))
	assert.ErrorContains(t, err, "etcd_mvcc_put_total")
}

func TestSettled(t *testing.T) {
	for _, tc := range []struct {
		name string
		held map[int]assignment
		want bool
	}{
		{"all in one generation", map[int]assignment{0: {3, 5}, 1: {3, 5}}, true},
		{"a member missing", map[int]assignment{0: {3, 10}}, false},
		{"two generations", map[int]assignment{0: {3, 5}, 1: {4, 5}}, false},
		{"a member with nothing", map[int]assignment{0: {3, 10}, 1: {3, 0}}, false},
		{"partitions missing", map[int]assignment{0: {3, 4}, 1: {3, 4}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, settled(tc.held, 2, 10))
		})
	}
}

func TestPrintGroups(t *testing.T) {
	run := func(label string, scale time.Duration, commits int64) *brokerRun {
		h := &histogram{}
		for i := 1; i <= 100; i++ {
			h.Record(scale * time.Duration(i) / 10)
		}
		return &brokerRun{label: label, groups: groupResults{
			joins:   []time.Duration{3 * scale, scale, 2 * scale},
			commits: commits, commitElapsed: 2 * time.Second, commitLatency: h,
		}}
	}
	kafkad, kafka := run("kafkad", 100*time.Millisecond, 1000), run("Kafka", 50*time.Millisecond, 4000)
	kafkad.groups.etcd = &etcdWrites{proposals: 1010, puts: 1000}
	var out bytes.Buffer
	printGroups(&out, []*brokerRun{kafkad, kafka})
	text := out.String()
	assert.Regexp(t, `join 10 members\s+kafkad\s+3\s+200\.00\s+200\.00\s+100\.00\s+300\.00\n`, text)
	assert.Regexp(t, `\n\s+ratio\s+2\.00x\s+2\.00x\s+2\.00x\s+2\.00x\n`, text)
	assert.Regexp(t, `commit 100 partitions\s+kafkad\s+1000\s+2\.00\s+500\s+50000\s`, text)
	assert.Regexp(t, `\n\s+Kafka\s+4000\s+2\.00\s+2000\s+200000\s`, text)
	assert.Regexp(t, `\n\s+ratio\s+0\.25x\s+0\.25x\s+2\.0\dx`, text)
	assert.Contains(t, text, "kafkad etcd writes per commit request: 1.01 raft proposals, 1.00 keys put")

	// A broker whose group workloads failed shows the error in its rows,
	// and no ratio row is printed.
	kafka.groups, kafka.groupsErr = groupResults{}, errors.New("join round 0: no coordinator\nmore")
	out.Reset()
	printGroups(&out, []*brokerRun{kafkad, kafka})
	assert.Contains(t, out.String(), "Kafka   failed: join round 0: no coordinator\n")
	assert.NotRegexp(t, `\sratio\s`, out.String())
}
