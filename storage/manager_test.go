package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestManager(t *testing.T, dirs []string) *Manager {
	t.Helper()
	m, err := NewManager(dirs, testConfig(), testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestManagerCreateReopenDelete(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs)
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	tps := []TopicPartition{{"orders", 0}, {"orders", 1}, {"my-topic", 0}, {"my-topic", 10}}
	for _, tp := range tps {
		l, err := m.GetOrCreate(tp, id, testConfig())
		require.NoError(t, err)
		mustAppend(t, l, plainBatch(t, 2, 1), time.Time{})
	}
	// Spread over the dirs: two each.
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		require.NoError(t, err)
		var partitions int
		for _, e := range entries {
			if e.IsDir() {
				partitions++
			}
		}
		assert.Equal(t, 2, partitions)
	}
	again, err := m.GetOrCreate(tps[0], id, testConfig())
	require.NoError(t, err)
	got, ok := m.Get(tps[0])
	require.True(t, ok)
	assert.Same(t, got, again)

	_, err = m.GetOrCreate(tps[0], [16]byte{9}, testConfig())
	require.ErrorIs(t, err, ErrInconsistentTopicID)

	require.NoError(t, m.Close())

	m2 := newTestManager(t, dirs)
	assert.Equal(t, []TopicPartition{{"my-topic", 0}, {"my-topic", 10}, {"orders", 0}, {"orders", 1}}, m2.Partitions())
	for _, tp := range tps {
		l, ok := m2.Get(tp)
		require.True(t, ok, tp)
		assert.Equal(t, int64(2), l.LogEndOffset())
		gotID, ok := m2.TopicID(tp)
		require.True(t, ok)
		assert.Equal(t, id, gotID)
	}
	l, _ := m2.Get(tps[2])
	dir := l.Dir()
	require.NoError(t, m2.Delete(tps[2]))
	assert.NoDirExists(t, dir)
	_, ok = m2.Get(tps[2])
	assert.False(t, ok)
	assert.Len(t, m2.Partitions(), 3)
}

// TestManagerDeleteThenRecreate: a partition deleted and created again at
// once (a topic re-created under its name while the old directory is
// being removed) gets a fresh, empty log; a directory left half-deleted
// by a crash is removed on open.
func TestManagerDeleteThenRecreate(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, []string{dir})
	tp := TopicPartition{"life", 0}
	for round := range 20 {
		id := [16]byte{byte(round + 1)}
		l, err := m.GetOrCreate(tp, id, testConfig())
		require.NoError(t, err)
		mustAppend(t, l, plainBatch(t, 3, 1), time.Time{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, m.Delete(tp))
		}()
		// Racing the delete: either the old log (before Delete took it)
		// or a fresh one, never a broken one.
		fresh, err := m.GetOrCreate(tp, [16]byte{byte(round + 101)}, testConfig())
		wg.Wait()
		if err == nil && fresh != l {
			assert.Equal(t, int64(0), fresh.LogEndOffset())
		}
		require.NoError(t, m.Delete(tp))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "life-0.123"+deleteSuffix), 0o755))
	require.NoError(t, m.Close())
	newTestManager(t, []string{dir})
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasSuffix(e.Name(), deleteSuffix), e.Name())
	}
}

func TestPartitionMetadataFormat(t *testing.T) {
	dir := t.TempDir()
	id := [16]byte{0xfb, 0xff, 0xbf, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	require.NoError(t, writePartitionMetadata(dir, id))
	data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	require.NoError(t, err)
	assert.Equal(t, "version: 0\ntopic_id: -_-_AAECAwQFBgcICQoLDA\n", string(data))
	got, ok, err := readPartitionMetadata(dir)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, id, got)
}

func TestParsePartitionDir(t *testing.T) {
	cases := map[string]struct {
		tp TopicPartition
		ok bool
	}{
		"orders-0":               {TopicPartition{"orders", 0}, true},
		"my-topic-12":            {TopicPartition{"my-topic", 12}, true},
		"__consumer_offsets-49":  {TopicPartition{"__consumer_offsets", 49}, true},
		"orders":                 {TopicPartition{}, false},
		"-1":                     {TopicPartition{}, false},
		"orders--1":              {TopicPartition{"orders-", 1}, true}, // "orders-" is a legal topic
		"orders-01":              {TopicPartition{}, false},
		"orders-0.abc123-delete": {TopicPartition{}, false},
		"orders-99999999999":     {TopicPartition{}, false},
	}
	for name, want := range cases {
		tp, ok := parsePartitionDir(name)
		assert.Equal(t, want.ok, ok, name)
		assert.Equal(t, want.tp, tp, name)
	}
}

func TestManagerRunEnforcesRetention(t *testing.T) {
	m := newTestManager(t, []string{t.TempDir()})
	cfg := testConfig()
	old := time.Now().Add(-time.Hour).UnixMilli()
	oneBatchPerSegment(t, &cfg, plainBatch(t, 1, old))
	cfg.RetentionMs = 1000
	cfg.FlushMs = 10
	l, err := m.GetOrCreate(TopicPartition{"t", 0}, [16]byte{}, cfg)
	require.NoError(t, err)
	for range 3 {
		mustAppend(t, l, plainBatch(t, 1, old), time.Time{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(ctx, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	require.Eventually(t, func() bool { return l.LogStartOffset() == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(3), l.LogEndOffset())
	_, ok := m.TopicID(TopicPartition{"t", 0})
	assert.False(t, ok, "no topic id given")
}

func TestManagerRejectsBadNames(t *testing.T) {
	m := newTestManager(t, []string{t.TempDir()})
	for _, tp := range []TopicPartition{{"", 0}, {"a/b", 0}, {"..", 0}, {"x", -1}} {
		_, err := m.GetOrCreate(tp, [16]byte{}, testConfig())
		assert.Error(t, err, tp)
	}
}

func FuzzParseSmallFiles(f *testing.F) {
	f.Add("0\n42\n")
	f.Add("version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw\n")
	f.Add("orders-3")
	f.Fuzz(func(t *testing.T, s string) {
		if off, err := parseLogStartOffset([]byte(s)); err == nil {
			assert.GreaterOrEqual(t, off, int64(0))
		}
		_, _ = parsePartitionMetadata([]byte(s))
		if tp, ok := parsePartitionDir(s); ok {
			assert.Equal(t, s, tp.dirName())
			assert.NotEmpty(t, tp.Topic)
		}
	})
}

// TestLogDirLockAndDirectoryID: a second manager on a log dir in use is
// refused; the directory id survives a restart and differs between dirs.
func TestLogDirLockAndDirectoryID(t *testing.T) {
	dir := t.TempDir()
	m, err := NewManager([]string{dir}, testConfig(), testLogger(t))
	require.NoError(t, err)
	id := m.DirectoryID()
	assert.Len(t, id, 22)

	_, err = NewManager([]string{dir}, testConfig(), testLogger(t))
	require.ErrorIs(t, err, ErrLogDirLocked)

	require.NoError(t, m.Close())
	m, err = NewManager([]string{dir}, testConfig(), testLogger(t))
	require.NoError(t, err, "the lock goes with Close")
	assert.Equal(t, id, m.DirectoryID())
	require.NoError(t, m.Close())

	other, err := NewManager([]string{t.TempDir()}, testConfig(), testLogger(t))
	require.NoError(t, err)
	assert.NotEqual(t, id, other.DirectoryID())
	require.NoError(t, other.Close())
}
