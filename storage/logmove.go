package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kafkad/kafkad/internal/safe"
)

// Moving a replica to another log dir of the same broker (Kafka's
// AlterReplicaLogDirs, KIP-113), online:
//
//  1. A future log is created in the destination log dir, in a directory
//     named <topic>-<partition>.<uuid>-future, starting at the batch that
//     holds the current log's start offset.
//  2. A goroutine copies batches from the current log into it as a
//     follower would (AppendReplica: offsets, epochs, producer state and
//     aborted transactions carried over) while the current log keeps
//     taking appends, truncations and log start moves, which the future
//     log follows.
//  3. Once it has caught up, the current log's lock is taken (appends
//     wait), the last batches are copied, the future log is closed
//     cleanly, the current directory is renamed to <...>.<n>-delete, the
//     future one to <topic>-<partition>, and the Log reopens itself on the
//     new directory. The *Log the broker holds stays the same object, so
//     fetches and appends simply continue on the new files.
//
// Recovery at start: a future log next to its current log resumes the
// move; a future log alone is a move that crashed between the two
// renames of step 3, after the future log was complete, and becomes the
// current log; -delete directories are removed. Deleting a partition
// removes its future log before its current log, so a deleted partition
// never comes back as a lone future log.

// futureSuffix ends a future log's directory name, as in Kafka.
const futureSuffix = "-future"

// Errors of AlterLogDir.
var (
	// ErrLogDirNotFound: the path is not one of this broker's log dirs
	// (LOG_DIR_NOT_FOUND).
	ErrLogDirNotFound = errors.New("storage: log dir not found")
	// ErrReplicaNotAvailable: no log for the partition here
	// (REPLICA_NOT_AVAILABLE); the log dir is remembered for when it is
	// created.
	ErrReplicaNotAvailable = errors.New("storage: replica not available")
)

// moveCopyBytes is how much one copy step reads from the current log.
const moveCopyBytes = 1 << 20

// logMove is one running move; its goroutine owns the future log.
type logMove struct {
	tp      TopicPartition
	destDir string // the destination log dir
	topicID [16]byte
	hasID   bool

	mu     sync.Mutex // guards future, which a reset or retry replaces
	future *Log

	cancel  context.CancelFunc
	doomed  string        // the old directory, once swapped: removed last
	abandon chan struct{} // closed to stop and delete the future log
	done    chan struct{} // closed when the goroutine has returned
}

// crashAt is set by tests to stop a move dead at a named step of the
// swap, leaving the disk as a crash there would.
var crashAt func(step string) bool

var errSimulatedCrash = errors.New("storage: simulated crash")

func simulateCrash(step string) bool { return crashAt != nil && crashAt(step) }

// absDirs makes every log dir absolute and clean, as Kafka reports and
// matches them.
func absDirs(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("storage: log dir %s: %w", d, err)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Dirs returns the log dirs, absolute, in configured order.
func (m *Manager) Dirs() []string { return slices.Clone(m.dirs) }

func futureDirName(tp TopicPartition) string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return tp.dirName() + "." + hex.EncodeToString(id[:]) + futureSuffix
}

// parseFutureDir parses "<topic>-<partition>.<uuid>-future".
func parseFutureDir(name string) (TopicPartition, bool) {
	rest, ok := strings.CutSuffix(name, futureSuffix)
	if !ok {
		return TopicPartition{}, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return TopicPartition{}, false
	}
	return parsePartitionDir(rest[:i])
}

func deletedDirName(dir string) string {
	return fmt.Sprintf("%s.%d%s", dir, time.Now().UnixNano(), deleteSuffix)
}

// AlterLogDir moves the partition's replica to logDir, one of the
// broker's log dirs, as Kafka's AlterReplicaLogDirs does: a move already
// running to another dir is abandoned; the replica already in logDir is
// done at once; otherwise a future log is created there and filled in the
// background. A partition without a log here is ErrReplicaNotAvailable,
// and logDir is where GetOrCreate will put it.
func (m *Manager) AlterLogDir(tp TopicPartition, logDir string) error {
	abs, err := filepath.Abs(logDir)
	if err != nil || !slices.Contains(m.dirs, abs) {
		return fmt.Errorf("%w: %s is not in log.dirs", ErrLogDirNotFound, logDir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	ml, ok := m.logs[tp]
	if !ok {
		m.preferred[tp] = abs
		return fmt.Errorf("%w: %s", ErrReplicaNotAvailable, tp.dirName())
	}
	if mv := ml.move; mv != nil {
		if mv.destDir == abs {
			return nil
		}
		// Kafka drops the future log when the destination changes.
		ml.abandonMoveLocked()
	}
	if ml.logDir == abs {
		return nil
	}
	fut, err := m.createFuture(filepath.Join(abs, futureDirName(tp)), tp, ml.log, ml.topicID, ml.hasID)
	if err != nil {
		return err
	}
	m.startMove(ml, tp, abs, fut)
	m.logger.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Str("log_dir", abs).Msg("moving replica to another log dir")
	return nil
}

// createFuture opens an empty future log at path starting at the batch
// holding the current log's start offset, with the topic id.
func (m *Manager) createFuture(path string, tp TopicPartition, cur *Log, topicID [16]byte, hasID bool) (*Log, error) {
	start := cur.LogStartOffset()
	if b, err := cur.Read(start, 1, true, cur.LogEndOffset()); err == nil && len(b) >= 8 {
		start = int64(binary.BigEndian.Uint64(b))
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create future log: %w", err)
	}
	err := writeLogStartOffset(path, start)
	if err == nil && hasID {
		err = writePartitionMetadata(path, topicID)
	}
	var fut *Log
	if err == nil {
		fut, err = Open(path, cur.Config(), m.logFor(tp).With().Bool("future", true).Logger())
	}
	if err != nil {
		_ = os.RemoveAll(path)
		return nil, fmt.Errorf("storage: create future log: %w", err)
	}
	return fut, nil
}

// startMove runs the move's goroutine; m.mu is held.
func (m *Manager) startMove(ml *managedLog, tp TopicPartition, destDir string, fut *Log) {
	ctx, cancel := context.WithCancel(context.Background())
	mv := &logMove{tp: tp, destDir: destDir, topicID: ml.topicID, hasID: ml.hasID, future: fut, cancel: cancel,
		abandon: make(chan struct{}), done: make(chan struct{})}
	ml.move = mv
	cur := ml.log
	m.moves.Add(1)
	go func() {
		defer m.moves.Done()
		defer close(mv.done)
		defer cancel()
		safe.Run(m.logger, "replica log dir move", func() { m.runMove(ctx, ml, cur, mv) })
	}()
}

// abandonMove stops the partition's move, if any, deleting its future log,
// and waits for it.
func (m *Manager) abandonMove(tp TopicPartition) {
	m.mu.Lock()
	var mv *logMove
	if ml, ok := m.logs[tp]; ok {
		mv = ml.abandonMoveLocked()
	}
	m.mu.Unlock()
	if mv != nil {
		<-mv.done
	}
}

// stopMoves stops every move, keeping the future logs for the next start.
func (m *Manager) stopMoves() {
	m.mu.RLock()
	for _, ml := range m.logs {
		if ml.move != nil {
			ml.move.cancel()
		}
	}
	m.mu.RUnlock()
	m.moves.Wait()
}

// abandonMoveLocked tells the move's goroutine, if one runs, to stop and
// delete the future log; the caller holds m.mu and waits on the returned
// move's done after releasing it.
func (ml *managedLog) abandonMoveLocked() *logMove {
	mv := ml.move
	if mv != nil {
		ml.move = nil
		close(mv.abandon)
		mv.cancel()
	}
	return mv
}

func (mv *logMove) futureLog() *Log {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return mv.future
}

func (mv *logMove) setFuture(l *Log) {
	mv.mu.Lock()
	mv.future = l
	mv.mu.Unlock()
}

func (mv *logMove) abandoned() bool {
	select {
	case <-mv.abandon:
		return true
	default:
		return false
	}
}

// runMove copies until the future log has caught up, then swaps it in.
func (m *Manager) runMove(ctx context.Context, ml *managedLog, cur *Log, mv *logMove) {
	logger := m.logFor(mv.tp)
	finish := func() {
		if mv.abandoned() {
			if err := mv.futureLog().Delete(); err != nil {
				logger.Warn().Err(err).Msg("cannot delete abandoned future log")
			}
			logger.Info().Str("log_dir", mv.destDir).Msg("abandoned replica move")
			return
		}
		_ = mv.futureLog().Close()
	}
	for {
		if ctx.Err() != nil {
			finish()
			return
		}
		caughtUp, err := m.copyStep(cur, mv, moveCopyBytes)
		if err == nil && caughtUp {
			err = m.completeMove(cur, mv)
			if err == nil {
				m.mu.Lock()
				ml.logDir = mv.destDir
				if ml.move == mv {
					ml.move = nil
				}
				m.mu.Unlock()
				logger.Info().Str("log_dir", mv.destDir).Str("dir", cur.Dir()).Msg("moved replica to another log dir")
				if err := os.RemoveAll(mv.doomed); err != nil {
					logger.Warn().Err(err).Str("dir", mv.doomed).Msg("cannot remove a moved replica's old directory")
				}
				return
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, context.Canceled):
			finish()
			return
		case errors.Is(err, errSimulatedCrash):
			_ = mv.futureLog().Close()
			return
		case errors.Is(err, ErrClosed) && cur.closed.Load():
			// The partition was deleted or the manager is closing.
			finish()
			return
		}
		logger.Warn().Err(err).Str("log_dir", mv.destDir).Msg("replica move step failed, retrying")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// copyStep brings the future log one read closer to the current log:
// it follows the current log's truncations and log start offset, then
// appends up to maxBytes. caughtUp reports that it reached the current
// log's end as of the read.
func (m *Manager) copyStep(cur *Log, mv *logMove, maxBytes int32) (caughtUp bool, err error) {
	fut := mv.futureLog()
	if err := followTruncation(cur, fut); err != nil {
		return false, err
	}
	leo, curLEO, curLSO := fut.LogEndOffset(), cur.LogEndOffset(), cur.LogStartOffset()
	if leo > curLEO {
		// Truncated below the future log's start.
		return false, m.resetFuture(cur, mv)
	}
	if err := followStart(cur, fut); err != nil {
		return false, err
	}
	if leo == curLEO {
		return true, nil
	}
	data, err := cur.Read(max(leo, curLSO), maxBytes, true, curLEO)
	if errors.Is(err, ErrOffsetOutOfRange) {
		return false, nil // the log start moved on between the loads; again
	}
	if err != nil {
		return false, err
	}
	if len(data) < 8 {
		return false, nil
	}
	if base := int64(binary.BigEndian.Uint64(data)); base < leo {
		// The batch holding the current log's start began before the
		// future log's end, which is then inside a batch: start over.
		return false, m.resetFuture(cur, mv)
	}
	// A batch past the future log's end is a gap: compaction dropped
	// whole batches (AppendReplica takes it, as a follower does), or the
	// current log's start went past the future log's end (retention,
	// DeleteRecords), and when AppendReplica refuses that, start over.
	if _, err = fut.AppendReplica(data); errors.Is(err, ErrOffsetMismatch) {
		return false, m.resetFuture(cur, mv)
	}
	if err == nil {
		err = followStart(cur, fut)
	}
	// Reaching the end the current log had at the read is caught up
	// enough: completeMove copies what came since under the log's lock,
	// as a steady producer never lets the two ends meet outside it.
	return err == nil && NextOffset(data) >= curLEO, err
}

// followStart moves the future log's start up to the current log's once
// the future log reaches it.
func followStart(cur, fut *Log) error {
	lso := cur.LogStartOffset()
	if lso <= fut.LogStartOffset() || lso > fut.LogEndOffset() {
		return nil
	}
	_, err := fut.DeleteRecordsBefore(lso)
	return err
}

// followTruncation cuts the future log where it stops agreeing with the
// current log, by the rule a follower applies to its leader's answer to
// OffsetForLeaderEpoch, since the current log may be a follower that
// truncated. A future log the current one has nothing in common with is
// emptied by truncating to its start, which copyStep then rebuilds.
func followTruncation(cur, fut *Log) error {
	leo := fut.LogEndOffset()
	end := min(leo, cur.LogEndOffset())
	if e := fut.LatestEpoch(); e >= 0 {
		ce, cend := cur.EndOffsetForEpoch(e)
		switch {
		case ce < 0:
			end = fut.LogStartOffset()
		case ce != e:
			_, fend := fut.EndOffsetForEpoch(ce)
			end = min(end, cend, fend)
		default:
			end = min(end, cend)
		}
	}
	if end >= leo {
		return nil
	}
	return fut.TruncateTo(max(end, fut.LogStartOffset()))
}

// resetFuture replaces the future log with an empty one at the current
// log's start.
func (m *Manager) resetFuture(cur *Log, mv *logMove) error {
	old := mv.futureLog()
	path := old.Dir()
	if err := old.Delete(); err != nil {
		return err
	}
	fut, err := m.createFuture(path, mv.tp, cur, mv.topicID, mv.hasID)
	if err != nil {
		return err
	}
	mv.setFuture(fut)
	return nil
}

// completeMove finishes the move under the current log's lock: copy the
// last batches, close the future log, rename the directories and reopen
// the Log on the new one. Readers are kept out only while the segments
// are exchanged. The old directory, renamed to a -delete name, is left
// in mv.doomed for the caller to remove outside the lock. A cleaning of
// the log finishes first (the cleaner works in the log's directory), and
// the cleaner checkpoint moves along, so the moved log is not cleaned
// again from its start.
func (m *Manager) completeMove(cur *Log, mv *logMove) error {
	cur.cleanMu.Lock()
	defer cur.cleanMu.Unlock()
	cur.mu.Lock()
	defer cur.mu.Unlock()
	if cur.closed.Load() {
		return ErrClosed
	}
	if mv.abandoned() {
		return context.Canceled
	}
	// Appends wait on cur.mu, so this ends.
	for {
		if _, err := m.copyStep(cur, mv, moveCopyBytes); err != nil {
			return err
		}
		if cur.LogEndOffset() == mv.futureLog().LogEndOffset() {
			break
		}
	}
	fut := mv.futureLog()
	if fut.LogEndOffset() != cur.LogEndOffset() || fut.LogStartOffset() != cur.LogStartOffset() {
		return fmt.Errorf("storage: future log [%d, %d) does not match current [%d, %d)",
			fut.LogStartOffset(), fut.LogEndOffset(), cur.LogStartOffset(), cur.LogEndOffset())
	}
	if simulateCrash("caught-up") {
		return errSimulatedCrash
	}
	futDir := fut.Dir()
	if off := cur.cleanerOffset.Load(); off >= 0 {
		if err := writeCleanerCheckpoint(futDir, off); err != nil {
			return err
		}
	}
	if err := fut.Close(); err != nil {
		return err
	}
	if simulateCrash("future-closed") {
		return errSimulatedCrash
	}
	oldDir := cur.dir
	final := filepath.Join(mv.destDir, mv.tp.dirName())
	doomed := deletedDirName(oldDir)
	if err := os.Rename(oldDir, doomed); err != nil {
		return m.reopenFuture(mv, futDir, fmt.Errorf("storage: rename current log: %w", err))
	}
	if err := syncDir(filepath.Dir(oldDir)); err != nil {
		return m.undoMove(mv, oldDir, doomed, "", futDir, err)
	}
	if simulateCrash("current-renamed") {
		return errSimulatedCrash
	}
	if err := os.Rename(futDir, final); err != nil {
		return m.undoMove(mv, oldDir, doomed, "", futDir, fmt.Errorf("storage: rename future log: %w", err))
	}
	if err := syncDir(mv.destDir); err != nil {
		return m.undoMove(mv, oldDir, doomed, final, futDir, err)
	}
	if simulateCrash("future-renamed") {
		return errSimulatedCrash
	}
	nl, err := Open(final, cur.Config(), cur.logger)
	if err != nil {
		return m.undoMove(mv, oldDir, doomed, final, futDir, err)
	}
	cur.adopt(nl)
	mv.doomed = doomed
	return nil
}

// adopt takes over the freshly opened nl's state: the same data in
// another directory. l.mu is held.
func (l *Log) adopt(nl *Log) {
	l.segMu.Lock()
	old := l.segments
	l.dir = nl.dir
	l.segments = nl.segments
	l.producers = nl.producers
	l.epochs.set(nl.epochEntries())
	l.epochs.dirty = false
	l.logStartOffset.Store(nl.logStartOffset.Load())
	l.logEndOffset.Store(nl.logEndOffset.Load())
	l.unflushed = 0
	l.lastFlush = nl.lastFlush
	l.segMu.Unlock()
	for _, s := range old {
		_ = s.close()
	}
}

// undoMove puts the directories back after a failed swap and reopens the
// future log, so the move is retried; the current log's files stayed open.
func (m *Manager) undoMove(mv *logMove, oldDir, doomed, final, futDir string, cause error) error {
	if final != "" {
		_ = os.Rename(final, futDir)
	}
	if err := os.Rename(doomed, oldDir); err != nil {
		return errors.Join(cause, fmt.Errorf("storage: restore current log directory: %w", err))
	}
	return m.reopenFuture(mv, futDir, cause)
}

func (m *Manager) reopenFuture(mv *logMove, futDir string, cause error) error {
	old := mv.futureLog()
	fut, err := Open(futDir, old.Config(), old.logger)
	if err != nil {
		return errors.Join(cause, err)
	}
	mv.setFuture(fut)
	return cause
}

// loadFutureLogs resumes the moves found on disk at start (see the top of
// this file).
func (m *Manager) loadFutureLogs() error {
	found := map[TopicPartition][]string{}
	for _, dir := range m.dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("storage: list log dir: %w", err)
		}
		for _, e := range entries {
			if tp, ok := parseFutureDir(e.Name()); ok && e.IsDir() {
				found[tp] = append(found[tp], filepath.Join(dir, e.Name()))
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for tp, paths := range found {
		logger := m.logFor(tp)
		ml, hasCurrent := m.logs[tp]
		if len(paths) > 1 || (hasCurrent && filepath.Dir(paths[0]) == ml.logDir) {
			// Moves to two dirs at once, or to the dir it is in: none
			// can be trusted to be the one wanted; the current log stays.
			for _, p := range paths {
				logger.Warn().Str("dir", p).Msg("removing conflicting future log")
				if err := os.RemoveAll(p); err != nil {
					return fmt.Errorf("storage: remove future log: %w", err)
				}
			}
			continue
		}
		path := paths[0]
		logDir := filepath.Dir(path)
		if !hasCurrent {
			final := filepath.Join(logDir, tp.dirName())
			logger.Info().Str("dir", final).Msg("completing a replica move interrupted after the current log was removed")
			if err := os.Rename(path, final); err != nil {
				return fmt.Errorf("storage: complete replica move: %w", err)
			}
			if err := syncDir(logDir); err != nil {
				return err
			}
			if err := m.openPartition(logDir, tp, final); err != nil {
				return err
			}
			continue
		}
		fut, err := Open(path, ml.log.Config(), logger.With().Bool("future", true).Logger())
		if err != nil {
			return fmt.Errorf("storage: open future log %s: %w", path, err)
		}
		logger.Info().Str("log_dir", logDir).Msg("resuming replica move")
		m.startMove(ml, tp, logDir, fut)
	}
	return nil
}

// openPartition opens the log at path and adds it; m.mu is held or the
// manager is not shared yet.
func (m *Manager) openPartition(logDir string, tp TopicPartition, path string) error {
	l, err := Open(path, m.defaults, m.logFor(tp))
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	ml := &managedLog{log: l, logDir: logDir}
	id, ok, err := readPartitionMetadata(path)
	if err != nil {
		m.logger.Warn().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Msg("ignoring unreadable partition metadata")
	}
	ml.topicID, ml.hasID = id, ok
	m.logs[tp] = ml
	return nil
}

// LogDirInfo describes one log dir for DescribeLogDirs.
type LogDirInfo struct {
	Path        string
	Err         error // the dir cannot be read (KAFKA_STORAGE_ERROR)
	TotalBytes  int64 // of the file system holding it
	UsableBytes int64
	Logs        []LogDirEntry
}

// LogDirEntry is one current or future log in a log dir.
type LogDirEntry struct {
	TopicPartition
	Size         int64 // bytes of its segments
	LogEndOffset int64
	IsFuture     bool
	// CurrentLogEndOffset is, for a future log, the current log's end.
	CurrentLogEndOffset int64
}

// DescribeLogDirs lists every log dir with its logs, sorted.
func (m *Manager) DescribeLogDirs() []LogDirInfo {
	type entry struct {
		dir string
		e   LogDirEntry
		cur *Log
		fut *Log
	}
	m.mu.RLock()
	var all []entry
	for tp, ml := range m.logs {
		all = append(all, entry{dir: ml.logDir, e: LogDirEntry{TopicPartition: tp}, cur: ml.log})
		if mv := ml.move; mv != nil {
			all = append(all, entry{dir: mv.destDir, e: LogDirEntry{TopicPartition: tp, IsFuture: true}, cur: ml.log, fut: mv.futureLog()})
		}
	}
	m.mu.RUnlock()
	out := make([]LogDirInfo, len(m.dirs))
	for i, d := range m.dirs {
		out[i] = LogDirInfo{Path: d}
		out[i].TotalBytes, out[i].UsableBytes, out[i].Err = diskSpace(d)
	}
	for _, a := range all {
		i := slices.Index(m.dirs, a.dir)
		if i < 0 || out[i].Err != nil {
			continue
		}
		l := a.cur
		if a.fut != nil {
			l = a.fut
			a.e.CurrentLogEndOffset = a.cur.LogEndOffset()
		}
		a.e.Size, a.e.LogEndOffset = l.Size(), l.LogEndOffset()
		out[i].Logs = append(out[i].Logs, a.e)
	}
	for i := range out {
		slices.SortFunc(out[i].Logs, func(a, b LogDirEntry) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition) - int(b.Partition)
		})
	}
	return out
}

// LogDir returns the log dir holding the partition's current log.
func (m *Manager) LogDir(tp TopicPartition) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	if !ok {
		return "", false
	}
	return ml.logDir, true
}

// FutureLogDir returns the destination of the partition's running move.
func (m *Manager) FutureLogDir(tp TopicPartition) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ml, ok := m.logs[tp]
	if !ok || ml.move == nil {
		return "", false
	}
	return ml.move.destDir, true
}
