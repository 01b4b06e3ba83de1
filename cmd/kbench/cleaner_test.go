package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegmentBytes(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{
		"00000000000000000000.log":       300,
		"00000000000000000100.log":       200,
		"00000000000000000250.log":       50, // the active segment
		"00000000000000000000.index":     1000,
		"00000000000000000100.log.swap":  70,
		"00000000000000000090.log.clean": 70,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644))
	}
	inactive, active, err := segmentBytes(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(500), inactive, "only .log files count, the active one apart")
	assert.Equal(t, int64(50), active)

	_, _, err = segmentBytes(filepath.Join(dir, "missing"))
	assert.Error(t, err)
}

func TestPrintCleaner(t *testing.T) {
	o := options{cleanerRecords: 200000, cleanerUnique: 0.1, valueSize: 1024, partitions: 6}
	mib := func(n float64, d time.Duration) result { return result{bytes: int64(n * (1 << 20)), elapsed: d} }
	kafkad := &brokerRun{label: "kafkad", cleaner: &cleanerResult{
		dirtyBytes: 200e6, cleanBytes: 20 << 20, elapsed: 2 * time.Second,
		baseline: mib(300, 3*time.Second), during: mib(180, 2*time.Second),
	}}
	kafka := &brokerRun{label: "Kafka", cleaner: &cleanerResult{
		dirtyBytes: 200e6, cleanBytes: 20 << 20, elapsed: 4 * time.Second,
		baseline: mib(150, 3*time.Second), during: mib(80, 2*time.Second),
	}}
	var out bytes.Buffer
	printCleaner(&out, o, []*brokerRun{kafkad, kafka})
	text := out.String()
	assert.Contains(t, text, "200000 records of 1024 B values, 10% distinct keys, 16 MiB segments")
	assert.Regexp(t, `\nkafkad\s+190\.7\s+20\.0\s+2\.00\s+100\.0\s+100\.0\s+90\.0\s+0\.90x\n`, text)
	assert.Regexp(t, `\nKafka\s+190\.7\s+20\.0\s+4\.00\s+50\.0\s+50\.0\s+40\.0\s+0\.80x\n`, text)
	assert.Regexp(t, `\nratio\s+2\.00x\s+2\.00x\s+2\.25x\n`, text)

	kafkad.cleaner, kafkad.cleanerErr = nil, errors.New("not cleaned after 3m0s\nmore")
	out.Reset()
	printCleaner(&out, o, []*brokerRun{kafkad, kafka})
	text = out.String()
	assert.Contains(t, text, "\nkafkad   failed: not cleaned after 3m0s\n")
	assert.NotContains(t, text, "\nratio")
	assert.Error(t, kafkad.cleanerFailure())

	out.Reset()
	printCleaner(&out, o, []*brokerRun{{label: "broker"}})
	assert.Contains(t, out.String(), "broker   not run (needs a broker kbench started)\n")
}
