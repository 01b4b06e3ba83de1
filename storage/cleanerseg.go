package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"
	"time"

	"github.com/kafkad/kafkad/storage/codec"
)

// cleaner is one cleaning of one log: the key map, buffers and stats.
type cleaner struct {
	log         *Log
	cfg         Config
	now         time.Time
	nowMs       int64
	opts        *CleanOptions
	ctx         context.Context
	offsets     *offsetMap
	lastRecords map[int64]lastProducerRecord
	stats       CleanStats

	readBuf []byte
	scratch []byte // decompressed records
	kept    []keptRecord
	recs    []byte // records of a rebuilt batch
	comp    []byte // compressed records
	built   []byte // a rebuilt batch
	out     []byte // batches waiting to be written to the cleaned segment
	infos   []batchInfo
}

type keptRecord struct {
	start, body, end int // length varint, attributes, end
	tsDeltaEnd       int
	timestamp        int64
}

func newCleaner(l *Log, cfg Config, now time.Time, opts *CleanOptions, lastRecords map[int64]lastProducerRecord) *cleaner {
	if opts.DedupeBufferSize <= 0 {
		opts.DedupeBufferSize = DefaultCleanerConfig().DedupeBufferSize
	}
	if opts.LoadFactor <= 0 {
		opts.LoadFactor = DefaultCleanerConfig().IOBufferLoadFactor
	}
	if opts.IOBufferSize <= 0 {
		opts.IOBufferSize = 256 * 1024
	}
	opts.IOBufferSize = max(opts.IOBufferSize, 4096)
	ctx := opts.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.throttle == nil && opts.IOMaxBytesPerSecond > 0 {
		var t throttler
		rate := opts.IOMaxBytesPerSecond
		opts.throttle = func(ctx context.Context, n int) error { return t.throttle(ctx, rate, n) }
	}
	offsets := opts.offsets
	if offsets == nil {
		offsets = newOffsetMap()
	}
	offsets.reset(opts.DedupeBufferSize, opts.LoadFactor)
	return &cleaner{log: l, cfg: cfg, now: now, nowMs: now.UnixMilli(), opts: opts, ctx: ctx,
		offsets: offsets, lastRecords: lastRecords, readBuf: make([]byte, opts.IOBufferSize)}
}

func (c *cleaner) throttle(n int) error {
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", errCleaningAborted, err)
	}
	if c.opts.throttle == nil {
		return nil
	}
	return c.opts.throttle(c.ctx, n)
}

// segmentReader walks the batches of one segment in chunks of the read
// buffer. Each chunk is read under the log's shared segment lock after
// checking the segment is still in the log, so a segment deleted or
// closed meanwhile (retention, truncation, Close) aborts the cleaning
// instead of reading a closed file.
type segmentReader struct {
	c        *cleaner
	s        *LogSegment
	pos, end int64 // file position of buf[off], end of the data to read
	off, n   int
}

func (c *cleaner) newSegmentReader(s *LogSegment, pos, end int64) segmentReader {
	return segmentReader{c: c, s: s, pos: pos, end: end}
}

// next returns the next whole batch (valid until the next call), nil at
// the end.
func (r *segmentReader) next() ([]byte, batchHeader, error) {
	if r.pos >= r.end {
		return nil, batchHeader{}, nil
	}
	need := batchHeaderSize
	if r.n-r.off >= batchHeaderSize {
		h := parseBatchHeader(r.c.readBuf[r.off:])
		if h.length < minBatchLength {
			return nil, h, fmt.Errorf("%w at position %d of segment %d", errTornBatch, r.pos, r.s.baseOffset)
		}
		need = int(h.size())
		if r.n-r.off >= need {
			b := r.c.readBuf[r.off : r.off+need]
			r.off += need
			r.pos += int64(need)
			return b, h, nil
		}
	}
	if int64(need) > r.end-r.pos {
		return nil, batchHeader{}, fmt.Errorf("%w at position %d of segment %d", errTornBatch, r.pos, r.s.baseOffset)
	}
	if need > len(r.c.readBuf) {
		r.c.readBuf = make([]byte, need)
	}
	n := int(min(int64(len(r.c.readBuf)), r.end-r.pos))
	if err := r.c.log.readSegmentAt(r.s, r.c.readBuf[:n], r.pos); err != nil {
		return nil, batchHeader{}, err
	}
	if err := r.c.throttle(n); err != nil {
		return nil, batchHeader{}, err
	}
	r.off, r.n = 0, n
	return r.next()
}

// hasSegment reports whether s is still one of the open log's segments;
// the caller holds segMu.
func (l *Log) hasSegment(s *LogSegment) bool {
	i := segmentIndexOf(l.segments, s.baseOffset)
	return !l.closed.Load() && i >= 0 && l.segments[i] == s
}

// lookupInSegment is s.index.lookup(offset)'s position, if s is still in
// the log.
func (l *Log) lookupInSegment(s *LogSegment, offset int64) (int64, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if !l.hasSegment(s) {
		return 0, errCleaningAborted
	}
	_, pos, err := s.index.lookup(offset)
	return pos, err
}

// readSegmentAt reads len(buf) bytes of s at pos if s is still one of the
// log's segments.
func (l *Log) readSegmentAt(s *LogSegment, buf []byte, pos int64) error {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if !l.hasSegment(s) {
		return errCleaningAborted
	}
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return fmt.Errorf("storage: clean: read segment %d: %w", s.baseOffset, err)
	}
	return nil
}

// records returns the records section of batch, decompressed.
func (c *cleaner) records(batch []byte, h *batchHeader) ([]byte, error) {
	recs := batch[batchHeaderSize:]
	if h.codec() == codec.None {
		return recs, nil
	}
	var err error
	c.scratch, err = codec.Decompress(h.codec(), recs, c.scratch[:0])
	if err != nil {
		return nil, fmt.Errorf("storage: clean: batch at offset %d: %w", h.baseOffset, err)
	}
	return c.scratch, nil
}

// cleanRecord is what the cleaner reads of one record.
type cleanRecord struct {
	start, body, tsDeltaEnd, end int
	timestampDelta               int64
	offsetDelta                  int64
	key                          []byte
	hasKey, hasValue             bool
}

// parseCleanRecord reads the record at pos of a records section.
func parseCleanRecord(data []byte, pos int) (cleanRecord, error) {
	r := cleanRecord{start: pos}
	length, n := binary.Varint(data[pos:])
	if n <= 0 || length < 1 || length > int64(len(data)-pos-n) {
		return r, errRecordLength
	}
	r.body = pos + n
	r.end = r.body + int(length)
	rec := data[:r.end]
	p := r.body + 1 // attributes
	var ok bool
	if r.timestampDelta, p, ok = varlong(rec, p); !ok {
		return r, errBadVarint
	}
	r.tsDeltaEnd = p
	if r.offsetDelta, p, ok = varint32(rec, p); !ok {
		return r, errBadVarint
	}
	kl, p, ok := varint32(rec, p)
	if !ok || kl < -1 || kl > int64(len(rec)-p) {
		return r, errFieldLength
	}
	if kl >= 0 {
		r.key, r.hasKey = rec[p:p+int(kl)], true
		p += int(kl)
	}
	vl, _, ok := varint32(rec, p)
	if !ok || vl < -1 {
		return r, errFieldLength
	}
	r.hasValue = vl >= 0
	return r, nil
}

// buildOffsetMap maps the keys of the dirty section (Kafka's
// buildOffsetMap): records of aborted transactions are skipped, and
// mapping stops at the last whole batch before the map fills.
func (c *cleaner) buildOffsetMap(cl *cleanable) error {
	m := c.offsets
	start, end := cl.firstDirty, cl.firstUncleanable
	aborted, err := c.log.AbortedTransactions(start, end)
	if err != nil {
		return err
	}
	var txns txnTracker
	txns.add(aborted)
	for i, s := range cl.segs {
		next := end
		if i+1 < len(cl.segs) {
			next = min(next, cl.segs[i+1].baseOffset)
		}
		if s.baseOffset >= end || next <= start {
			continue
		}
		pos := int64(0)
		if s.baseOffset < start {
			if pos, err = c.log.lookupInSegment(s, start); err != nil {
				return err
			}
		}
		r := c.newSegmentReader(s, pos, cl.sizes[i])
		for {
			batch, h, err := r.next()
			if err != nil {
				return err
			}
			if batch == nil {
				break
			}
			c.stats.MapBytesRead += int64(len(batch))
			if h.isControl() {
				txns.onControl(batch, &h, &c.scratch, nil)
			} else if !txns.onBatch(&h) {
				recs, err := c.records(batch, &h)
				if err != nil {
					return err
				}
				for p, k := 0, int32(0); k < h.recordCount && p < len(recs); k++ {
					rec, err := parseCleanRecord(recs, p)
					if err != nil {
						return fmt.Errorf("storage: clean: batch at offset %d record %d: %w", h.baseOffset, k, err)
					}
					p = rec.end
					off := h.baseOffset + rec.offsetDelta
					if !rec.hasKey || off < start {
						continue
					}
					if m.full() {
						return nil
					}
					m.put(rec.key, off)
				}
			}
			if h.lastOffset() >= start {
				m.latest = max(m.latest, h.lastOffset())
			}
		}
		// Offsets of a gap at the segment's end are mapped too.
		m.latest = max(m.latest, next-1)
	}
	return nil
}

// cleanGroup rewrites the segments g of cl into one .cleaned segment and
// swaps it in (Kafka's cleanSegments). txns carries transaction state
// from group to group: a transaction may span them.
func (c *cleaner) cleanGroup(cl *cleanable, g []int, txns *txnTracker) error {
	l := c.log
	first, last := cl.segs[g[0]], g[len(g)-1]
	upper := cl.firstUncleanable
	if last+1 < len(cl.segs) {
		upper = cl.segs[last+1].baseOffset
	}
	cleaned, err := openSegmentSuffixed(l.dir, first.baseOffset, c.cfg, true, c.now, cleanedSuffix)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = cleaned.remove()
		}
	}()
	txns.out = cleaned.txnIndex
	var lastHdr batchHeader
	lastEmitted := true
	for k, i := range g {
		s := cl.segs[i]
		segUpper := upper
		if k+1 < len(g) {
			segUpper = cl.segs[g[k+1]].baseOffset
		}
		aborted, err := l.AbortedTransactions(s.baseOffset, segUpper)
		if err != nil {
			return err
		}
		txns.add(aborted)
		r := c.newSegmentReader(s, 0, cl.sizes[i])
		for {
			batch, h, err := r.next()
			if err != nil {
				return err
			}
			if batch == nil {
				break
			}
			c.stats.BytesRead += int64(len(batch))
			emitted, err := c.filterBatch(batch, &h, txns)
			if err != nil {
				return err
			}
			lastHdr, lastEmitted = h, emitted
			if len(c.out) >= c.opts.IOBufferSize {
				if err := c.flushOut(cleaned); err != nil {
					return err
				}
			}
		}
	}
	if !lastEmitted {
		// The group's last batch stays, if only as an empty header, so the
		// cleaned segment ends where the old ones did: recovery of an
		// interrupted swap finds the segments it replaces by that range.
		c.built = appendEmptyBatch(c.built[:0], &lastHdr)
		c.emit(c.built)
	}
	if err := c.flushOut(cleaned); err != nil {
		return err
	}
	cleaned.nextOffset = upper
	if err := cleaned.onBecomeInactive(); err != nil {
		return err
	}
	// Unlike other segments, a cleaned one always has a .txnindex file,
	// empty or not: recovery of an interrupted swap tells the new index
	// from the old one by its .swap name.
	if cleaned.txnIndex.f == nil {
		if err := os.WriteFile(cleaned.txnIndex.path, nil, 0o644); err != nil {
			return fmt.Errorf("storage: clean: %w", err)
		}
	}
	// The cleaned segment keeps the modification time of the last one it
	// replaces, as in Kafka (retention of segments without timestamps
	// goes by it).
	mtime := cl.modified[last]
	if err := os.Chtimes(cleaned.logPath, mtime, mtime); err != nil {
		return fmt.Errorf("storage: clean: %w", err)
	}
	cleaned.lastModified = mtime
	if err := faultAt("cleaned"); err != nil {
		ok = true // an injected crash leaves the files behind
		_ = cleaned.close()
		return err
	}
	old := make([]*LogSegment, len(g))
	sizes := make([]int64, len(g))
	for k, i := range g {
		old[k], sizes[k] = cl.segs[i], cl.sizes[i]
	}
	ok = true // swap owns cleaned from here
	return l.swapCleaned(cleaned, old, sizes)
}

// flushOut appends the batches kept so far to the cleaned segment.
func (c *cleaner) flushOut(cleaned *LogSegment) error {
	if len(c.out) == 0 {
		return nil
	}
	if err := c.throttle(len(c.out)); err != nil {
		return err
	}
	if err := cleaned.append(c.out, c.infos, c.cfg.IndexIntervalBytes, c.now); err != nil {
		return err
	}
	c.stats.BytesWritten += int64(len(c.out))
	c.out, c.infos = c.out[:0], c.infos[:0]
	return nil
}

// deleteHorizon returns the KIP-534 delete horizon of a batch, if set.
func deleteHorizon(h *batchHeader) (int64, bool) {
	if h.attributes&attrDeleteHorizon == 0 {
		return 0, false
	}
	return h.baseTimestamp, true
}

// isLastOfProducer: the batch holds what producer state needs of a
// producer still known (Kafka's isBatchLastRecordOfProducer): its last
// data batch, or, when it has none, its last marker (the epoch).
func (c *cleaner) isLastOfProducer(h *batchHeader) bool {
	lr, ok := c.lastRecords[h.producerID]
	if !ok {
		return false
	}
	if lr.lastDataOffset >= 0 {
		return h.lastOffset() == lr.lastDataOffset
	}
	return h.isControl() && h.producerEpoch == lr.epoch
}

// filterBatch decides what of one batch the cleaned segment keeps and
// appends that to c.out (Kafka's checkBatchRetention, shouldRetainRecord
// and MemoryRecords.filterTo).
//
// A batch is kept whole (bytes unchanged) when every record stays and no
// delete horizon needs setting; rebuilt with the kept records otherwise,
// keeping its header fields and each record's bytes; kept as an empty
// header when nothing stays but producer state needs it; dropped
// otherwise. It reports whether anything was kept.
func (c *cleaner) filterBatch(batch []byte, h *batchHeader, txns *txnTracker) (bool, error) {
	var canDiscard bool
	if h.isControl() {
		canDiscard = txns.onControl(batch, h, &c.scratch, c.log)
	} else {
		canDiscard = txns.onBatch(h)
	}
	horizon, hasHorizon := deleteHorizon(h)
	discard := canDiscard
	if h.isControl() {
		discard = canDiscard && hasHorizon && horizon <= c.nowMs
	}
	retainEmpty := h.hasProducerID() && c.isLastOfProducer(h)
	markerOfEmptyTxn := canDiscard && h.isControl()

	recs, err := c.records(batch, h)
	if err != nil {
		return false, err
	}
	c.stats.MessagesRead += int64(h.recordCount)
	c.kept = c.kept[:0]
	allKept, tombstones := true, false
	maxTs := int64(-1)
	for p, k := 0, int32(0); k < h.recordCount && p < len(recs); k++ {
		rec, err := parseCleanRecord(recs, p)
		if err != nil {
			return false, fmt.Errorf("storage: clean: batch at offset %d record %d: %w", h.baseOffset, k, err)
		}
		p = rec.end
		keep := !discard && (h.isControl() || c.retainRecord(h, &rec, horizon, hasHorizon))
		if !keep {
			allKept = false
			continue
		}
		if !rec.hasValue {
			tombstones = true
		}
		ts := h.baseTimestamp + rec.timestampDelta
		maxTs = max(maxTs, ts)
		c.kept = append(c.kept, keptRecord{start: rec.start, body: rec.body, end: rec.end, tsDeltaEnd: rec.tsDeltaEnd, timestamp: ts})
	}
	needHorizon := (tombstones || markerOfEmptyTxn) && !hasHorizon
	if needHorizon {
		horizon, hasHorizon = c.nowMs+c.cfg.DeleteRetentionMs, true
		if c.cfg.DeleteRetentionMs > math.MaxInt64-c.nowMs {
			horizon = math.MaxInt64
		}
	}
	switch {
	case len(c.kept) > 0 && allKept && !needHorizon:
		c.emit(batch)
	case len(c.kept) > 0:
		c.emit(c.rebuild(batch, h, recs, horizon, hasHorizon, maxTs))
	case retainEmpty:
		c.built = appendEmptyBatch(c.built[:0], h)
		c.emit(c.built)
	default:
		return false, nil
	}
	return true, nil
}

// retainRecord is Kafka's shouldRetainRecord: a record past the key map
// stays; else it needs a key (records without one are dropped, as
// Kafka's cleaner does) that the map does not know at a later offset, and
// a value, unless it is a tombstone whose delete horizon has not passed.
func (c *cleaner) retainRecord(h *batchHeader, r *cleanRecord, horizon int64, hasHorizon bool) bool {
	off := h.baseOffset + r.offsetDelta
	if off > c.offsets.latest {
		return true
	}
	if !r.hasKey {
		return false
	}
	if off < c.offsets.get(r.key) {
		return false
	}
	return r.hasValue || !hasHorizon || c.nowMs < horizon
}

func (c *cleaner) emit(b []byte) {
	h := parseBatchHeader(b)
	c.infos = append(c.infos, batchInfo{pos: len(c.out), hdr: h, size: len(b), maxTimestamp: h.maxTimestamp})
	c.out = append(c.out, b...)
	c.stats.MessagesWritten += int64(h.recordCount)
}

// rebuild builds a batch of the kept records with the header of the
// original: base offset, last offset delta, leader epoch, producer,
// sequence, attributes and codec. Records keep their bytes; only when a
// delete horizon becomes the base timestamp are their timestamp deltas
// re-encoded so their timestamps stay the same. maxTimestamp is that of
// the kept records (CreateTime) or the append time (LogAppendTime).
func (c *cleaner) rebuild(batch []byte, h *batchHeader, recs []byte, horizon int64, hasHorizon bool, maxTs int64) []byte {
	baseTs := h.baseTimestamp
	if hasHorizon {
		baseTs = horizon
	}
	c.recs = c.recs[:0]
	for _, k := range c.kept {
		if baseTs == h.baseTimestamp {
			c.recs = append(c.recs, recs[k.start:k.end]...)
			continue
		}
		var tmp [binary.MaxVarintLen64]byte
		delta := binary.PutVarint(tmp[:], k.timestamp-baseTs)
		bodyLen := 1 + delta + (k.end - k.tsDeltaEnd)
		c.recs = binary.AppendVarint(c.recs, int64(bodyLen))
		c.recs = append(c.recs, recs[k.body])
		c.recs = append(c.recs, tmp[:delta]...)
		c.recs = append(c.recs, recs[k.tsDeltaEnd:k.end]...)
	}
	body := c.recs
	if h.codec() != codec.None {
		var err error
		c.comp, err = codec.Compress(h.codec(), c.recs, c.comp[:0])
		if err != nil {
			// Compressing what decompressed fine cannot fail short of
			// memory; keep the batch as it was.
			return batch
		}
		body = c.comp
	}
	b := append(c.built[:0], batch[:batchHeaderSize]...)
	attrs := uint16(h.attributes)
	if hasHorizon {
		attrs |= attrDeleteHorizon
	}
	if !h.logAppendTime() {
		binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	}
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(baseTs))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(len(c.kept)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	c.built = b
	return b
}

// appendEmptyBatch appends the header of h with no records (Kafka's
// writeEmptyHeader): offsets, producer, sequence and epoch stay, so the
// producer's state and the batch's offset range survive.
func appendEmptyBatch(dst []byte, h *batchHeader) []byte {
	dst = append(dst, make([]byte, batchHeaderSize)...)
	b := dst[len(dst)-batchHeaderSize:]
	binary.BigEndian.PutUint64(b, uint64(h.baseOffset))
	binary.BigEndian.PutUint32(b[offLength:], uint32(minBatchLength))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.leaderEpoch))
	b[offMagic] = 2
	attrs := uint16(h.attributes) & (attrLogAppendTime | attrTransactional | attrControl)
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.lastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(h.maxTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.maxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.producerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.baseSequence))
	binary.BigEndian.PutUint32(b[offRecordCount:], 0)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst
}

// txnTracker is Kafka's CleanedTransactionMetadata: walking batches in
// offset order it knows which transactional batches belong to aborted
// transactions (from the aborted transaction index) and whether a marker
// still has data of its transaction behind it. out, when set, receives
// the index entries of the aborted transactions whose marker is kept.
type txnTracker struct {
	pending          []AbortedTxn // by first offset, not yet begun
	seen             map[[2]int64]bool
	ongoingAborted   map[int64]*abortedTxnState
	ongoingCommitted map[int64]bool
	out              *txnIndex
}

type abortedTxnState struct {
	txn      AbortedTxn
	observed bool // a batch of it was read
}

func (t *txnTracker) init() {
	if t.seen == nil {
		t.seen = map[[2]int64]bool{}
		t.ongoingAborted = map[int64]*abortedTxnState{}
		t.ongoingCommitted = map[int64]bool{}
	}
}

func (t *txnTracker) add(txns []AbortedTxn) {
	t.init()
	if len(txns) == 0 {
		return
	}
	for _, x := range txns {
		k := [2]int64{x.ProducerID, x.LastOffset}
		if !t.seen[k] {
			t.seen[k] = true
			t.pending = append(t.pending, x)
		}
	}
	slices.SortStableFunc(t.pending, func(a, b AbortedTxn) int {
		return int(min(max(a.FirstOffset-b.FirstOffset, -1), 1))
	})
}

func (t *txnTracker) consumeUpTo(offset int64) {
	for len(t.pending) > 0 && t.pending[0].FirstOffset <= offset {
		x := t.pending[0]
		t.pending = t.pending[1:]
		if _, ok := t.ongoingAborted[x.ProducerID]; !ok {
			t.ongoingAborted[x.ProducerID] = &abortedTxnState{txn: x}
		}
	}
}

// onBatch reports whether a data batch belongs to an aborted transaction.
func (t *txnTracker) onBatch(h *batchHeader) bool {
	t.init()
	t.consumeUpTo(h.lastOffset())
	if !h.isTransactional() {
		return false
	}
	if st, ok := t.ongoingAborted[h.producerID]; ok {
		st.observed = true
		return true
	}
	t.ongoingCommitted[h.producerID] = true
	return false
}

// onControl reports whether a control batch may be discarded: an empty
// one, or a marker with no batch of its transaction left behind it.
func (t *txnTracker) onControl(batch []byte, h *batchHeader, scratch *[]byte, l *Log) bool {
	t.init()
	t.consumeUpTo(h.lastOffset())
	if h.recordCount <= 0 {
		return true
	}
	mk, err := decodeMarker(batch, h, scratch)
	if err != nil {
		return false // another control type, or unreadable: keep it
	}
	if mk.Commit {
		had := t.ongoingCommitted[h.producerID]
		delete(t.ongoingCommitted, h.producerID)
		return !had
	}
	st, ok := t.ongoingAborted[h.producerID]
	delete(t.ongoingAborted, h.producerID)
	if ok && st.observed {
		if t.out != nil {
			if err := t.out.append(st.txn); err != nil && l != nil {
				l.logger.Warn().Err(err).Int64("offset", h.baseOffset).Msg("cleaned aborted transaction index write failed, retrying at flush")
			}
		}
		return false
	}
	return true
}

// swapCleaned replaces the segments old by cleaned (Kafka's
// replaceSegments). Each step leaves files from which Open rebuilds a
// consistent log (recoverCleanerFiles):
//
//  1. cleaned written as <base>.*.cleaned and fsynced: Open deletes them.
//  2. renamed to .swap, indexes first and the .log last: a .log.swap
//     commits the swap; Open deletes the old segments it covers and
//     renames it into place. Index .swap files without a .log.swap are
//     deleted.
//  3. the segments slice swapped under the writer lock and exclusive
//     segMu, so readers see either all old segments or the new one.
//  4. old segment files deleted, then the .swap files renamed to their
//     final names, indexes first. A crash in between leaves a .log.swap
//     (step 2) or a complete segment whose missing index is rebuilt.
func (l *Log) swapCleaned(cleaned *LogSegment, old []*LogSegment, sizes []int64) (err error) {
	keep := false // published, or left behind by an injected crash
	defer func() {
		if err != nil && !keep {
			_ = cleaned.remove()
		}
	}()
	if err := cleaned.renameFiles(cleanedSuffix, swapSuffix); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := faultAt("swap"); err != nil {
		keep = true
		_ = cleaned.close()
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return errCleaningAborted
	}
	i := segmentIndexOf(l.segments, old[0].baseOffset)
	if i < 0 || i+len(old) >= len(l.segments) {
		return errCleaningAborted
	}
	for k, s := range old {
		if l.segments[i+k] != s || s.size.Load() != sizes[k] {
			return errCleaningAborted
		}
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.segments = slices.Concat(l.segments[:i], []*LogSegment{cleaned}, l.segments[i+len(old):])
	keep = true
	var errs []error
	for _, s := range old {
		if err := s.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := faultAt("deleted"); err != nil {
		return err
	}
	if err := cleaned.renameIndexes(swapSuffix, ""); err != nil {
		return err
	}
	if err := faultAt("indexes renamed"); err != nil {
		return err
	}
	if err := cleaned.renameLog(swapSuffix, ""); err != nil {
		return err
	}
	return syncDir(l.dir)
}

// renameFiles renames the segment's files from names ending in from to
// names ending in to, indexes first.
func (s *LogSegment) renameFiles(from, to string) error {
	if err := s.renameIndexes(from, to); err != nil {
		return err
	}
	return s.renameLog(from, to)
}

func renamed(p, from, to string) string { return p[:len(p)-len(from)] + to }

func (s *LogSegment) renameIndexes(from, to string) error {
	for _, p := range []*string{&s.index.file.path, &s.timeIndex.file.path, &s.txnIndex.path} {
		np := renamed(*p, from, to)
		if err := os.Rename(*p, np); err != nil && !(p == &s.txnIndex.path && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("storage: clean: rename %s: %w", *p, err)
		}
		*p = np
	}
	return nil
}

func (s *LogSegment) renameLog(from, to string) error {
	np := renamed(s.logPath, from, to)
	if err := os.Rename(s.logPath, np); err != nil {
		return fmt.Errorf("storage: clean: rename %s: %w", s.logPath, err)
	}
	s.logPath = np
	return nil
}
