package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Log is one partition's log: a sequence of segments, the last of which
// (the active segment) takes appends.
//
// Locking: mu serializes every writer (Append, AppendReplica, TruncateTo,
// roll, retention, DeleteRecordsBefore, Flush, Close) and guards producer
// state and the writer-only fields of segments. segMu guards the segments
// slice; readers hold it shared for as long as they touch segment files,
// so a writer deleting, closing or truncating a segment (exclusive segMu)
// can never pull bytes from under a pread. The leader epoch cache has its
// own lock for EndOffsetForEpoch. Lock order: cleanMu (held by a cleaning
// throughout; it takes mu only briefly, to snapshot and to swap), mu, then
// segMu, then the epoch cache's, a segment's or an index's own lock.
//
// Publication: Append writes the bytes, then stores the segment size, then
// the log end offset. A reader loads the log end offset first, so any
// batch it is allowed to return is already fully on the file. Epoch cache
// entries are published before the log end offset moves past them.
type Log struct {
	dir    string
	logger zerolog.Logger
	cfg    atomic.Pointer[logConfig]

	mu        sync.Mutex
	producers *ProducerStateManager
	validator validator
	infos     []batchInfo
	unflushed int64 // records appended since the last fsync
	lastFlush time.Time
	epochs    leaderEpochCache
	retired   []retiredSegment // files waiting for file.delete.delay.ms

	segMu    sync.RWMutex
	segments []*LogSegment // ascending base offsets; never empty while open

	closed         atomic.Bool
	logEndOffset   atomic.Int64
	logStartOffset atomic.Int64

	// Log cleaner (cleaner.go): cleanMu serializes cleanings of this log;
	// cleanerOffset is the first dirty offset (-1 before the first
	// cleaning), highWatermark what the partition last said (-1: never).
	cleanMu       sync.Mutex
	cleanerOffset atomic.Int64
	highWatermark atomic.Int64
}

// logConfig keeps the Config as the caller set it (returned by Config) and
// the sanitized copy the log runs with.
type logConfig struct {
	user, eff Config
}

// AppendOptions carries what the broker knows about an append.
type AppendOptions struct {
	LeaderEpoch int32     // written into every batch's partitionLeaderEpoch
	Now         time.Time // for LogAppendTime and time-based roll; zero = time.Now()
}

// AppendResult describes a successful (or duplicate) append.
type AppendResult struct {
	BaseOffset     int64 // offset of the first record (for a duplicate, the original one)
	LastOffset     int64
	LogAppendTime  int64 // ms, or -1 when the log uses CreateTime
	LogStartOffset int64
	Duplicate      bool // a retry of a batch already in the log; nothing was written
	NumRecords     int64
}

// Open opens the log in dir, creating the directory if needed, recovering
// segments after an unclean shutdown and loading producer state.
func Open(dir string, cfg Config, logger zerolog.Logger) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create log dir: %w", err)
	}
	l := &Log{dir: dir, logger: logger, producers: newProducerStateManager()}
	l.highWatermark.Store(-1)
	l.cleanerOffset.Store(loadCleanerCheckpoint(dir))
	l.SetConfig(cfg)
	now := time.Now()
	if err := l.load(now); err != nil {
		for _, s := range l.segments {
			_ = s.close()
		}
		return nil, err
	}
	l.lastFlush = now
	return l, nil
}

// Dir returns the partition directory. It changes when a move to another
// log dir completes (under mu and segMu).
func (l *Log) Dir() string {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	return l.dir
}

// SetConfig applies a changed topic config to future appends, rolls and
// retention checks.
func (l *Log) SetConfig(cfg Config) {
	l.cfg.Store(&logConfig{user: cfg, eff: cfg.normalized()})
}

// Config returns the config as last set.
func (l *Log) Config() Config { return l.cfg.Load().user }

// LogStartOffset is the first offset a consumer may fetch.
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// LogEndOffset is the offset the next record will get.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// Size is the byte size of all segment files.
func (l *Log) Size() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// Append validates every batch in records, checks idempotent-producer
// state, assigns offsets in place and appends the batches to the active
// segment. A transactional batch opens its producer's transaction (or
// continues it); a non-transactional one during a transaction is
// ErrInvalidTxnState, and a control batch is ErrInvalidRecord (markers
// come through AppendMarker). Nothing is written unless every batch is
// valid. records is
// modified (offsets, leader epoch, timestamps) and must not be reused by
// the caller.
func (l *Log) Append(records []byte, opts AppendOptions) (AppendResult, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	cfg := l.cfg.Load().eff

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return AppendResult{}, ErrClosed
	}

	infos, records, buf, err := l.validateAll(records, cfg, now.UnixMilli())
	defer putAppendBuf(buf)
	if err != nil {
		return AppendResult{}, err
	}
	if int64(len(records)) > cfg.SegmentBytes {
		return AppendResult{}, fmt.Errorf("%w: %d bytes of batches exceed segment.bytes %d", ErrRecordListTooLarge, len(records), cfg.SegmentBytes)
	}

	leo := l.logEndOffset.Load()
	appendTime := int64(-1)
	if cfg.TimestampType == LogAppendTime {
		appendTime = now.UnixMilli()
	}

	// Idempotence checks run on a pending copy so a rejection leaves the
	// producer state untouched.
	var pending pendingProducer
	if pid := infos[0].hdr.producerID; pid >= 0 {
		pending = l.producers.begin(pid)
		next := leo
		for i := range infos {
			h := &infos[i].hdr
			if md, dup := pending.duplicateOf(h); dup {
				return AppendResult{
					BaseOffset:     md.firstOffset,
					LastOffset:     md.lastOffset,
					LogAppendTime:  appendTimeOf(appendTime, md.maxTimestamp),
					LogStartOffset: l.logStartOffset.Load(),
					Duplicate:      true,
					NumRecords:     md.lastOffset - md.firstOffset + 1,
				}, nil
			}
			ts := infos[i].maxTimestamp
			if appendTime >= 0 {
				ts = appendTime
			}
			if err := pending.check(h, next, ts); err != nil {
				return AppendResult{}, err
			}
			next += int64(h.lastOffsetDelta) + 1
		}
	}

	// Assign offsets. baseOffset and the leader epoch sit outside the CRC;
	// a timestamp rewrite does not.
	next := leo
	var maxIncomingTs int64 = -1
	for i := range infos {
		in := &infos[i]
		b := records[in.pos : in.pos+in.size]
		binary.BigEndian.PutUint64(b, uint64(next))
		binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(opts.LeaderEpoch))
		switch {
		case appendTime >= 0:
			setMaxTimestamp(b, appendTime, true)
		case in.hdr.maxTimestamp != in.maxTimestamp || in.hdr.logAppendTime():
			setMaxTimestamp(b, in.maxTimestamp, false)
		}
		in.hdr = parseBatchHeader(b)
		next = in.hdr.lastOffset() + 1
		maxIncomingTs = max(maxIncomingTs, in.hdr.maxTimestamp)
	}

	if err := l.writeBatches(records, infos, next, maxIncomingTs, now, cfg); err != nil {
		return AppendResult{}, err
	}
	l.producers.commit(&pending)
	l.logEndOffset.Store(next)
	if err := l.maybeFlushByCount(next-leo, now, cfg); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{
		BaseOffset:     leo,
		LastOffset:     next - 1,
		LogAppendTime:  appendTime,
		LogStartOffset: l.logStartOffset.Load(),
		NumRecords:     next - leo,
	}, nil
}

// writeBatches is the common tail of Append and AppendReplica: record
// the batches' leader epochs, roll if needed and write them to the active
// segment. next is the offset after the last batch. The caller publishes
// the new log end offset.
func (l *Log) writeBatches(records []byte, infos []batchInfo, next, maxIncomingTs int64, now time.Time, cfg Config) error {
	if err := l.assignEpochsForAppend(infos); err != nil {
		return err
	}
	if err := l.maybeRollForAppend(int64(len(records)), next-1, maxIncomingTs, now, cfg); err != nil {
		return err
	}
	seg := l.activeSegment()
	before := seg.size.Load()
	if err := seg.append(records, infos, cfg.IndexIntervalBytes, now); err != nil {
		if seg.size.Load() == before {
			return err
		}
		// The batches are on disk and readable; only an index entry is
		// missing, which costs a longer scan and is rebuilt on recovery.
		l.logger.Error().Err(err).Int64("offset", infos[0].hdr.baseOffset).Msg("index update failed after append")
	}
	return nil
}

// maybeFlushByCount applies flush.messages after n records were appended.
func (l *Log) maybeFlushByCount(n int64, now time.Time, cfg Config) error {
	l.unflushed += n
	if l.unflushed >= cfg.FlushMessages {
		return l.flushLocked(now)
	}
	return nil
}

func appendTimeOf(appendTime, batchTs int64) int64 {
	if appendTime < 0 {
		return -1
	}
	return batchTs
}

// validateAll validates each batch of an append and the rules spanning
// batches, at the leader's clock now (ms). When compression.type names a
// codec, batches compressed otherwise are recompressed with it, as
// Kafka's LogValidator does: the batches to append are then the returned
// records, built in the pooled buf the caller releases with putAppendBuf
// once they are written (buf is nil when records is the caller's own).
// The returned slice of infos is reused by the next call.
func (l *Log) validateAll(records []byte, cfg Config, now int64) (infos []batchInfo, out []byte, buf *[]byte, err error) {
	infos = l.infos[:0]
	defer func() { l.infos = infos[:0] }()
	rules := newRecordRules(&cfg, now)
	target, recompress := cfg.Compression.target()
	for pos := 0; pos < len(records); {
		info, raw, err := l.validator.validate(records[pos:], &rules)
		if err != nil {
			return nil, nil, buf, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		// Markers come from the transaction coordinator through
		// AppendMarker, never from clients; Kafka answers INVALID_RECORD.
		if info.hdr.isControl() {
			return nil, nil, buf, fmt.Errorf("batch at byte %d: %w: control batch from a client", pos, ErrInvalidRecord)
		}
		if info.hdr.isTransactional() && !info.hdr.hasProducerID() {
			return nil, nil, buf, fmt.Errorf("batch at byte %d: %w: transactional batch without a producer id", pos, ErrInvalidRecord)
		}
		batch := records[pos : pos+info.size]
		info.pos = pos
		if recompress && info.hdr.codec() != target && buf == nil {
			// The first batch to recompress: the ones before it are
			// copied as they are.
			buf = getAppendBuf()
			*buf = append((*buf)[:0], records[:pos]...)
		}
		if buf != nil {
			info.pos = len(*buf)
			if info.hdr.codec() == target {
				*buf = append(*buf, batch...)
			} else if *buf, err = recompressBatch(*buf, batch, raw, target, cfg.level(target)); err != nil {
				return nil, nil, buf, err
			}
			info.size = len(*buf) - info.pos
			info.hdr = parseBatchHeader((*buf)[info.pos:])
			if info.size > int(cfg.MaxMessageBytes) {
				return nil, nil, buf, fmt.Errorf("batch at byte %d: %w: %d bytes once compressed with %s exceed max.message.bytes %d",
					pos, ErrMessageTooLarge, info.size, target, cfg.MaxMessageBytes)
			}
		}
		infos = append(infos, info)
		pos += len(batch)
	}
	if len(infos) == 0 {
		return nil, nil, buf, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	pid := max(infos[0].hdr.producerID, -1)
	for i := 1; i < len(infos); i++ {
		if max(infos[i].hdr.producerID, -1) != pid {
			return nil, nil, buf, fmt.Errorf("%w: producer ids %d and %d in one append", ErrInvalidRecord, pid, infos[i].hdr.producerID)
		}
	}
	if buf != nil {
		return infos, *buf, buf, nil
	}
	return infos, records, nil, nil
}

func (l *Log) activeSegment() *LogSegment {
	// Only writers (holding mu) call this, and only writers change the
	// slice, so no segMu is needed.
	return l.segments[len(l.segments)-1]
}

// Read returns whole batches starting with the one containing offset, as
// stored, up to maxBytes (or one whole batch when minOne and nothing fits),
// never including a batch whose base offset is >= upTo.
func (l *Log) Read(offset int64, maxBytes int32, minOne bool, upTo int64) ([]byte, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	leo := l.logEndOffset.Load()
	lso := l.logStartOffset.Load()
	if offset < lso || offset > leo {
		return nil, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, lso, leo)
	}
	upTo = min(upTo, leo)
	if offset >= upTo || (maxBytes <= 0 && !minOne) {
		return nil, nil
	}
	budget := int64(max(maxBytes, 0))

	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset }) - 1
	i = max(i, 0)
	var out []byte
	for first := true; i < len(l.segments); i, first = i+1, false {
		s := l.segments[i]
		size := s.size.Load()
		var pos int64
		if first {
			p, _, found, err := s.translateOffset(offset, size)
			if err != nil {
				return nil, err
			}
			if !found {
				continue
			}
			pos = p
		}
		if pos >= size {
			continue
		}
		n := min(size-pos, budget-int64(len(out)))
		if len(out) == 0 && minOne {
			// KIP-74: the first batch is returned whole even when it
			// alone is larger than maxBytes.
			var hdr [logOverhead]byte
			if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
				return nil, fmt.Errorf("storage: read: %w", err)
			}
			n = max(n, logOverhead+int64(int32(binary.BigEndian.Uint32(hdr[offLength:]))))
			n = min(n, size-pos)
		}
		if n <= 0 {
			break
		}
		start := len(out)
		out = growBytes(out, int(n))
		if _, err := s.log.ReadAt(out[start:start+int(n)], pos); err != nil {
			return nil, fmt.Errorf("storage: read segment %d: %w", s.baseOffset, err)
		}
		out = out[:start+int(n)]
		// Trim to whole batches below upTo.
		keep, stop := wholeBatches(out[start:], upTo)
		out = out[:start+keep]
		if stop || pos+n < size {
			break
		}
	}
	return out, nil
}

// wholeBatches returns how many leading bytes of b are complete batches
// with base offset < upTo, and whether reading should stop there.
func wholeBatches(b []byte, upTo int64) (int, bool) {
	pos := 0
	for pos+logOverhead <= len(b) {
		base := int64(binary.BigEndian.Uint64(b[pos:]))
		size := logOverhead + int(int32(binary.BigEndian.Uint32(b[pos+offLength:])))
		if base >= upTo {
			return pos, true
		}
		if size < batchHeaderSize || pos+size > len(b) {
			return pos, true
		}
		pos += size
	}
	return pos, pos != len(b)
}

func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// Flush fsyncs the active segment.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return l.flushLocked(time.Now())
}

func (l *Log) flushLocked(now time.Time) error {
	if err := l.activeSegment().flush(); err != nil {
		return err
	}
	l.unflushed = 0
	l.lastFlush = now
	return nil
}

// maybeFlushByTime applies flush.ms; the manager calls it periodically.
func (l *Log) maybeFlushByTime(now time.Time) error {
	cfg := l.cfg.Load().eff
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() || l.unflushed == 0 || now.Sub(l.lastFlush).Milliseconds() < cfg.FlushMs {
		return nil
	}
	return l.flushLocked(now)
}

// Close flushes, writes the producer-state snapshot at the log end offset
// and a clean-shutdown marker so the next Open can skip recovery.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil
	}
	var errs []error
	if err := l.activeSegment().onBecomeInactive(); err != nil {
		errs = append(errs, err)
	}
	if err := writeSnapshot(l.dir, l.logEndOffset.Load(), l.producers, l.activeSegment().baseOffset); err != nil {
		errs = append(errs, err)
	}
	if err := l.epochs.flush(l.dir); err != nil {
		errs = append(errs, err)
	}
	l.segMu.Lock()
	l.closed.Store(true)
	for _, s := range l.segments {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	l.segments = nil
	l.segMu.Unlock()
	if len(errs) == 0 {
		// Only a fully flushed log may skip recovery next time.
		if err := writeFileAtomic(cleanShutdownPath(l.dir), nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	cerr := l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return errors.Join(cerr, fmt.Errorf("storage: remove log dir: %w", err))
	}
	return nil
}

// checkRelative reports whether offset fits the int32 relative offsets of
// a segment's indexes.
func checkRelative(base, offset int64) bool {
	return offset-base <= math.MaxInt32
}
