package storage

import (
	"fmt"
	"math"
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

// producerEntry is one idempotent producer's state: its epoch and its
// last batches, oldest first.
type producerEntry struct {
	producerID    int64
	epoch         int16
	batches       [maxBatchesPerProducer]batchMetadata
	n             int
	lastTimestamp int64
}

func newProducerEntry(pid int64) producerEntry {
	return producerEntry{producerID: pid, epoch: noProducerEpoch, lastTimestamp: -1}
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

// addBatch records a batch; a new epoch forgets the old epoch's batches.
func (e *producerEntry) addBatch(epoch int16, md batchMetadata) {
	if epoch != e.epoch {
		e.epoch = epoch
		e.n = 0
	}
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

// ProducerStateManager tracks idempotent producers of one log, following
// Kafka's ProducerStateManager/ProducerAppendInfo. It is not safe for
// concurrent use; the log's append lock guards it.
type ProducerStateManager struct {
	producers map[int64]*producerEntry
}

func newProducerStateManager() *ProducerStateManager {
	return &ProducerStateManager{producers: make(map[int64]*producerEntry)}
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
	p.updated.addBatch(epoch, batchMetadata{
		firstSeq:     firstSeq,
		lastSeq:      hdr.lastSequence(),
		firstOffset:  firstOffset,
		lastOffset:   firstOffset + int64(hdr.lastOffsetDelta),
		maxTimestamp: maxTimestamp,
	})
	return nil
}

func inSequence(lastSeq, nextSeq int32) bool {
	return int64(nextSeq) == int64(lastSeq)+1 || (nextSeq == 0 && lastSeq == math.MaxInt32)
}

// commit stores the pending state once the append is written.
func (m *ProducerStateManager) commit(p *pendingProducer) {
	if !p.active {
		return
	}
	if e, ok := m.producers[p.updated.producerID]; ok {
		*e = p.updated
		return
	}
	e := p.updated
	m.producers[e.producerID] = &e
}

// replay folds a batch header read back from disk into the state, without
// checks: what is in the log was accepted once.
func (m *ProducerStateManager) replay(hdr *batchHeader) {
	if !hdr.hasProducerID() || hdr.isControl() {
		return
	}
	e, ok := m.producers[hdr.producerID]
	if !ok {
		ne := newProducerEntry(hdr.producerID)
		e = &ne
		m.producers[hdr.producerID] = e
	}
	e.addBatch(hdr.producerEpoch, batchMetadata{
		firstSeq:     hdr.baseSequence,
		lastSeq:      hdr.lastSequence(),
		firstOffset:  hdr.baseOffset,
		lastOffset:   hdr.lastOffset(),
		maxTimestamp: hdr.maxTimestamp,
	})
}

// truncateHead forgets producers whose last write is below the new log
// start offset: their batches are gone, so they become unknown producers
// whose next sequence is accepted as is.
func (m *ProducerStateManager) truncateHead(logStartOffset int64) {
	for pid, e := range m.producers {
		if e.lastOffset() < logStartOffset {
			delete(m.producers, pid)
		}
	}
}

func (m *ProducerStateManager) reset() {
	clear(m.producers)
}
