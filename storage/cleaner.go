package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// cleanerCheckpointFile holds the log's first dirty offset: everything
// below it was cleaned (compacted) at least once. Kafka keeps one
// cleaner-offset-checkpoint per log dir; kafkad keeps one per partition,
// text "0\n<offset>\n" like log-start-offset, so a log carries its own.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// Suffixes of the cleaner's files: a segment being written, then one
// written and waiting to replace the segments it cleaned.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// attrDeleteHorizon is the batch attribute bit of KIP-534: the batch's
// baseTimestamp is the delete horizon, the time after which the cleaner
// removes its tombstones and transaction markers.
const attrDeleteHorizon = 0x40

// errCleaningAborted: the log changed under the cleaner (truncated,
// segments deleted, closed) or the cleaner was stopped; the cleaning is
// dropped and retried later.
var errCleaningAborted = errors.New("storage: cleaning aborted")

// cleanerFault, when set (tests only), is called at each step of a swap;
// an error stops the cleaning there as a crash would.
var cleanerFault func(step string) error

func faultAt(step string) error {
	if cleanerFault == nil {
		return nil
	}
	return cleanerFault(step)
}

// CleanOptions tunes one Log.Clean.
type CleanOptions struct {
	// DedupeBufferSize is the key map's memory in bytes (the share of
	// log.cleaner.dedupe.buffer.size of one cleaner thread); 0 = 128 MiB.
	DedupeBufferSize int64
	// LoadFactor is how full the key map may get
	// (log.cleaner.io.buffer.load.factor); 0 = 0.9.
	LoadFactor float64
	// IOBufferSize is the read chunk; 0 = 256 KiB. Grown for larger batches.
	IOBufferSize int
	// IOMaxBytesPerSecond throttles bytes read plus written; 0 = none.
	IOMaxBytesPerSecond float64

	ctx      context.Context
	throttle func(ctx context.Context, n int) error
	offsets  *offsetMap
}

// CleanStats describes one cleaning.
type CleanStats struct {
	FirstDirtyOffset int64 // where the dirty section started
	// EndOffset is the first offset still dirty afterwards, the new
	// cleaner checkpoint: the first uncleanable offset, or less when
	// the key map filled up.
	EndOffset       int64
	MapBytesRead    int64 // dirty bytes read to build the key map
	BytesRead       int64 // bytes of the segments rewritten
	BytesWritten    int64 // bytes of the cleaned segments
	MessagesRead    int64
	MessagesWritten int64
	Groups          int // cleaned segments written
	// BufferUtilization is the share of the key map used.
	BufferUtilization float64
	Duration          time.Duration
}

// SetHighWatermark tells the log its partition's high watermark: the
// cleaner never cleans past the last stable offset it bounds. A log that
// was never told uses its log end offset.
func (l *Log) SetHighWatermark(hw int64) { l.highWatermark.Store(hw) }

// cleanable is the dirty section of a log, computed under Log.mu.
type cleanable struct {
	firstDirty       int64
	firstUncleanable int64 // a segment base offset
	cleanBytes       int64
	cleanableBytes   int64
	needNow          bool // max.compaction.lag.ms passed for a dirty segment

	segs     []*LogSegment // every segment below the active one
	sizes    []int64
	modified []time.Time
}

func (c *cleanable) ratio() float64 {
	total := c.cleanBytes + c.cleanableBytes
	if total == 0 {
		return 0
	}
	return float64(c.cleanableBytes) / float64(total)
}

// segmentIndexOf returns the index of the segment holding offset in segs
// (the last with base <= offset), or -1.
func segmentIndexOf(segs []*LogSegment, offset int64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset }) - 1
}

// cleanableLocked follows Kafka's LogCleanerManager.cleanableOffsets and
// calculateCleanableBytes. The caller holds l.mu.
func (l *Log) cleanableLocked(now time.Time, cfg Config) cleanable {
	lso, leo := l.logStartOffset.Load(), l.logEndOffset.Load()
	firstDirty := l.cleanerOffset.Load()
	if firstDirty < lso || firstDirty > leo {
		firstDirty = lso
	}
	all := l.segments
	active := all[len(all)-1]
	segs := all[:len(all)-1]
	hw := l.highWatermark.Load()
	if hw < 0 {
		hw = leo
	}
	uncleanable := min(l.LastStableOffset(hw), active.baseOffset)
	nowMs := now.UnixMilli()
	from := max(segmentIndexOf(segs, firstDirty), 0)
	if lag := max(cfg.MinCompactionLagMs, 0); lag > 0 {
		for _, s := range segs[from:] {
			if s.largestTimestamp() > nowMs-lag {
				uncleanable = min(uncleanable, s.baseOffset)
				break
			}
		}
	}
	uncleanable = max(uncleanable, firstDirty)
	c := cleanable{firstDirty: firstDirty, firstUncleanable: active.baseOffset}
	if i := segmentIndexOf(segs, uncleanable); i >= 0 && uncleanable < active.baseOffset {
		c.firstUncleanable = segs[i].baseOffset
	}
	lo := min(firstDirty, c.firstUncleanable)
	for i, s := range segs {
		size := s.size.Load()
		next := active.baseOffset
		if i+1 < len(segs) {
			next = segs[i+1].baseOffset
		}
		if s.baseOffset < firstDirty {
			c.cleanBytes += size
		}
		if s.baseOffset < c.firstUncleanable && next > lo {
			c.cleanableBytes += size
		}
	}
	// max.compaction.lag.ms: a dirty segment whose first batch is older
	// must be cleaned whatever the dirty ratio.
	maxLag := max(cfg.MaxCompactionLagMs, 0)
	for _, s := range segs[from:] {
		if ts := s.rollingBasedTimestamp; ts > 0 && ts < nowMs-maxLag {
			c.needNow = true
			break
		}
	}
	c.segs = slices.Clone(segs)
	c.sizes = make([]int64, len(segs))
	c.modified = make([]time.Time, len(segs))
	for i, s := range segs {
		c.sizes[i] = s.size.Load()
		c.modified[i] = s.lastModified
	}
	return c
}

// cleanableInfo computes the dirty section now, for the cleaner's choice
// of log.
func (l *Log) cleanableInfo(now time.Time) (cleanable, error) {
	cfg := l.cfg.Load().eff
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return cleanable{}, ErrClosed
	}
	return l.cleanableLocked(now, cfg), nil
}

// lastProducerRecord is Kafka's LastRecord: what of a producer the
// cleaner must keep so producer state survives a rebuild from the log.
type lastProducerRecord struct {
	lastDataOffset int64 // last offset of its last batch, -1 when none
	epoch          int16
}

func (l *Log) lastProducerRecordsLocked() map[int64]lastProducerRecord {
	out := make(map[int64]lastProducerRecord, len(l.producers.producers))
	for pid, e := range l.producers.producers {
		out[pid] = lastProducerRecord{lastDataOffset: e.lastOffset(), epoch: e.epoch}
	}
	return out
}

// Clean compacts the log once, as a Kafka cleaner thread does with the
// log it picked: it maps the latest offset of every key in the dirty
// section [first dirty offset, first uncleanable offset), rewrites every
// segment below the end of that map keeping only the latest record of
// each key (and what transactions and producer state need), swaps the
// cleaned segments in and moves the cleaner checkpoint. It cleans
// whatever the dirty ratio; the manager's cleaner threads apply
// min.cleanable.dirty.ratio. now is the time tombstone delete horizons
// and compaction lags are measured against. A log whose cleanup.policy
// lacks compact is refused.
func (l *Log) Clean(now time.Time, opts CleanOptions) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	started := time.Now()
	cfg := l.cfg.Load().eff
	if !cfg.Compact {
		return CleanStats{}, errors.New("storage: clean: cleanup.policy does not include compact")
	}
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return CleanStats{}, ErrClosed
	}
	c := l.cleanableLocked(now, cfg)
	lastRecords := l.lastProducerRecordsLocked()
	l.mu.Unlock()

	stats := CleanStats{FirstDirtyOffset: c.firstDirty, EndOffset: c.firstDirty}
	if c.cleanableBytes == 0 || c.firstUncleanable <= c.firstDirty {
		return stats, nil
	}
	cl := newCleaner(l, cfg, now, &opts, lastRecords)
	if err := cl.buildOffsetMap(&c); err != nil {
		return stats, err
	}
	end := cl.offsets.latest + 1
	if end <= c.firstDirty {
		return stats, fmt.Errorf("storage: clean: key map of %d bytes holds no whole batch; raise log.cleaner.dedupe.buffer.size", opts.DedupeBufferSize)
	}
	cl.stats.BufferUtilization = cl.offsets.utilization()
	var txns txnTracker
	for _, g := range groupSegments(&c, end, cfg) {
		if err := cl.cleanGroup(&c, g, &txns); err != nil {
			return cl.stats, err
		}
		cl.stats.Groups++
	}
	// Under the writer lock, so a truncation racing with the end of this
	// cleaning cannot leave the checkpoint past the new log end.
	l.mu.Lock()
	err := l.setCleanerCheckpoint(min(end, l.logEndOffset.Load()), false)
	l.mu.Unlock()
	if err != nil {
		return cl.stats, err
	}
	cl.stats.EndOffset = end
	cl.stats.Duration = time.Since(started)
	s := &cl.stats
	l.logger.Info().Int64("first_dirty_offset", s.FirstDirtyOffset).Int64("end_offset", end).
		Int64("bytes_before", s.BytesRead).Int64("bytes_after", s.BytesWritten).
		Int64("records_before", s.MessagesRead).Int64("records_after", s.MessagesWritten).
		Int("segments", s.Groups).Float64("key_map_utilization", s.BufferUtilization).
		Dur("duration", s.Duration).Msg("cleaned log")
	return *s, nil
}

// setCleanerCheckpoint records the first dirty offset; onlyLower keeps a
// lower one (truncation). The caller holds l.mu.
func (l *Log) setCleanerCheckpoint(offset int64, onlyLower bool) error {
	if onlyLower {
		if cur := l.cleanerOffset.Load(); cur < 0 || cur <= offset {
			return nil
		}
	}
	if err := writeCleanerCheckpoint(l.dir, offset); err != nil {
		return err
	}
	l.cleanerOffset.Store(offset)
	return nil
}

// writeCleanerCheckpoint stores offset as dir's first dirty offset.
func writeCleanerCheckpoint(dir string, offset int64) error {
	return writeFileAtomic(filepath.Join(dir, cleanerCheckpointFile), fmt.Appendf(nil, "0\n%d\n", offset))
}

// loadCleanerCheckpoint reads the first dirty offset, -1 when unknown.
func loadCleanerCheckpoint(dir string) int64 {
	data, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if err != nil {
		return -1
	}
	off, err := parseLogStartOffset(data)
	if err != nil {
		return -1
	}
	return off
}

// CleanerCheckpoint is the first dirty offset: below it the log was
// cleaned; -1 before the first cleaning.
func (l *Log) CleanerCheckpoint() int64 { return l.cleanerOffset.Load() }

// groupSegments splits the segments below end into runs that fit one
// segment (Kafka's groupSegmentsBySize): at most segment.bytes of log,
// segment.index.bytes of each index, and offsets within MaxInt32 of the
// group's base.
func groupSegments(c *cleanable, end int64, cfg Config) [][]int {
	n := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].baseOffset >= end })
	upper := func(i int) int64 { // the offset after segment i
		if i+1 < len(c.segs) {
			return c.segs[i+1].baseOffset
		}
		return c.firstUncleanable
	}
	maxSize := min(cfg.SegmentBytes, 1<<31-1)
	var groups [][]int
	for i := 0; i < n; {
		g := []int{i}
		size := c.sizes[i]
		idx := c.segs[i].index.file.entries() * offsetIndexEntrySize
		tidx := c.segs[i].timeIndex.file.entries() * timeIndexEntrySize
		for j := i + 1; j < n; j++ {
			s := c.segs[j]
			ni := s.index.file.entries() * offsetIndexEntrySize
			nt := s.timeIndex.file.entries() * timeIndexEntrySize
			if size+c.sizes[j] > maxSize || idx+ni > int64(cfg.SegmentIndexBytes) || tidx+nt > int64(cfg.SegmentIndexBytes) ||
				(c.sizes[j] > 0 && !checkRelative(c.segs[i].baseOffset, upper(j)-1)) {
				break
			}
			g = append(g, j)
			size, idx, tidx = size+c.sizes[j], idx+ni, tidx+nt
		}
		groups = append(groups, g)
		i = g[len(g)-1] + 1
	}
	return groups
}
