package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// leaderEpochCheckpointFile persists the leader epoch cache, in Kafka's
// LeaderEpochCheckpointFile format (see doc.go).
const leaderEpochCheckpointFile = "leader-epoch-checkpoint"

// epochEntry says that leader epoch epoch wrote its first batch at
// startOffset.
type epochEntry struct {
	epoch       int32
	startOffset int64
}

// leaderEpochCache is Kafka's LeaderEpochFileCache: the first offset
// written under each leader epoch, epochs and offsets strictly increasing.
//
// Writers hold Log.mu and change entries under mu as well; they may read
// entries without mu. Readers (EndOffsetForEpoch) hold mu shared. dirty is
// writer-only: set when entries changed and the checkpoint file does not
// have them yet.
type leaderEpochCache struct {
	mu      sync.RWMutex
	entries []epochEntry
	dirty   bool
}

// set replaces the entries; the checkpoint is written by flush.
func (c *leaderEpochCache) set(entries []epochEntry) {
	c.mu.Lock()
	c.entries = entries
	c.mu.Unlock()
	c.dirty = true
}

// flush writes the checkpoint when entries changed since the last write.
func (c *leaderEpochCache) flush(dir string) error {
	if !c.dirty {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(dir, leaderEpochCheckpointFile), encodeEpochCheckpoint(c.entries)); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// epochUpdateNeeded is Kafka's isUpdateNeeded: a new epoch, or an earlier
// start for the latest one.
func epochUpdateNeeded(entries []epochEntry, epoch int32, startOffset int64) bool {
	if len(entries) == 0 {
		return true
	}
	last := entries[len(entries)-1]
	return epoch != last.epoch || startOffset < last.startOffset
}

// assignEpoch appends e, first dropping trailing entries it would make
// non-monotonic (an epoch >= e.epoch or a start >= e.startOffset), as
// Kafka's assign does. dropped reports whether a dropped entry had data
// (started below e.startOffset), which only a log that went back in epochs
// causes.
func assignEpoch(entries []epochEntry, e epochEntry) (out []epochEntry, dropped bool) {
	for len(entries) > 0 {
		last := entries[len(entries)-1]
		if last.epoch < e.epoch && last.startOffset < e.startOffset {
			break
		}
		dropped = dropped || last.startOffset < e.startOffset
		entries = entries[:len(entries)-1]
	}
	return append(entries, e), dropped
}

// epochsTruncatedFromEnd drops the entries starting at or after end.
func epochsTruncatedFromEnd(entries []epochEntry, end int64) []epochEntry {
	n := len(entries)
	for n > 0 && entries[n-1].startOffset >= end {
		n--
	}
	return entries[:n]
}

// epochsTruncatedFromStart is Kafka's truncateFromStart: entries starting
// at or below start are replaced by the last of them, moved to start, so
// the epoch that was current at the new log start keeps its entry.
func epochsTruncatedFromStart(entries []epochEntry, start int64) []epochEntry {
	n := 0
	for n < len(entries) && entries[n].startOffset <= start {
		n++
	}
	if n == 0 || (n == 1 && entries[0].startOffset == start) {
		return entries
	}
	out := make([]epochEntry, 0, len(entries)-n+1)
	out = append(out, epochEntry{epoch: entries[n-1].epoch, startOffset: start})
	return append(out, entries[n:]...)
}

// stageEpochs returns the entries after batches with the given headers
// were appended, and whether they changed. It allocates only when an entry
// is added, so appends within one epoch allocate nothing.
func (l *Log) stageEpochs(infos []batchInfo) ([]epochEntry, bool) {
	cur, changed := l.epochs.entries, false
	for i := range infos {
		h := &infos[i].hdr
		if h.leaderEpoch < 0 || !epochUpdateNeeded(cur, h.leaderEpoch, h.baseOffset) {
			continue
		}
		if !changed {
			cur, changed = slices.Clone(cur), true
		}
		var dropped bool
		cur, dropped = assignEpoch(cur, epochEntry{epoch: h.leaderEpoch, startOffset: h.baseOffset})
		if dropped {
			l.logger.Warn().Int32("epoch", h.leaderEpoch).Int64("offset", h.baseOffset).
				Msg("leader epoch went back; dropped later epoch entries")
		}
	}
	return cur, changed
}

// assignEpochsForAppend records the epochs of batches about to be written
// and makes the checkpoint durable before the batches are: the file must
// cover every batch on disk, while an entry whose batches never made it
// is harmless (Open drops entries at or past the log end). The entries
// become visible to readers before the log end offset moves past them.
func (l *Log) assignEpochsForAppend(infos []batchInfo) error {
	if entries, changed := l.stageEpochs(infos); changed {
		l.epochs.set(entries)
	}
	return l.epochs.flush(l.dir)
}

// truncateEpochsFromStart applies a new log start offset to the cache.
func (l *Log) truncateEpochsFromStart(start int64) error {
	cur := l.epochs.entries
	if next := epochsTruncatedFromStart(cur, start); !slices.Equal(next, cur) {
		l.epochs.set(next)
	}
	return l.epochs.flush(l.dir)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest cached epoch
// at or below epoch, and the start offset of the epoch after it, or the
// log end offset when it is the latest. It returns (-1, -1) (UNDEFINED)
// when epoch is below the first cached epoch or the cache is empty.
//
// Two answers differ from Kafka's LeaderEpochFileCache.endOffsetFor. Below
// the first epoch Kafka answers (epoch, first entry's start offset), where
// this returns UNDEFINED, after which a Kafka follower truncates to its
// high watermark. Above the latest epoch Kafka answers UNDEFINED, where
// this returns the latest epoch and the log end offset: Kafka assigns the
// leader's epoch when it becomes leader, this log only from its first
// batch, so a new leader that has not written yet is asked about epochs
// above its latest and must still answer where its log ends.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.epochs.mu.RLock()
	defer l.epochs.mu.RUnlock()
	entries := l.epochs.entries
	// First entry with a larger epoch; the one before it is the answer.
	i, _ := slices.BinarySearchFunc(entries, epoch, func(e epochEntry, t int32) int {
		if e.epoch <= t {
			return -1
		}
		return 1
	})
	if i == 0 {
		return -1, -1
	}
	if i == len(entries) {
		// Loaded under mu: truncation lowers the log end offset and the
		// entries together, so the pair is consistent.
		return entries[i-1].epoch, l.logEndOffset.Load()
	}
	return entries[i-1].epoch, entries[i].startOffset
}

// LatestEpoch returns the epoch of the newest cached entry, or -1.
func (l *Log) LatestEpoch() int32 {
	l.epochs.mu.RLock()
	defer l.epochs.mu.RUnlock()
	if len(l.epochs.entries) == 0 {
		return -1
	}
	return l.epochs.entries[len(l.epochs.entries)-1].epoch
}

// epochEntries returns a copy of the cache, for tests and debugging.
func (l *Log) epochEntries() []epochEntry {
	l.epochs.mu.RLock()
	defer l.epochs.mu.RUnlock()
	return append([]epochEntry{}, l.epochs.entries...)
}

// encodeEpochCheckpoint writes "0\n<count>\n" then "<epoch> <startOffset>\n"
// per entry.
func encodeEpochCheckpoint(entries []epochEntry) []byte {
	b := fmt.Appendf(nil, "0\n%d\n", len(entries))
	for _, e := range entries {
		b = fmt.Appendf(b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b
}

var errBadEpochCheckpoint = errors.New("storage: malformed " + leaderEpochCheckpointFile)

// parseEpochCheckpoint parses the checkpoint and checks the entries are
// strictly increasing in both fields, as the cache keeps them.
func parseEpochCheckpoint(data []byte) ([]epochEntry, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("%w: %d lines", errBadEpochCheckpoint, len(lines))
	}
	lines = lines[:len(lines)-1]
	if lines[0] != "0" {
		return nil, fmt.Errorf("%w: version %q", errBadEpochCheckpoint, lines[0])
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count != len(lines)-2 {
		return nil, fmt.Errorf("%w: count %q with %d entries", errBadEpochCheckpoint, lines[1], len(lines)-2)
	}
	entries := make([]epochEntry, 0, count)
	for _, line := range lines[2:] {
		epochStr, offStr, ok := strings.Cut(line, " ")
		epoch, err1 := strconv.ParseInt(epochStr, 10, 32)
		off, err2 := strconv.ParseInt(offStr, 10, 64)
		if !ok || err1 != nil || err2 != nil || epoch < 0 || off < 0 {
			return nil, fmt.Errorf("%w: entry %q", errBadEpochCheckpoint, line)
		}
		e := epochEntry{epoch: int32(epoch), startOffset: off}
		if n := len(entries); n > 0 && (e.epoch <= entries[n-1].epoch || e.startOffset <= entries[n-1].startOffset) {
			return nil, fmt.Errorf("%w: entry %q not after %d %d", errBadEpochCheckpoint, line, entries[n-1].epoch, entries[n-1].startOffset)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readEpochCheckpoint returns ok=false when the file does not exist.
func readEpochCheckpoint(dir string) ([]epochEntry, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, leaderEpochCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: read %s: %w", leaderEpochCheckpointFile, err)
	}
	entries, err := parseEpochCheckpoint(data)
	if err != nil {
		return nil, false, err
	}
	return entries, true, nil
}

// loadEpochs finishes the cache on Open, once the segments and the log
// start and end offsets are known. fromFile is what the checkpoint held
// (ok=false: missing or unreadable, so every segment's batch headers are
// scanned instead). Entries past the log end (their batches were lost in
// a crash) or below the log start are trimmed, and the file rewritten if
// that changed anything.
func (l *Log) loadEpochs(fromFile []epochEntry, ok bool, start, end int64) error {
	entries := l.epochs.entries
	if !ok {
		entries = nil
		var scanned int64
		for _, s := range l.segments {
			scanned += s.size.Load()
			sc := newBatchScanner(s.log, 0, s.size.Load())
			for sc.next() {
				if h := &sc.hdr; h.leaderEpoch >= 0 && epochUpdateNeeded(entries, h.leaderEpoch, h.baseOffset) {
					entries, _ = assignEpoch(entries, epochEntry{epoch: h.leaderEpoch, startOffset: h.baseOffset})
				}
			}
			sc.release()
			if sc.err != nil {
				return sc.err
			}
		}
		if scanned > 0 {
			l.logger.Info().Int("entries", len(entries)).Int64("bytes", scanned).Msg("rebuilt leader epoch cache from segments")
		}
	}
	entries = epochsTruncatedFromStart(epochsTruncatedFromEnd(entries, end), start)
	l.epochs.entries = entries
	if !ok || !slices.Equal(entries, fromFile) {
		l.epochs.dirty = true
	}
	return l.epochs.flush(l.dir)
}

// recoveredBatch folds a batch that crash recovery read back into the
// cache. Like Kafka it only adds epochs newer than the latest one: the
// checkpoint may already hold later entries for segments not rescanned.
func (c *leaderEpochCache) recoveredBatch(h *batchHeader) {
	if h.leaderEpoch < 0 {
		return
	}
	if n := len(c.entries); n > 0 && h.leaderEpoch <= c.entries[n-1].epoch {
		return
	}
	c.entries, _ = assignEpoch(c.entries, epochEntry{epoch: h.leaderEpoch, startOffset: h.baseOffset})
}
