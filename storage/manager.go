package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) dirName() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// parsePartitionDir splits "<topic>-<partition>"; topics may contain '-',
// so the last one separates.
func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

type managedLog struct {
	log     *Log
	logDir  string
	topicID [16]byte
	hasID   bool
	move    *logMove // the replica's move to another log dir, if one runs
}

// Manager owns every partition log under the broker's log dirs.
// Its mutex guards the map only; each Log locks itself. Lock order:
// Manager.mu before any Log lock, and Run never holds Manager.mu while
// calling into a Log.
type Manager struct {
	dirs     []string
	defaults Config
	logger   zerolog.Logger

	locks []*os.File // one held lock per log dir
	dirID string     // directory.id of the first log dir

	mu     sync.RWMutex
	logs   map[TopicPartition]*managedLog
	closed bool
	// preferred is the log dir AlterReplicaLogDirs named for a partition
	// not created here yet; GetOrCreate uses it once.
	preferred map[TopicPartition]string
	moves     sync.WaitGroup // the goroutines running log dir moves

	cleanerCfg atomic.Pointer[CleanerConfig]
	cleaner    cleanerState
}

// SetCleanerConfig publishes new log cleaner settings: RunCleaner resizes
// its threads at once, the throttle and backoff apply from the next
// read, the dedupe buffer from the next cleaning.
func (m *Manager) SetCleanerConfig(c CleanerConfig) {
	m.cleanerCfg.Store(&c)
	m.cleaner.signal(&m.cleaner.changed, true)
}

// CleanerConfig returns the log cleaner settings as last set.
func (m *Manager) CleanerConfig() CleanerConfig { return *m.cleanerCfg.Load() }

// DirectoryID is the directory.id in the first log dir's meta.properties:
// it stays the same across restarts on the same data.
func (m *Manager) DirectoryID() string { return m.dirID }

// NewManager opens every <topic>-<partition> directory under dirs,
// recovering each log.
func NewManager(dirs []string, defaults Config, logger zerolog.Logger) (*Manager, error) {
	if len(dirs) == 0 {
		return nil, errors.New("storage: no log dirs")
	}
	abs, err := absDirs(dirs)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		dirs:      abs,
		defaults:  defaults,
		logger:    logger.With().Str("component", "storage").Logger(),
		logs:      make(map[TopicPartition]*managedLog),
		preferred: make(map[TopicPartition]string),
	}
	m.SetCleanerConfig(DefaultCleanerConfig())
	for _, dir := range m.dirs {
		if err := m.openDir(dir); err != nil {
			_ = m.Close()
			return nil, err
		}
	}
	if err := m.loadFutureLogs(); err != nil {
		_ = m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Manager) openDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("storage: create log dir: %w", err)
	}
	lock, err := lockLogDir(dir)
	if err != nil {
		return err
	}
	m.locks = append(m.locks, lock)
	id, err := loadDirectoryID(dir)
	if err != nil {
		return err
	}
	if m.dirID == "" {
		m.dirID = id
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storage: list log dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), deleteSuffix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				m.logger.Warn().Err(err).Str("dir", e.Name()).Msg("cannot remove a deleted partition's directory")
			}
			continue
		}
		tp, ok := parsePartitionDir(e.Name())
		if !ok {
			continue
		}
		if other, dup := m.logs[tp]; dup {
			return fmt.Errorf("storage: partition %s in both %s and %s", e.Name(), other.logDir, dir)
		}
		if err := m.openPartition(dir, tp, filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) logFor(tp TopicPartition) zerolog.Logger {
	return m.logger.With().Str("topic", tp.Topic).Int32("partition", tp.Partition).Logger()
}

// Get returns an open log.
func (m *Manager) Get(tp TopicPartition) (*Log, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	if !ok {
		return nil, false
	}
	return ml.log, true
}

// GetOrCreate returns the partition's log, creating its directory in the
// log dir holding the fewest partitions, and records topicID in
// partition.metadata. An existing log gets cfg applied; a stored topic id
// different from topicID is ErrInconsistentTopicID (a zero topicID skips
// the check).
func (m *Manager) GetOrCreate(tp TopicPartition, topicID [16]byte, cfg Config) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if tp.Topic == "" || tp.Partition < 0 || strings.ContainsAny(tp.Topic, `/\`) || tp.Topic == "." || tp.Topic == ".." {
		return nil, fmt.Errorf("storage: invalid partition %q/%d", tp.Topic, tp.Partition)
	}
	if ml, ok := m.logs[tp]; ok {
		if topicID != ([16]byte{}) {
			if ml.hasID && ml.topicID != topicID {
				return nil, fmt.Errorf("%w: %s has another topic id", ErrInconsistentTopicID, tp.dirName())
			}
			if !ml.hasID {
				if err := writePartitionMetadata(ml.log.Dir(), topicID); err != nil {
					return nil, err
				}
				ml.topicID, ml.hasID = topicID, true
			}
		}
		ml.log.SetConfig(cfg)
		return ml.log, nil
	}
	logDir, ok := m.preferred[tp]
	if ok {
		delete(m.preferred, tp)
	} else {
		logDir = m.leastLoadedDir()
	}
	path := filepath.Join(logDir, tp.dirName())
	l, err := Open(path, cfg, m.logFor(tp))
	if err != nil {
		return nil, err
	}
	ml := &managedLog{log: l, logDir: logDir}
	if topicID != ([16]byte{}) {
		if err := writePartitionMetadata(path, topicID); err != nil {
			_ = l.Delete()
			return nil, err
		}
		ml.topicID, ml.hasID = topicID, true
	}
	m.logs[tp] = ml
	m.logger.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Str("dir", path).Msg("created log")
	return l, nil
}

// leastLoadedDir is Kafka's nextLogDirs: the log dir holding the fewest
// logs, future logs of moves included, the first configured on a tie.
func (m *Manager) leastLoadedDir() string {
	counts := make(map[string]int, len(m.dirs))
	for _, ml := range m.logs {
		counts[ml.logDir]++
		if ml.move != nil {
			counts[ml.move.destDir]++
		}
	}
	best := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if counts[d] < counts[best] {
			best = d
		}
	}
	return best
}

// TopicID returns the topic id from the partition's partition.metadata.
func (m *Manager) TopicID(tp TopicPartition) ([16]byte, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	if !ok || !ml.hasID {
		return [16]byte{}, false
	}
	return ml.topicID, true
}

// Partitions lists the open partitions, sorted.
func (m *Manager) Partitions() []TopicPartition {
	m.mu.RLock()
	out := make([]TopicPartition, 0, len(m.logs))
	for tp := range m.logs {
		out = append(out, tp)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

// deleteSuffix marks a partition directory being deleted (Kafka's
// convention): it no longer parses as a partition, so a topic re-created
// under the same name gets a fresh directory while the old one is removed,
// and a crash part way leaves a directory Open cleans up.
const deleteSuffix = "-delete"

// Delete closes the partition's log and removes its directory. The log is
// closed and its directory renamed away under the manager's lock, so a
// GetOrCreate of the same partition (the topic re-created at once) never
// opens the directory being removed.
func (m *Manager) Delete(tp TopicPartition) error {
	// The future log goes first: a crash after the current log's
	// directory was renamed away must not leave a future log, which the
	// next start would take for a finished move.
	m.abandonMove(tp)
	m.mu.Lock()
	ml, ok := m.logs[tp]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	delete(m.logs, tp)
	mv := ml.abandonMoveLocked() // one started since abandonMove
	cerr := ml.log.Close()
	dir := ml.log.Dir()
	doomed := fmt.Sprintf("%s.%d%s", dir, time.Now().UnixNano(), deleteSuffix)
	if err := os.Rename(dir, doomed); err != nil {
		doomed = dir
	}
	m.mu.Unlock()
	if mv != nil {
		<-mv.done
	}
	if err := os.RemoveAll(doomed); err != nil {
		return errors.Join(cerr, fmt.Errorf("storage: remove log dir: %w", err))
	}
	m.logger.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("deleted log")
	return nil
}

// Run enforces retention and time-based rolls every interval and applies
// flush.ms until ctx is done. The caller owns the goroutine running it.
func (m *Manager) Run(ctx context.Context, retentionCheckInterval time.Duration) {
	if retentionCheckInterval <= 0 {
		retentionCheckInterval = 5 * time.Minute
	}
	// flush.ms needs finer ticks than retention, but not finer than a
	// second unless retention checks are already that frequent.
	flushInterval := min(retentionCheckInterval, time.Second)
	retention := time.NewTicker(retentionCheckInterval)
	defer retention.Stop()
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-retention.C:
			m.forEach(func(tp TopicPartition, l *Log) {
				if _, err := l.EnforceRetention(now); err != nil && !errors.Is(err, ErrClosed) {
					m.logger.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("retention failed")
				}
				if err := l.MaybeRoll(now); err != nil && !errors.Is(err, ErrClosed) {
					m.logger.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("roll failed")
				}
			})
		case now := <-flush.C:
			m.forEach(func(tp TopicPartition, l *Log) {
				if err := l.maybeFlushByTime(now); err != nil {
					m.logger.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("flush failed")
				}
				if err := l.deleteRetired(now); err != nil {
					m.logger.Error().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("deleting retired segment files failed")
				}
			})
		}
	}
}

// forEach calls fn on a snapshot of the logs, without holding m.mu, so a
// slow fsync never blocks GetOrCreate.
func (m *Manager) forEach(fn func(TopicPartition, *Log)) {
	m.mu.RLock()
	tps := make([]TopicPartition, 0, len(m.logs))
	logs := make([]*Log, 0, len(m.logs))
	for tp, ml := range m.logs {
		tps = append(tps, tp)
		logs = append(logs, ml.log)
	}
	m.mu.RUnlock()
	for i := range logs {
		fn(tps[i], logs[i])
	}
}

// Close closes every log. Stop Run (cancel its context and wait) first.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.stopMoves()
	m.mu.Lock()
	logs := m.logs
	m.logs = make(map[TopicPartition]*managedLog)
	m.mu.Unlock()
	var errs []error
	for _, ml := range logs {
		if err := ml.log.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range m.locks {
		f.Close() // releases the lock
	}
	m.locks = nil
	return errors.Join(errs...)
}
