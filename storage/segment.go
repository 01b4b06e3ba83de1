package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// File suffixes of one segment, named by its 20-digit base offset.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

func segmentPath(dir string, baseOffset int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, suffix))
}

// LogSegment is one .log file with its .index and .timeindex.
//
// Concurrency: the log's append lock serializes every writer. Readers load
// size (published after the bytes are written) and never read past it; the
// timestamp pair has its own small lock because readers need it
// consistent.
type LogSegment struct {
	baseOffset int64
	logPath    string // changes only when the cleaner renames a new segment into place
	log        *os.File
	index      *OffsetIndex
	timeIndex  *TimeIndex
	txnIndex   *txnIndex
	size       atomic.Int64

	tsMu                 sync.Mutex
	maxTimestamp         int64 // largest batch maxTimestamp, -1 when none
	offsetOfMaxTimestamp int64 // base offset of the first batch reaching it

	// Writer-only state, guarded by Log.mu.
	nextOffset               int64 // offset after the last batch
	rollingBasedTimestamp    int64 // first batch's maxTimestamp, -1 when empty
	created                  time.Time
	rollJitterMs             int64 // segment.jitter.ms draw: rolls this much before segment.ms
	preallocated             bool  // the file was grown to segment.bytes; trim on becoming inactive
	lastModified             time.Time
	bytesSinceLastIndexEntry int64
	// txnIndexTorn: the .txnindex held bytes that were not valid entries.
	txnIndexTorn bool
	// rebuildTxnIndex asks the producer state replay of Open to rebuild
	// the .txnindex, after recovery or a torn file.
	rebuildTxnIndex bool
}

// openSegment opens (create=false) or creates afresh (create=true) the
// three files of the segment at baseOffset.
func openSegment(dir string, baseOffset int64, cfg Config, create bool, now time.Time) (*LogSegment, error) {
	return openSegmentSuffixed(dir, baseOffset, cfg, create, now, "")
}

// openSegmentSuffixed is openSegment for files whose names carry an extra
// suffix after the usual one (the cleaner's ".cleaned").
func openSegmentSuffixed(dir string, baseOffset int64, cfg Config, create bool, now time.Time, extra string) (*LogSegment, error) {
	flags := os.O_RDWR | os.O_CREATE
	if create {
		flags |= os.O_TRUNC
	}
	path := func(suffix string) string { return segmentPath(dir, baseOffset, suffix) + extra }
	logPath := path(logSuffix)
	f, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open segment: %w", err)
	}
	s := &LogSegment{
		baseOffset:            baseOffset,
		logPath:               logPath,
		log:                   f,
		maxTimestamp:          -1,
		offsetOfMaxTimestamp:  baseOffset,
		nextOffset:            baseOffset,
		rollingBasedTimestamp: -1,
		created:               now,
		rollJitterMs:          cfg.randomSegmentJitter(),
		lastModified:          now,
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("storage: stat segment: %w", err)
	}
	s.size.Store(st.Size())
	if !create {
		s.lastModified = st.ModTime()
	}
	if create {
		// Stale index files of an earlier segment at this offset must not
		// survive into the new one.
		_ = os.Remove(path(indexSuffix))
		_ = os.Remove(path(timeIndexSuffix))
		_ = os.Remove(path(txnIndexSuffix))
	}
	if s.index, err = openOffsetIndex(path(indexSuffix), baseOffset, cfg.SegmentIndexBytes); err != nil {
		_ = f.Close()
		return nil, err
	}
	if s.timeIndex, err = openTimeIndex(path(timeIndexSuffix), baseOffset, cfg.SegmentIndexBytes); err != nil {
		_ = f.Close()
		_ = s.index.file.close()
		return nil, err
	}
	if s.txnIndex, s.txnIndexTorn, err = openTxnIndex(path(txnIndexSuffix), baseOffset); err != nil {
		_ = f.Close()
		_ = s.index.file.close()
		_ = s.timeIndex.file.close()
		return nil, err
	}
	return s, nil
}

// append writes whole, already validated batches at the end of the file and
// indexes them. infos describe the batches within buf.
func (s *LogSegment) append(buf []byte, infos []batchInfo, indexInterval int32, now time.Time) error {
	start := s.size.Load()
	if _, err := s.log.WriteAt(buf, start); err != nil {
		// Leave no partial batch for readers or recovery to trip over.
		_ = s.log.Truncate(start)
		return fmt.Errorf("storage: write segment %d: %w", s.baseOffset, err)
	}
	var firstErr error
	for i := range infos {
		if err := s.track(&infos[i].hdr, start+int64(infos[i].pos), indexInterval); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	s.nextOffset = infos[len(infos)-1].hdr.lastOffset() + 1
	s.lastModified = now
	s.size.Store(start + int64(len(buf)))
	return firstErr
}

// track updates timestamps and sparse indexes for the batch at pos, the
// same way for appends and recovery so both produce identical indexes.
func (s *LogSegment) track(hdr *batchHeader, pos int64, indexInterval int32) error {
	if pos == 0 {
		s.rollingBasedTimestamp = hdr.maxTimestamp
	}
	s.tsMu.Lock()
	if hdr.maxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTimestamp = hdr.maxTimestamp, hdr.baseOffset
	}
	maxTs, maxOff := s.maxTimestamp, s.offsetOfMaxTimestamp
	s.tsMu.Unlock()
	var err error
	if s.bytesSinceLastIndexEntry > int64(indexInterval) {
		// A full index only gets sparser; the next append rolls.
		if !s.index.file.isFull() {
			err = s.index.append(hdr.baseOffset, pos)
		}
		if terr := s.timeIndex.maybeAppend(maxTs, maxOff, false); err == nil {
			err = terr
		}
		s.bytesSinceLastIndexEntry = 0
	}
	s.bytesSinceLastIndexEntry += hdr.size()
	return err
}

func (s *LogSegment) maxTimestampAndOffset() (int64, int64) {
	s.tsMu.Lock()
	defer s.tsMu.Unlock()
	return s.maxTimestamp, s.offsetOfMaxTimestamp
}

// largestTimestamp is what retention.ms compares: the largest record
// timestamp, or the file's modification time when the segment has none.
func (s *LogSegment) largestTimestamp() int64 {
	if ts, _ := s.maxTimestampAndOffset(); ts >= 0 {
		return ts
	}
	return s.lastModified.UnixMilli()
}

// translateOffset finds the batch containing offset, or the first batch
// after it: the index gives a batch start at or before offset, then a scan
// of headers walks forward. found=false means no such batch in the segment.
func (s *LogSegment) translateOffset(offset, size int64) (pos int64, hdr batchHeader, found bool, err error) {
	_, start, err := s.index.lookup(offset)
	if err != nil {
		return 0, hdr, false, err
	}
	if start >= size {
		start = 0
	}
	sc := newBatchScanner(s.log, start, size)
	defer sc.release()
	for sc.next() {
		if sc.hdr.lastOffset() >= offset {
			return sc.hdrPos, sc.hdr, true, nil
		}
	}
	return size, hdr, false, sc.err
}

// readBatch reads the whole batch described by hdr at pos into dst.
func (s *LogSegment) readBatch(pos int64, hdr *batchHeader, dst []byte) ([]byte, error) {
	n := int(hdr.size())
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := s.log.ReadAt(dst, pos); err != nil {
		return nil, fmt.Errorf("storage: read segment %d at %d: %w", s.baseOffset, pos, err)
	}
	return dst, nil
}

// onBecomeInactive writes the final time index entry (the segment's
// largest timestamp, which is what retention and ListOffsets read after a
// restart) and makes everything durable.
func (s *LogSegment) onBecomeInactive() error {
	ts, off := s.maxTimestampAndOffset()
	if err := s.timeIndex.maybeAppend(ts, off, true); err != nil {
		return err
	}
	if s.preallocated {
		// Cut the unused preallocated tail before the fsync, so only an
		// active segment can ever end in zeros.
		if err := s.log.Truncate(s.size.Load()); err != nil {
			return fmt.Errorf("storage: trim preallocated segment %d: %w", s.baseOffset, err)
		}
		s.preallocated = false
	}
	return s.flush()
}

// preallocate grows a new, empty segment's file to n bytes as Kafka's
// preallocate does (RandomAccessFile.setLength: sparse where the file
// system allows). The segment's size stays its content's.
func (s *LogSegment) preallocate(n int64) error {
	if err := s.log.Truncate(n); err != nil {
		return fmt.Errorf("storage: preallocate segment %d: %w", s.baseOffset, err)
	}
	s.preallocated = true
	return nil
}

func (s *LogSegment) flush() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("storage: sync segment %d: %w", s.baseOffset, err)
	}
	if err := s.index.file.sync(); err != nil {
		return err
	}
	if err := s.txnIndex.sync(); err != nil {
		return err
	}
	return s.timeIndex.file.sync()
}

func (s *LogSegment) close() error {
	return errors.Join(s.log.Close(), s.index.file.close(), s.timeIndex.file.close(), s.txnIndex.close())
}

// remove closes and deletes the segment's files.
func (s *LogSegment) remove() error {
	err := s.close()
	for _, p := range s.filePaths() {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("storage: remove %s: %w", p, rerr))
		}
	}
	return err
}

var errTornBatch = errors.New("storage: torn batch header")

// batchScanner walks batch headers through a pooled window so a scan over
// many small batches costs one pread per window rather than one per batch.
// It trusts CRCs were checked on the way in; it only guards lengths.
type batchScanner struct {
	r        io.ReaderAt
	pos, end int64
	win      *[]byte
	winStart int64
	winLen   int

	hdr    batchHeader
	hdrPos int64
	err    error
}

const scanWindow = 16 * 1024

var scanWindows = sync.Pool{New: func() any { b := make([]byte, scanWindow); return &b }}

func newBatchScanner(r io.ReaderAt, pos, end int64) batchScanner {
	return batchScanner{r: r, pos: pos, end: end, win: scanWindows.Get().(*[]byte)}
}

func (sc *batchScanner) release() {
	if sc.win != nil {
		scanWindows.Put(sc.win)
		sc.win = nil
	}
}

// next advances to the next batch header; false at the end or on error.
func (sc *batchScanner) next() bool {
	if sc.err != nil || sc.pos >= sc.end {
		return false
	}
	if sc.end-sc.pos < batchHeaderSize {
		sc.err = fmt.Errorf("%w at position %d", errTornBatch, sc.pos)
		return false
	}
	if sc.pos < sc.winStart || sc.pos+batchHeaderSize > sc.winStart+int64(sc.winLen) {
		buf := *sc.win
		n := int(min(int64(len(buf)), sc.end-sc.pos))
		if _, err := sc.r.ReadAt(buf[:n], sc.pos); err != nil {
			sc.err = fmt.Errorf("storage: read batch header: %w", err)
			return false
		}
		sc.winStart, sc.winLen = sc.pos, n
	}
	off := sc.pos - sc.winStart
	hdr := parseBatchHeader((*sc.win)[off : off+batchHeaderSize])
	if hdr.length < minBatchLength || sc.pos+hdr.size() > sc.end {
		sc.err = fmt.Errorf("%w at position %d: length %d", errTornBatch, sc.pos, hdr.length)
		return false
	}
	sc.hdr, sc.hdrPos = hdr, sc.pos
	sc.pos += hdr.size()
	return true
}
