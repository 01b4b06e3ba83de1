package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka Connect's distributed worker and FileStream connectors
// (connect-runtime and connect-file of the pinned release).
const (
	javaConnectDistributed = "org.apache.kafka.connect.cli.ConnectDistributed"
	fileSourceConnector    = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	fileSinkConnector      = "org.apache.kafka.connect.file.FileStreamSinkConnector"
)

// Connect's internal topics as the test's worker names them.
var connectInternalTopics = []string{"connect-configs", "connect-offsets", "connect-status"}

// connectWorker is one Kafka Connect distributed worker process.
type connectWorker struct {
	t      *testing.T
	props  string
	rest   string // http://127.0.0.1:port
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// javaForConnect skips the test when there is no JVM and returns the jar
// directory of the pinned release, failing when connect-file is missing.
func javaForConnect(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("no java on PATH: the Kafka Connect tests need a JVM")
	}
	lib := javaKafkaPinned.lib(t)
	jar := filepath.Join(lib, "connect-file-"+javaKafkaPinned.version+".jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("%s is missing: run `make compat-tools` (integration/java/pom.xml lists connect-file)", jar)
	}
	return lib
}

// startConnectWorker writes the worker's properties (internal topics with
// replication factor 3, String converters, REST on a free loopback port)
// and starts it; the worker is stopped at cleanup.
func startConnectWorker(t *testing.T, bootstrap []string) *connectWorker {
	t.Helper()
	javaForConnect(t)
	port := freePort(t)
	w := &connectWorker{t: t, out: &syncBuffer{}, rest: fmt.Sprintf("http://127.0.0.1:%d", port)}
	props := []string{
		"bootstrap.servers=" + strings.Join(bootstrap, ","),
		"group.id=kafkad-connect",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.storage.StringConverter",
		"config.storage.topic=connect-configs",
		"offset.storage.topic=connect-offsets",
		"status.storage.topic=connect-status",
		"config.storage.replication.factor=3",
		"offset.storage.replication.factor=3",
		"status.storage.replication.factor=3",
		// Fewer partitions than Connect's 25 and 5: two cores are shared.
		"offset.storage.partitions=3",
		"status.storage.partitions=1",
		"offset.flush.interval.ms=500",
		fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
		"rest.advertised.host.name=127.0.0.1",
		fmt.Sprintf("rest.advertised.port=%d", port),
		// A restarted worker gets its connectors back at once instead of
		// after Connect's default 5-minute wait for a departed member.
		"scheduled.rebalance.max.delay.ms=0",
		// A crashed worker's group members (the worker's own and its sink
		// task's consumer) are let go after 6 s, not 10 s and 45 s.
		"session.timeout.ms=6000",
		"consumer.session.timeout.ms=6000",
		"task.shutdown.graceful.timeout.ms=20000",
		// The FileStream connectors and converters declare themselves in
		// META-INF/services: no reflective scan of the class path.
		"plugin.discovery=service_load",
	}
	w.props = filepath.Join(t.TempDir(), "connect-distributed.properties")
	require.NoError(t, os.WriteFile(w.props, []byte(strings.Join(props, "\n")+"\n"), 0o644))
	t.Cleanup(func() {
		if w.running() {
			w.Stop()
		}
		if t.Failed() {
			t.Logf("connect worker output:\n%s", w.out.String())
		}
	})
	w.Start()
	return w
}

func (w *connectWorker) running() bool {
	if w.exited == nil {
		return false
	}
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// Start starts the worker and waits until its REST API answers.
func (w *connectWorker) Start() {
	w.t.Helper()
	lib := javaKafkaPinned.lib(w.t)
	w.cmd = exec.Command("java", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.log.org.apache.kafka.connect=info",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", filepath.Join(lib, "*"), javaConnectDistributed, w.props)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	require.NoError(w.t, w.cmd.Start())
	w.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(w.cmd, w.exited)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if code, _, err := w.try(http.MethodGet, "/connectors", nil); err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-w.exited:
			w.t.Fatalf("connect worker exited during start-up:\n%s", w.out.String())
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("connect worker's REST API not up after 90s:\n%s", w.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop sends SIGTERM, on which the worker stops its tasks (sources commit
// their offsets, sinks flush and commit) and leaves the group.
func (w *connectWorker) Stop() {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(60 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		w.t.Errorf("connect worker did not stop within 60s of SIGTERM")
	}
}

// Kill sends SIGKILL: no offset commit, no flush, as after a crash.
func (w *connectWorker) Kill() {
	w.t.Helper()
	_ = w.cmd.Process.Kill()
	<-w.exited
}

// try sends one REST request.
func (w *connectWorker) try(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.rest+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// call sends a REST request until it gets one of the wanted statuses,
// retrying while the worker rebalances (409) or is not reachable, and
// returns the body.
func (w *connectWorker) call(method, path string, body any, want ...int) []byte {
	w.t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, b, err := w.try(method, path, body)
		for _, c := range want {
			if err == nil && code == c {
				return b
			}
		}
		last = fmt.Sprintf("status %d, %s, error %v", code, b, err)
		if err == nil && code != http.StatusConflict && code < 500 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.t.Fatalf("%s %s: want status %v, last answer: %s", method, path, want, last)
	return nil
}

// connectorStatus is the part of GET /connectors/{name}/status the tests
// read.
type connectorStatus struct {
	Connector struct {
		State string `json:"state"`
	} `json:"connector"`
	Tasks []struct {
		ID    int    `json:"id"`
		State string `json:"state"`
	} `json:"tasks"`
}

// waitState waits until a connector and all its tasks (at least one) are
// in state.
func (w *connectWorker) waitState(name, state string) {
	w.t.Helper()
	var last string
	ok := pollFor(60*time.Second, 200*time.Millisecond, func() bool {
		code, b, err := w.try(http.MethodGet, "/connectors/"+name+"/status", nil)
		if err != nil || code != http.StatusOK {
			last = fmt.Sprintf("%d %s %v", code, b, err)
			return false
		}
		last = string(b)
		var st connectorStatus
		if json.Unmarshal(b, &st) != nil || st.Connector.State != state || len(st.Tasks) == 0 {
			return false
		}
		for _, task := range st.Tasks {
			if task.State != state {
				return false
			}
		}
		return true
	})
	require.True(w.t, ok, "connector %s never %s; last status: %s", name, state, last)
}

// appendLines appends lines from..to-1 ("line-000042 ...") to path.
func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line-%06d the quick brown fox jumps over the lazy dog\n", i)
	}
	_, err = f.WriteString(b.String())
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// waitFilesEqual waits until the sink file has as many lines as the
// source and then requires them to be equal, line by line: FileStream
// connectors with graceful restarts neither lose nor repeat a line.
func waitFilesEqual(t *testing.T, source, sink string) {
	t.Helper()
	waitSinkLines(t, source, sink, false)
}

// waitFilesAtLeastOnce is waitFilesEqual for what at-least-once delivery
// promises after a crash: lines the source task had sent but not
// committed, or the sink had written but not committed, may come again,
// so the sink's first occurrences of lines are compared with the source.
// It returns how many lines came again.
func waitFilesAtLeastOnce(t *testing.T, source, sink string) int {
	t.Helper()
	return waitSinkLines(t, source, sink, true)
}

func waitSinkLines(t *testing.T, source, sink string, atLeastOnce bool) (repeats int) {
	t.Helper()
	want := readLines(t, source)
	var got []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, repeats = readLines(t, sink), 0
		if atLeastOnce {
			seen := map[string]bool{}
			first := got[:0]
			for _, l := range got {
				if seen[l] {
					repeats++
					continue
				}
				seen[l] = true
				first = append(first, l)
			}
			got = first
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, len(want), len(got), "lines in the sink file (source has %d; at least once: %v): %s", len(want), atLeastOnce, firstDifference(want, got))
	for i := range want {
		require.Equal(t, want[i], got[i], "sink line %d (at least once: %v)", i, atLeastOnce)
	}
	return repeats
}

// readLines returns a file's lines (none if it does not exist yet).
func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// firstDifference describes where two line lists part, and repeats.
func firstDifference(want, got []string) string {
	seen := map[string]int{}
	var dups []string
	for _, l := range got {
		seen[l]++
		if seen[l] == 2 && len(dups) < 5 {
			dups = append(dups, l)
		}
	}
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at line %d: want %q, got %q; repeated lines (first 5): %q", i, want[i], got[i], dups)
		}
	}
	return fmt.Sprintf("one is a prefix of the other; repeated lines (first 5): %q", dups)
}

// connectorConfig is a connector's configuration as the REST API takes it.
func connectorConfig(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// keyCounts counts a topic's records per key (the whole log, as read from
// the start).
func keyCounts(recs []*kgo.Record) (perKey map[string]int, most string) {
	perKey = map[string]int{}
	for _, r := range recs {
		perKey[string(r.Key)]++
		if perKey[string(r.Key)] > perKey[most] {
			most = string(r.Key)
		}
	}
	return perKey, most
}

// lastValues is each key's last value (nil for a tombstone).
func lastValues(recs []*kgo.Record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		if r.Value == nil {
			m[string(r.Key)] = "<tombstone>"
		} else {
			m[string(r.Key)] = string(r.Value)
		}
	}
	return m
}

// TestConnectDistributedFileRoundTrip runs Apache Kafka Connect's
// distributed worker on three kafkad brokers, with a FileStreamSource
// connector reading a file into a topic (RF=3, min.insync.replicas=2) and
// a FileStreamSink connector writing the topic to another file. Asserted:
//   - Connect creates its config, offset and status topics itself, with
//     cleanup.policy=compact and replication factor 3;
//   - the sink file equals the source file line for line (nothing lost,
//     nothing repeated) after the first lines, after lines written while
//     the worker was stopped (SIGTERM) and started again, and after lines
//     written while a broker was restarted;
//   - with small segments (internal.segment.bytes, segment.ms) and
//     min.cleanable.dirty.ratio=0.01 set on the internal topics through
//     IncrementalAlterConfigs, 20 reconfigurations of a third connector and
//     pause/resume rounds of the two others rewrite the same keys of the
//     config and status topics many times; the cleaner then leaves one
//     record per key below the active segment, each config key keeps
//     its last value and no status key is lost;
//   - a deleted connector's tombstones are gone from both topics once
//     delete.retention.ms passed and the cleaner ran again;
//   - a worker started on the compacted topics gets every connector back
//     with its last configuration, running, and the source resumes at its
//     committed position: the files are equal again after more lines;
//   - after a worker crash (kill -9) with lines in flight no line is lost
//     and first occurrences keep the source's order (at least once).
func TestConnectDistributedFileRoundTrip(t *testing.T) {
	const (
		topic      = "connect-lines"
		churnTopic = "connect-churn"
		churns     = 20
	)
	javaForConnect(t)
	c := startCluster(t, 3, cleanerFlags...)
	ctx := context.Background()
	adm := kadm.NewClient(c.client(t))
	for _, tp := range []string{topic, churnTopic} {
		resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, tp)
		require.NoError(t, err)
		require.NoError(t, resp.Err)
	}
	dir := t.TempDir()
	source, sink, churnFile := filepath.Join(dir, "source.txt"), filepath.Join(dir, "sink.txt"), filepath.Join(dir, "churn.txt")
	require.NoError(t, os.WriteFile(churnFile, nil, 0o644))
	written := 0
	more := func(n int) { appendLines(t, source, written, written+n); written += n }
	more(1000)

	w := startConnectWorker(t, c.seeds())
	started := time.Now()
	w.call(http.MethodPost, "/connectors", map[string]any{"name": "file-source", "config": connectorConfig(
		"connector.class", fileSourceConnector, "tasks.max", "1", "file", source, "topic", topic)}, http.StatusCreated)
	w.call(http.MethodPost, "/connectors", map[string]any{"name": "file-sink", "config": connectorConfig(
		"connector.class", fileSinkConnector, "tasks.max", "1", "file", sink, "topics", topic)}, http.StatusCreated)
	w.waitState("file-source", "RUNNING")
	w.waitState("file-sink", "RUNNING")
	waitFilesEqual(t, source, sink)
	t.Logf("1000 lines through Connect %s after the worker started", time.Since(started).Round(100*time.Millisecond))

	t.Run("internal topics", func(t *testing.T) {
		md, err := adm.Metadata(ctx, connectInternalTopics...)
		require.NoError(t, err)
		cfgs, err := adm.DescribeTopicConfigs(ctx, connectInternalTopics...)
		require.NoError(t, err)
		for _, name := range connectInternalTopics {
			td, ok := md.Topics[name]
			require.True(t, ok, "Connect created %s", name)
			require.NoError(t, td.Err)
			for _, p := range td.Partitions {
				assert.Len(t, p.Replicas, 3, "%s-%d replicas", name, p.Partition)
			}
			rc, err := cfgs.On(name, nil)
			require.NoError(t, err)
			policy := ""
			for _, cv := range rc.Configs {
				if cv.Key == "cleanup.policy" {
					policy = cv.MaybeValue()
				}
			}
			assert.Equal(t, "compact", policy, "%s cleanup.policy", name)
		}
	})

	// A graceful worker restart with lines written while it is down.
	w.Stop()
	more(1000)
	w.Start()
	waitFilesEqual(t, source, sink)

	// A broker restart while lines flow.
	more(500)
	victim := c.brokers[1]
	victim.Stop()
	more(500)
	victim.Start()
	c.waitBrokers(3)
	waitFilesEqual(t, source, sink)

	// Small segments and an eager cleaner on the internal topics.
	alter := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "internal.segment.bytes", Value: kadm.StringPtr("4096")},
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("1000")},
		{Op: kadm.SetConfig, Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.01")},
		{Op: kadm.SetConfig, Name: "delete.retention.ms", Value: kadm.StringPtr("1000")},
	}
	altered, err := adm.AlterTopicConfigs(ctx, alter, connectInternalTopics...)
	require.NoError(t, err)
	for _, r := range altered {
		require.NoError(t, r.Err, "altering %s", r.Name)
	}

	// Rewrite the same keys of the config and status topics many times.
	w.call(http.MethodPost, "/connectors", map[string]any{"name": "churn", "config": connectorConfig(
		"connector.class", fileSourceConnector, "tasks.max", "1", "file", churnFile, "topic", churnTopic,
		"batch.size", "100")}, http.StatusCreated)
	lastBatch := ""
	for i := 1; i <= churns; i++ {
		lastBatch = strconv.Itoa(100 + i)
		w.call(http.MethodPut, "/connectors/churn/config", connectorConfig(
			"connector.class", fileSourceConnector, "tasks.max", "1", "file", churnFile, "topic", churnTopic,
			"batch.size", lastBatch), http.StatusOK, http.StatusCreated)
		if i%3 == 0 {
			for _, name := range []string{"file-source", "file-sink"} {
				w.call(http.MethodPut, "/connectors/"+name+"/pause", nil, http.StatusAccepted)
				w.call(http.MethodPut, "/connectors/"+name+"/resume", nil, http.StatusAccepted)
			}
			more(10)
		}
	}
	for _, name := range []string{"file-source", "file-sink", "churn"} {
		w.waitState(name, "RUNNING")
	}
	waitFilesEqual(t, source, sink)

	// What the connectors' state is now, by key, before any check of
	// the cleaner's work.
	compacted := []string{"connect-configs", "connect-status"}
	before := map[string]map[string]string{}
	ends, err := adm.ListEndOffsets(ctx, compacted...)
	require.NoError(t, err)
	for _, name := range compacted {
		recs := readToEnd(t, c, name)
		perKey, most := keyCounts(recs)
		before[name] = lastValues(recs)
		end, _ := ends.Lookup(name, 0)
		t.Logf("%s: %d records written, %d there now, %d keys, %q there %d times", name, end.Offset, len(recs), len(perKey), most, perKey[most])
		// Each reconfiguration wrote the connector's config again (the
		// cleaner may have removed them already).
		require.GreaterOrEqual(t, end.Offset, int64(churns), "%s end offset", name)
	}

	// Below the active segment the cleaner leaves one record per key.
	after := map[string][]*kgo.Record{}
	cleaned := pollFor(60*time.Second, time.Second, func() bool {
		done := true
		for _, name := range compacted {
			after[name] = readToEnd(t, c, name)
			done = done && uncleanedBelowActive(after[name], 4096) == ""
		}
		return done
	})
	assert.True(t, cleaned, "the config and status topics keep one record per key below a 4 KiB active segment ")
	for _, name := range compacted {
		recs := after[name]
		perKey, most := keyCounts(recs)
		t.Logf("%s: %d records, %d keys, %q %d times (cleaned=%v) %s",
			name, len(recs), len(perKey), most, perKey[most], cleaned, uncleanedBelowActive(recs, 4096))
		got := lastValues(recs)
		for key, v := range before[name] {
			if v == "<tombstone>" {
				continue // the cleaner drops it after delete.retention.ms
			}
			if name == "connect-configs" {
				// Only the REST calls above write configurations.
				assert.Equal(t, v, got[key], "%s: last value of %q", name, key)
			} else {
				// Statuses are rewritten by the worker as it likes
				// (generations); each key must still be there.
				assert.Contains(t, got, key, "%s: key %q", name, key)
			}
		}
	}

	// A deleted connector leaves tombstones (its config and target state
	// in the config topic, its status in the status topic), which the
	// cleaner drops on a pass after delete.retention.ms (1 s here). Kafka
	// cleans a log only when it is dirty enough, so churn reconfigures
	// every second until then.
	w.call(http.MethodPost, "/connectors", map[string]any{"name": "doomed", "config": connectorConfig(
		"connector.class", fileSourceConnector, "tasks.max", "1", "file", churnFile, "topic", churnTopic)}, http.StatusCreated)
	w.waitState("doomed", "RUNNING")
	w.call(http.MethodDelete, "/connectors/doomed", nil, http.StatusNoContent)
	doomed := map[string][]string{
		"connect-configs": {"connector-doomed", "target-state-doomed"},
		"connect-status":  {"status-connector-doomed"},
	}
	left := func() []string {
		var out []string
		for name, keys := range doomed {
			got := lastValues(readToEnd(t, c, name))
			for _, key := range keys {
				if v, ok := got[key]; ok {
					out = append(out, fmt.Sprintf("%s: %s=%s", name, key, v))
				}
			}
		}
		return out
	}
	// Just written, they are there (a tombstone lives at least
	// delete.retention.ms after the pass that first keeps it).
	assert.Contains(t, left(), "connect-configs: connector-doomed=<tombstone>")
	wait, rounds, deleted := time.Duration(0), 0, time.Now()
	if cleaned {
		wait = 60 * time.Second
	}
	gone := pollFor(wait, time.Second, func() bool {
		if len(left()) == 0 {
			return true
		}
		rounds++
		lastBatch = strconv.Itoa(100 + churns + int(time.Now().Unix()%1000))
		w.call(http.MethodPut, "/connectors/churn/config", connectorConfig(
			"connector.class", fileSourceConnector, "tasks.max", "1", "file", churnFile, "topic", churnTopic,
			"batch.size", lastBatch), http.StatusOK, http.StatusCreated)
		return false
	})
	assert.True(t, gone, "a deleted connector's tombstones are dropped after delete.retention.ms ; left: %v", left())
	t.Logf("tombstones of the deleted connector gone=%v %s after the delete, %d churn rounds", gone, time.Since(deleted).Round(100*time.Millisecond), rounds)

	// A worker started on the compacted topics has everything back.
	w.Stop()
	more(500)
	w.Start()
	var names []string
	require.NoError(t, json.Unmarshal(w.call(http.MethodGet, "/connectors", nil, http.StatusOK), &names))
	assert.ElementsMatch(t, []string{"file-source", "file-sink", "churn"}, names)
	var churnCfg map[string]string
	require.NoError(t, json.Unmarshal(w.call(http.MethodGet, "/connectors/churn/config", nil, http.StatusOK), &churnCfg))
	assert.Equal(t, lastBatch, churnCfg["batch.size"], "churn's last configuration")
	for _, name := range []string{"file-source", "file-sink", "churn"} {
		w.waitState(name, "RUNNING")
	}
	waitFilesEqual(t, source, sink)

	// A crash (kill -9) of the worker while lines flow: Connect is at
	// least once then, so the sink may repeat what was sent or written
	// but not committed; no line is lost and first occurrences keep the
	// source's order.
	more(500)
	w.Kill()
	more(500)
	w.Start()
	t.Logf("after the worker's crash: %d lines repeated in the sink", waitFilesAtLeastOnce(t, source, sink))
}
