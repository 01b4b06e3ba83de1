package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testTopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// logState is everything of a log a move must keep.
type logState struct {
	Start, End int64
	Data       []byte
	Epochs     []epochEntry
	Txns       txnView
}

func stateOf(t *testing.T, l *Log) logState {
	t.Helper()
	data, err := l.Read(l.LogStartOffset(), 1<<30, true, l.LogEndOffset())
	require.NoError(t, err)
	return logState{Start: l.LogStartOffset(), End: l.LogEndOffset(), Data: data, Epochs: l.epochEntries(), Txns: viewOf(t, l)}
}

// fillForMove writes plain, idempotent and transactional batches under
// two leader epochs, with an aborted transaction and one left open.
func fillForMove(t *testing.T, l *Log) {
	t.Helper()
	interleavedTxns(t, l)
	for i := range 20 {
		_, err := l.Append(idemBatch(t, 7, 0, int32(i*3), 3, int64(100+i)), AppendOptions{LeaderEpoch: 2})
		require.NoError(t, err)
	}
	require.NoError(t, l.MaybeRoll(time.Now().Add(30*24*time.Hour)))
	_, err := l.Append(plainBatch(t, 4, 200), AppendOptions{LeaderEpoch: 3})
	require.NoError(t, err)
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func hasEntryWith(t *testing.T, dir, suffix string) bool {
	for _, n := range entries(t, dir) {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func waitMoved(t *testing.T, m *Manager, tp TopicPartition, dir string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, ok := m.LogDir(tp)
		_, moving := m.FutureLogDir(tp)
		return ok && got == dir && !moving
	}, 20*time.Second, 5*time.Millisecond)
}

// TestAlterLogDirMovesReplica moves a log to the other log dir while an
// idempotent producer keeps appending: nothing acknowledged is lost, the
// bytes, leader epochs, transactions and producer state are the same, and
// the broker's *Log keeps working.
func TestAlterLogDirMovesReplica(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	tp := TopicPartition{"moving", 0}
	l, err := m.GetOrCreate(tp, testTopicID, testConfig())
	require.NoError(t, err)
	fillForMove(t, l)
	before := stateOf(t, l)

	// A producer appending during the whole move.
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := int32(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			res, err := l.Append(idemBatch(t, 42, 0, seq, 1, int64(seq)), AppendOptions{LeaderEpoch: 3})
			if !assert.NoError(t, err) {
				return
			}
			acked.Store(res.LastOffset + 1)
		}
	}()
	require.Eventually(t, func() bool { return acked.Load() > before.End+50 }, 10*time.Second, time.Millisecond)

	require.NoError(t, m.AlterLogDir(tp, dirs[1]))
	waitMoved(t, m, tp, dirs[1])
	require.Eventually(t, func() bool { return acked.Load() > before.End+500 }, 10*time.Second, time.Millisecond)
	close(stop)
	wg.Wait()

	got, ok := m.Get(tp)
	require.True(t, ok)
	assert.Same(t, l, got, "the broker's log object is kept")
	assert.Equal(t, filepath.Join(dirs[1], "moving-0"), l.Dir())
	after := stateOf(t, l)
	assert.Equal(t, acked.Load(), after.End)
	assert.Equal(t, before.Data, after.Data[:len(before.Data)])
	bases := batchBases(t, after.Data)
	assert.Equal(t, int(after.End-before.End)+len(batchBases(t, before.Data)), len(bases), "one batch per acknowledged append")
	assert.Equal(t, before.Epochs, after.Epochs)
	assert.Equal(t, before.Txns.Aborted, after.Txns.Aborted)
	assert.Equal(t, before.Txns.FirstUnstable, after.Txns.FirstUnstable)

	// Producer state moved along: a retry of 42's last batch is a duplicate.
	lastSeq := int32(after.End - before.End - 1)
	dup, err := l.Append(idemBatch(t, 42, 0, lastSeq, 1, 0), AppendOptions{LeaderEpoch: 3})
	require.NoError(t, err)
	assert.True(t, dup.Duplicate)

	require.Eventually(t, func() bool { return len(entries(t, dirs[0])) == 2 }, 5*time.Second, 5*time.Millisecond,
		"the old directory is removed: %v", entries(t, dirs[0]))

	// Appends still work and survive a restart in the new dir.
	mustAppend(t, l, plainBatch(t, 1, 5), time.Time{})
	final := stateOf(t, l)
	require.NoError(t, m.Close())
	m2 := newTestManager(t, dirs)
	dir, ok := m2.LogDir(tp)
	require.True(t, ok)
	assert.Equal(t, dirs[1], dir)
	l2, _ := m2.Get(tp)
	assert.Equal(t, final, stateOf(t, l2))
	id, ok := m2.TopicID(tp)
	require.True(t, ok)
	assert.Equal(t, testTopicID, id)
}

// TestAlterLogDirCrashRecovery stops a move dead at each step of the swap
// and restarts: the partition always comes back whole, in the new log dir
// once the current log was renamed away, with no future or deleted
// directory left behind.
func TestAlterLogDirCrashRecovery(t *testing.T) {
	for _, step := range []string{"caught-up", "future-closed", "current-renamed", "future-renamed"} {
		t.Run(step, func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			m, err := NewManager(dirs, testConfig(), testLogger(t))
			require.NoError(t, err)
			tp := TopicPartition{"crashy", 3}
			l, err := m.GetOrCreate(tp, testTopicID, testConfig())
			require.NoError(t, err)
			fillForMove(t, l)
			want := stateOf(t, l)

			crashAt = func(s string) bool { return s == step }
			t.Cleanup(func() { crashAt = nil })
			require.NoError(t, m.AlterLogDir(tp, dirs[1]))
			m.mu.RLock()
			mv := m.logs[tp].move
			m.mu.RUnlock()
			<-mv.done
			crashAt = nil
			_ = m.Close() // the current log may have lost its directory

			m2 := newTestManager(t, dirs)
			waitMoved(t, m2, tp, dirs[1])
			l2, ok := m2.Get(tp)
			require.True(t, ok)
			assert.Equal(t, want, stateOf(t, l2))
			require.Eventually(t, func() bool {
				return !hasEntryWith(t, dirs[0], "-delete") && !hasEntryWith(t, dirs[1], futureSuffix) && !hasEntryWith(t, dirs[0], "crashy-3")
			}, 5*time.Second, 5*time.Millisecond)
		})
	}
}

// TestMoveCopyFollowsCurrentLog drives the copy step by step while the
// current log is truncated (as a follower is), appended to under a new
// epoch and has its start moved: the future log ends identical.
func TestMoveCopyFollowsCurrentLog(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	tp := TopicPartition{"follow", 0}
	cur, err := m.GetOrCreate(tp, testTopicID, testConfig())
	require.NoError(t, err)
	for i := range 10 {
		_, err := cur.Append(plainBatch(t, 2, int64(i)), AppendOptions{LeaderEpoch: 1})
		require.NoError(t, err)
	}
	fut, err := m.createFuture(filepath.Join(dirs[1], futureDirName(tp)), tp, cur, testTopicID, true)
	require.NoError(t, err)
	mv := &logMove{tp: tp, destDir: dirs[1], topicID: testTopicID, hasID: true, future: fut}
	t.Cleanup(func() { _ = mv.futureLog().Close() })
	catchUp := func() {
		t.Helper()
		for range 100 {
			done, err := m.copyStep(cur, mv, 100)
			require.NoError(t, err)
			if done {
				return
			}
		}
		t.Fatal("copy never caught up")
	}
	sameLogs := func() {
		t.Helper()
		f := mv.futureLog()
		assert.Equal(t, stateOf(t, cur), stateOf(t, f))
	}
	catchUp()
	sameLogs()

	// The current log, a follower, truncates and takes the new leader's
	// batches under epoch 2.
	require.NoError(t, cur.TruncateTo(12))
	for i := range 3 {
		_, err := cur.AppendReplica(epochBatch(t, 12+int64(i)*2, 2))
		require.NoError(t, err)
	}
	catchUp()
	sameLogs()

	// Its start moves into the middle of a batch, then past everything
	// the future log has.
	_, err = cur.DeleteRecordsBefore(5)
	require.NoError(t, err)
	catchUp()
	sameLogs()
	mustAppend(t, cur, plainBatch(t, 3, 1), time.Time{})
	require.NoError(t, cur.MaybeRoll(time.Now().Add(30*24*time.Hour)))
	mustAppend(t, cur, plainBatch(t, 3, 1), time.Time{})
	_, err = cur.DeleteRecordsBefore(cur.LogEndOffset() - 3)
	require.NoError(t, err)
	catchUp()
	sameLogs()
}

// epochBatch is a two-record batch at base offset base written under
// leader epoch epoch, as a leader would send it.
func epochBatch(t *testing.T, base int64, epoch int32) []byte {
	t.Helper()
	b := plainBatch(t, 2, 1)
	// Both fields sit before the part the CRC covers.
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
	return b
}

// TestAlterLogDirErrors: an unknown dir, a partition not here (whose dir
// is remembered for its creation), and the dir it is already in.
func TestAlterLogDirErrors(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	tp := TopicPartition{"t", 0}
	_, err := m.GetOrCreate(tp, testTopicID, testConfig())
	require.NoError(t, err)

	require.ErrorIs(t, m.AlterLogDir(tp, t.TempDir()), ErrLogDirNotFound)
	require.NoError(t, m.AlterLogDir(tp, dirs[0]))
	_, moving := m.FutureLogDir(tp)
	assert.False(t, moving, "already there")

	later := TopicPartition{"later", 0}
	require.ErrorIs(t, m.AlterLogDir(later, dirs[0]), ErrReplicaNotAvailable)
	_, err = m.GetOrCreate(later, testTopicID, testConfig())
	require.NoError(t, err)
	dir, _ := m.LogDir(later)
	assert.Equal(t, dirs[0], dir, "created in the preferred dir, not the least loaded")

	// A relative path naming a log dir is the same dir.
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, dirs[1])
	require.NoError(t, err)
	require.NoError(t, m.AlterLogDir(tp, rel))
	waitMoved(t, m, tp, dirs[1])
}

// TestManagerLogDirsAtStart: partitions are spread by count and found in
// every dir; a lone future log is completed, conflicting ones removed; a
// partition in two dirs refuses the start; the embedded etcd directory is
// no partition.
func TestManagerLogDirsAtStart(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	require.NoError(t, os.MkdirAll(filepath.Join(dirs[0], "__etcd", "member"), 0o755))
	m, err := NewManager(dirs, testConfig(), testLogger(t))
	require.NoError(t, err)
	for p := range int32(6) {
		l, err := m.GetOrCreate(TopicPartition{"spread", p}, testTopicID, testConfig())
		require.NoError(t, err)
		mustAppend(t, l, plainBatch(t, 1, 1), time.Time{})
	}
	counts := map[string]int{}
	for p := range int32(6) {
		d, _ := m.LogDir(TopicPartition{"spread", p})
		counts[d]++
	}
	assert.Equal(t, map[string]int{dirs[0]: 2, dirs[1]: 2, dirs[2]: 2}, counts)
	require.NoError(t, m.Close())

	// spread-0 (in dirs[0]) as a lone future log in dirs[2]: a move that
	// crashed between its renames.
	require.NoError(t, os.Rename(filepath.Join(dirs[0], "spread-0"), filepath.Join(dirs[2], "spread-0.0123456789abcdef0123456789abcdef-future")))
	// Two future logs of spread-1: neither is trusted.
	for _, d := range []string{dirs[1], dirs[2]} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, "spread-1.ffffffffffffffffffffffffffffffff-future"), 0o755))
	}
	m2 := newTestManager(t, dirs)
	assert.Len(t, m2.Partitions(), 6)
	d, _ := m2.LogDir(TopicPartition{"spread", 0})
	assert.Equal(t, dirs[2], d)
	l, _ := m2.Get(TopicPartition{"spread", 0})
	assert.Equal(t, int64(1), l.LogEndOffset())
	assert.False(t, hasEntryWith(t, dirs[1], futureSuffix))
	assert.False(t, hasEntryWith(t, dirs[2], futureSuffix))
	require.NoError(t, m2.Close())

	require.NoError(t, os.MkdirAll(filepath.Join(dirs[1], "spread-2"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dirs[0], "spread-2"), 0o755))
	_, err = NewManager(dirs, testConfig(), testLogger(t))
	require.ErrorContains(t, err, "in both")
}

// TestDescribeLogDirs reports every dir with its partitions, sizes and a
// running move's future log.
func TestDescribeLogDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	a, err := m.GetOrCreate(TopicPartition{"a", 0}, testTopicID, testConfig())
	require.NoError(t, err)
	mustAppend(t, a, plainBatch(t, 3, 1), time.Time{})
	_, err = m.GetOrCreate(TopicPartition{"b", 1}, testTopicID, testConfig())
	require.NoError(t, err)

	got := m.DescribeLogDirs()
	require.Len(t, got, 2)
	assert.Equal(t, dirs[0], got[0].Path)
	assert.Equal(t, []LogDirEntry{{TopicPartition: TopicPartition{"a", 0}, Size: a.Size(), LogEndOffset: 3}}, got[0].Logs)
	assert.Equal(t, []LogDirEntry{{TopicPartition: TopicPartition{"b", 1}, Size: 0, LogEndOffset: 0}}, got[1].Logs)
	for _, d := range got {
		assert.NoError(t, d.Err)
		assert.Positive(t, d.TotalBytes)
		assert.Positive(t, d.UsableBytes)
		assert.LessOrEqual(t, d.UsableBytes, d.TotalBytes)
	}

	// A move held before its swap shows the future log in the new dir.
	crashAt = func(s string) bool { return s == "caught-up" }
	t.Cleanup(func() { crashAt = nil })
	fut, err := m.createFuture(filepath.Join(dirs[1], futureDirName(TopicPartition{"a", 0})), TopicPartition{"a", 0}, a, testTopicID, true)
	require.NoError(t, err)
	m.mu.Lock()
	mv := &logMove{tp: TopicPartition{"a", 0}, destDir: dirs[1], future: fut, cancel: func() {}, abandon: make(chan struct{}), done: make(chan struct{})}
	m.logs[TopicPartition{"a", 0}].move = mv
	m.mu.Unlock()
	got = m.DescribeLogDirs()
	assert.Equal(t, []LogDirEntry{
		{TopicPartition: TopicPartition{"a", 0}, Size: 0, LogEndOffset: 0, IsFuture: true, CurrentLogEndOffset: 3},
		{TopicPartition: TopicPartition{"b", 1}},
	}, got[1].Logs)
	m.mu.Lock()
	m.logs[TopicPartition{"a", 0}].move = nil
	m.mu.Unlock()
	require.NoError(t, fut.Close())
}

// TestAlterLogDirRetargetAndDelete: a second AlterLogDir to another dir
// wins over a running move, leaving no future log behind; deleting a
// partition in the middle of its move's swap removes every directory of
// it.
func TestAlterLogDirRetargetAndDelete(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	tp := TopicPartition{"retarget", 0}
	l, err := m.GetOrCreate(tp, testTopicID, testConfig())
	require.NoError(t, err)
	fillForMove(t, l)
	want := stateOf(t, l)

	require.NoError(t, m.AlterLogDir(tp, dirs[1]))
	require.NoError(t, m.AlterLogDir(tp, dirs[2]))
	waitMoved(t, m, tp, dirs[2])
	assert.Equal(t, want, stateOf(t, l))
	require.Eventually(t, func() bool {
		return len(entries(t, dirs[0])) == 2 && len(entries(t, dirs[1])) == 2
	}, 5*time.Second, 5*time.Millisecond, "%v %v", entries(t, dirs[0]), entries(t, dirs[1]))

	reached, release := make(chan struct{}), make(chan struct{})
	crashAt = func(s string) bool {
		if s == "caught-up" {
			close(reached)
			<-release
		}
		return false
	}
	t.Cleanup(func() { crashAt = nil })
	require.NoError(t, m.AlterLogDir(tp, dirs[0]))
	<-reached
	deleted := make(chan error)
	go func() { deleted <- m.Delete(tp) }()
	close(release)
	require.NoError(t, <-deleted)
	_, ok := m.Get(tp)
	assert.False(t, ok)
	for _, d := range dirs {
		require.Eventually(t, func() bool { return len(entries(t, d)) == 2 }, 5*time.Second, 5*time.Millisecond, "%s: %v", d, entries(t, d))
	}
}

func TestParseFutureDir(t *testing.T) {
	tp := TopicPartition{"my-topic.v2", 12}
	got, ok := parseFutureDir(futureDirName(tp))
	require.True(t, ok)
	assert.Equal(t, tp, got)
	for _, name := range []string{"my-topic-12", "my-topic-12-future", "my-topic-12.abc-delete", ".x-future", "t-01.ab-future", "t-x.ab-future"} {
		_, ok := parseFutureDir(name)
		assert.False(t, ok, name)
	}
}

// FuzzParseFutureDir: directory names come from the disk; the parse never
// panics and what it accepts names the partition it came from.
func FuzzParseFutureDir(f *testing.F) {
	f.Add("orders-3.0123456789abcdef0123456789abcdef-future")
	f.Add("-1.a-future")
	f.Fuzz(func(t *testing.T, name string) {
		tp, ok := parseFutureDir(name)
		if ok {
			assert.True(t, strings.HasPrefix(name, tp.dirName()+"."), name)
		}
	})
}
