package storage

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// maxBatchesPerProducer is how many recent batches per producer are
// remembered for duplicate detection; the Java client keeps at most five
// requests in flight with idempotence enabled, so five suffice.
const maxBatchesPerProducer = 5

const (
	noProducerEpoch int16 = -1
	noSequence      int32 = -1
)

// batchMetadata is what a retry is matched against.
type batchMetadata struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerEntry is one idempotent producer's state: its epoch, its last
// batches (oldest first) and its transaction state.
type producerEntry struct {
	producerID    int64
	epoch         int16
	batches       [maxBatchesPerProducer]batchMetadata
	n             int
	lastTimestamp int64
	// coordinatorEpoch is the largest transaction coordinator epoch seen
	// in this producer's markers, -1 before the first.
	coordinatorEpoch int32
	// currentTxnFirstOffset is the first offset of the ongoing
	// transaction, -1 when none is open.
	currentTxnFirstOffset int64
	// lastMarkerOffset is the offset of the last marker written for the
	// producer, -1 when none: a marker that bumped the epoch (KIP-890)
	// leaves no batches, yet the entry must live as long as the marker
	// does, or an older epoch would no longer be fenced.
	lastMarkerOffset int64
}

func newProducerEntry(pid int64) producerEntry {
	return producerEntry{producerID: pid, epoch: noProducerEpoch, lastTimestamp: -1,
		coordinatorEpoch: -1, currentTxnFirstOffset: -1, lastMarkerOffset: -1}
}

func (e *producerEntry) lastSeq() int32 {
	if e.n == 0 {
		return noSequence
	}
	return e.batches[e.n-1].lastSeq
}

func (e *producerEntry) lastOffset() int64 {
	if e.n == 0 {
		return -1
	}
	return e.batches[e.n-1].lastOffset
}

// findDuplicate matches a batch by its sequence range within the same epoch.
func (e *producerEntry) findDuplicate(epoch int16, firstSeq, lastSeq int32) (batchMetadata, bool) {
	if epoch != e.epoch {
		return batchMetadata{}, false
	}
	for i := 0; i < e.n; i++ {
		if e.batches[i].firstSeq == firstSeq && e.batches[i].lastSeq == lastSeq {
			return e.batches[i], true
		}
	}
	return batchMetadata{}, false
}

// lastWrite is the offset of the producer's last batch or marker.
func (e *producerEntry) lastWrite() int64 {
	return max(e.lastOffset(), e.lastMarkerOffset)
}

// setEpoch moves to epoch; a new epoch forgets the old epoch's batches
// (Kafka's maybeUpdateProducerEpoch).
func (e *producerEntry) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch = epoch
		e.n = 0
	}
}

// addBatch records a batch; a new epoch forgets the old epoch's batches.
func (e *producerEntry) addBatch(epoch int16, md batchMetadata) {
	e.setEpoch(epoch)
	if e.n == maxBatchesPerProducer {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = md
	e.n++
	if md.maxTimestamp > e.lastTimestamp {
		e.lastTimestamp = md.maxTimestamp
	}
}

// endTxn applies a marker at offset, without checks: the transaction is
// over, the marker's epoch becomes the producer's (a bumped one forgets
// the batches, KIP-890) and its coordinator epoch is remembered. It
// returns the first offset of the transaction it ended, -1 when none was
// open.
func (e *producerEntry) endTxn(epoch int16, coordinatorEpoch int32, offset, ts int64) int64 {
	first := e.currentTxnFirstOffset
	e.setEpoch(epoch)
	e.coordinatorEpoch = coordinatorEpoch
	e.currentTxnFirstOffset = -1
	e.lastMarkerOffset = offset
	e.lastTimestamp = max(e.lastTimestamp, ts)
	return first
}

// completedTxn is a transaction ended by the marker at markerOffset.
type completedTxn struct {
	firstOffset, markerOffset int64
}

// openTxn is what HasOngoingTxn and the first unstable offset need of an
// ongoing transaction.
type openTxn struct {
	firstOffset int64
	epoch       int16
}

// ProducerStateManager tracks idempotent and transactional producers of
// one log, following Kafka's ProducerStateManager/ProducerAppendInfo.
// Producer entries are guarded by the log's append lock; ongoing mirrors
// the open transactions for readers that do not take it (its own txnMu,
// written only under the append lock), and firstUnstable publishes the
// smallest first offset among them.
type ProducerStateManager struct {
	producers map[int64]*producerEntry

	txnMu   sync.RWMutex
	ongoing map[int64]openTxn
	// unreplicated are transactions ended by a marker the high
	// watermark may not have reached yet: as in Kafka, they keep holding
	// the last stable offset until it has (LastStableOffset prunes them).
	// Guarded by txnMu; nUnreplicated lets readers skip the lock.
	unreplicated  []completedTxn
	nUnreplicated atomic.Int32
	// firstUnstable is the smallest ongoing first offset, -1 when no
	// transaction is open. Writers store it before the log end offset
	// moves past a batch that changed it; see Log.FirstUnstableOffset.
	firstUnstable atomic.Int64
	// loading holds back publishing while state is rebuilt, so readers
	// never see the intermediate states of a replay.
	loading bool
}

func newProducerStateManager() *ProducerStateManager {
	m := &ProducerStateManager{producers: make(map[int64]*producerEntry), ongoing: make(map[int64]openTxn)}
	m.firstUnstable.Store(-1)
	return m
}

// syncTxn mirrors e's transaction into ongoing. The common case, a
// producer without a transaction that had none, is one map lookup.
func (m *ProducerStateManager) syncTxn(e *producerEntry) {
	cur, had := m.ongoing[e.producerID]
	if e.currentTxnFirstOffset < 0 {
		if !had {
			return
		}
		m.txnMu.Lock()
		delete(m.ongoing, e.producerID)
		if !m.loading && e.lastMarkerOffset >= cur.firstOffset {
			// Before publish: a reader that sees the new first unstable
			// offset also sees the ended transaction here.
			m.unreplicated = append(m.unreplicated, completedTxn{firstOffset: cur.firstOffset, markerOffset: e.lastMarkerOffset})
			m.nUnreplicated.Store(int32(len(m.unreplicated)))
		}
		m.txnMu.Unlock()
		m.publish()
		return
	}
	want := openTxn{firstOffset: e.currentTxnFirstOffset, epoch: e.epoch}
	if had && cur == want {
		return
	}
	m.txnMu.Lock()
	m.ongoing[e.producerID] = want
	m.txnMu.Unlock()
	if !had || cur.firstOffset != want.firstOffset {
		m.publish()
	}
}

// publish stores the smallest ongoing first offset.
func (m *ProducerStateManager) publish() {
	if m.loading {
		return
	}
	m.firstUnstable.Store(m.firstOngoing(-1))
}

// firstOngoing is the smallest first offset of a transaction open by
// another producer than except, -1 when there is none. Open transactions
// are few (one per transactional producer), so a scan is fine.
func (m *ProducerStateManager) firstOngoing(except int64) int64 {
	first := int64(-1)
	for pid, t := range m.ongoing {
		if pid != except && (first < 0 || t.firstOffset < first) {
			first = t.firstOffset
		}
	}
	return first
}

// lastStableAfter is Kafka's lastStableOffset(completedTxn): the last
// stable offset right after pid's transaction ended at lastOffset.
func (m *ProducerStateManager) lastStableAfter(pid, lastOffset int64) int64 {
	if first := m.firstOngoing(pid); first >= 0 {
		return first
	}
	return lastOffset + 1
}

// holdLastStable lowers lso to the first offset of every ended
// transaction whose marker is not below hw yet, and forgets the others
// (Kafka's unreplicated transactions, dropped as the high watermark
// passes their markers).
func (m *ProducerStateManager) holdLastStable(lso, hw int64) int64 {
	if m.nUnreplicated.Load() == 0 {
		return lso
	}
	m.txnMu.Lock()
	defer m.txnMu.Unlock()
	kept := m.unreplicated[:0]
	for _, t := range m.unreplicated {
		if t.markerOffset >= hw {
			kept = append(kept, t)
			lso = min(lso, t.firstOffset)
		}
	}
	clear(m.unreplicated[len(kept):])
	m.unreplicated = kept
	m.nUnreplicated.Store(int32(len(kept)))
	return lso
}

// hasOngoingTxn reports whether pid at epoch has an open transaction.
func (m *ProducerStateManager) hasOngoingTxn(pid int64, epoch int16) bool {
	m.txnMu.RLock()
	defer m.txnMu.RUnlock()
	t, ok := m.ongoing[pid]
	return ok && t.epoch == epoch
}

// startLoad holds back publishing until endLoad, for a reload of the
// state from a snapshot and the log.
func (m *ProducerStateManager) startLoad() { m.loading = true }

// endLoad rebuilds ongoing from the entries and publishes it.
func (m *ProducerStateManager) endLoad() {
	m.rebuildOngoing()
	m.loading = false
	m.publish()
}

// setProducers replaces every entry, as loaded from a snapshot.
func (m *ProducerStateManager) setProducers(producers map[int64]*producerEntry) {
	m.producers = producers
	m.rebuildOngoing()
}

func (m *ProducerStateManager) rebuildOngoing() {
	m.txnMu.Lock()
	defer m.txnMu.Unlock()
	clear(m.ongoing)
	m.unreplicated = m.unreplicated[:0]
	m.nUnreplicated.Store(0)
	for pid, e := range m.producers {
		if e.currentTxnFirstOffset >= 0 {
			m.ongoing[pid] = openTxn{firstOffset: e.currentTxnFirstOffset, epoch: e.epoch}
		}
	}
}

// pendingProducer validates the idempotent batches of one append against a
// copy of the producer's entry, so a rejected append changes nothing.
type pendingProducer struct {
	current producerEntry // state before this append
	updated producerEntry // state after the batches checked so far
	active  bool
}

func (m *ProducerStateManager) begin(pid int64) pendingProducer {
	p := pendingProducer{active: true}
	if e, ok := m.producers[pid]; ok {
		p.current = *e
	} else {
		p.current = newProducerEntry(pid)
	}
	p.updated = p.current
	return p
}

// duplicateOf reports whether hdr retries a batch already in the log. Like
// Kafka it compares against the state before this append only.
func (p *pendingProducer) duplicateOf(hdr *batchHeader) (batchMetadata, bool) {
	return p.current.findDuplicate(hdr.producerEpoch, hdr.baseSequence, hdr.lastSequence())
}

// check applies Kafka's checkProducerEpoch and checkSequence to the batch
// about to get firstOffset, then records it in the pending state.
func (p *pendingProducer) check(hdr *batchHeader, firstOffset int64, maxTimestamp int64) error {
	epoch, firstSeq := hdr.producerEpoch, hdr.baseSequence
	if epoch < p.updated.epoch {
		return fmt.Errorf("%w: producer %d epoch %d is older than current epoch %d", ErrInvalidProducerEpoch, hdr.producerID, epoch, p.updated.epoch)
	}
	if epoch != p.updated.epoch {
		// A bumped epoch restarts sequences at 0, unless we know nothing
		// of the producer (its state expired or was never seen), in which
		// case any sequence is taken as the new starting point.
		if firstSeq != 0 && p.updated.epoch != noProducerEpoch {
			return fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, hdr.producerID, epoch, firstSeq)
		}
	} else if p.current.epoch != noProducerEpoch && !inSequence(p.updated.lastSeq(), firstSeq) {
		return fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, hdr.producerID, epoch, incrementSequence(p.updated.lastSeq(), 1), firstSeq)
	}
	// Kafka's appendDataBatch: a transactional batch opens a transaction
	// unless one is open; a plain batch may not interleave with one.
	switch txn := hdr.isTransactional(); {
	case txn && p.updated.currentTxnFirstOffset < 0:
		p.updated.currentTxnFirstOffset = firstOffset
	case !txn && p.updated.currentTxnFirstOffset >= 0:
		return fmt.Errorf("%w: producer %d sent a non-transactional batch during its transaction started at offset %d", ErrInvalidTxnState, hdr.producerID, p.updated.currentTxnFirstOffset)
	}
	p.updated.addBatch(epoch, batchMetadata{
		firstSeq:     firstSeq,
		lastSeq:      hdr.lastSequence(),
		firstOffset:  firstOffset,
		lastOffset:   firstOffset + int64(hdr.lastOffsetDelta),
		maxTimestamp: maxTimestamp,
	})
	return nil
}

// endTxn applies Kafka's appendEndTxnMarker checks to a marker about to be
// written at offset, then ends the transaction in the pending state. It
// returns the first offset of the transaction it ends, -1 when none is
// open (the marker is still written; it changes nothing for readers).
func (p *pendingProducer) endTxn(mk Marker, offset, ts int64) (int64, error) {
	if mk.ProducerEpoch < p.updated.epoch {
		return -1, fmt.Errorf("%w: marker for producer %d has epoch %d, older than current epoch %d", ErrInvalidProducerEpoch, mk.ProducerID, mk.ProducerEpoch, p.updated.epoch)
	}
	if mk.CoordinatorEpoch < p.updated.coordinatorEpoch {
		return -1, fmt.Errorf("%w: marker for producer %d has coordinator epoch %d, older than %d", ErrTransactionCoordinatorFenced, mk.ProducerID, mk.CoordinatorEpoch, p.updated.coordinatorEpoch)
	}
	return p.updated.endTxn(mk.ProducerEpoch, mk.CoordinatorEpoch, offset, ts), nil
}

func inSequence(lastSeq, nextSeq int32) bool {
	return int64(nextSeq) == int64(lastSeq)+1 || (nextSeq == 0 && lastSeq == math.MaxInt32)
}

// commit stores the pending state once the append is written.
func (m *ProducerStateManager) commit(p *pendingProducer) {
	if !p.active {
		return
	}
	e, ok := m.producers[p.updated.producerID]
	if ok {
		*e = p.updated
	} else {
		ne := p.updated
		e = &ne
		m.producers[e.producerID] = e
	}
	m.syncTxn(e)
}

func (m *ProducerStateManager) entry(pid int64) *producerEntry {
	e, ok := m.producers[pid]
	if !ok {
		ne := newProducerEntry(pid)
		e = &ne
		m.producers[pid] = e
	}
	return e
}

// replay folds a data batch header read back from disk (or written by
// the leader) into the state, without checks: what is in the log was
// accepted once. Control batches go through replayMarker.
func (m *ProducerStateManager) replay(hdr *batchHeader) {
	if !hdr.hasProducerID() || hdr.isControl() {
		return
	}
	e := m.entry(hdr.producerID)
	e.addBatch(hdr.producerEpoch, batchMetadata{
		firstSeq:     hdr.baseSequence,
		lastSeq:      hdr.lastSequence(),
		firstOffset:  hdr.baseOffset,
		lastOffset:   hdr.lastOffset(),
		maxTimestamp: hdr.maxTimestamp,
	})
	if hdr.isTransactional() && e.currentTxnFirstOffset < 0 {
		e.currentTxnFirstOffset = hdr.baseOffset
	}
	m.syncTxn(e)
}

// replayMarker folds the marker of the control batch hdr into the state
// without checks. When it aborts a transaction it returns the entry for
// the aborted transaction index.
func (m *ProducerStateManager) replayMarker(hdr *batchHeader, mk Marker) (AbortedTxn, bool) {
	e := m.entry(hdr.producerID)
	offset := hdr.baseOffset
	first := e.endTxn(hdr.producerEpoch, mk.CoordinatorEpoch, offset, hdr.maxTimestamp)
	// Before syncTxn: the last stable offset counts only other producers'
	// transactions either way, as Kafka's findNextIncompleteTxn.
	lso := m.lastStableAfter(hdr.producerID, offset)
	m.syncTxn(e)
	if first < 0 || mk.Commit {
		return AbortedTxn{}, false
	}
	return AbortedTxn{ProducerID: hdr.producerID, FirstOffset: first, LastOffset: offset, LastStableOffset: lso}, true
}

// truncateHead forgets producers whose last write is below the new log
// start offset: their batches are gone, so they become unknown producers
// whose next sequence is accepted as is. A producer with an open
// transaction is kept, as in Kafka: its transaction still holds the last
// stable offset (at the log start at least) until its marker comes.
func (m *ProducerStateManager) truncateHead(logStartOffset int64) {
	for pid, e := range m.producers {
		if e.lastWrite() < logStartOffset && e.currentTxnFirstOffset < 0 {
			delete(m.producers, pid)
		}
	}
}

// reset forgets every producer, ahead of a reload (startLoad/endLoad).
func (m *ProducerStateManager) reset() {
	clear(m.producers)
	m.txnMu.Lock()
	clear(m.ongoing)
	m.txnMu.Unlock()
}
