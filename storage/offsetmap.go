package storage

import "hash/maphash"

// offsetMapSlotSize is the memory one key takes in the offset map: a
// 128-bit key hash and an offset, as in Kafka's SkimpyOffsetMap (MD5 plus
// offset). Keys themselves are not stored.
const offsetMapSlotSize = 24

// offsetMap is the cleaner's key map (Kafka's OffsetMap): the hash of each
// key in the dirty section of a log to the last offset holding it. Open
// addressing over a flat slice; it grows by doubling from a small table up
// to maxSlots, so a small log never costs log.cleaner.dedupe.buffer.size
// of memory. Two keys with the same 128-bit hash would be taken for one;
// like Kafka we accept that chance. Owned by one cleaner worker.
type offsetMap struct {
	seed1, seed2 maphash.Seed
	slots        []offsetSlot
	maxSlots     int // the table never outgrows the memory given
	loadFactor   float64
	n            int
	// latest is the last offset the map covers (Kafka's latestOffset):
	// records past it are kept whatever their key.
	latest int64
}

type offsetSlot struct {
	h1, h2 uint64 // h1 == 0 && h2 == 0: empty
	offset int64
}

const minOffsetMapSlots = 1024

func newOffsetMap() *offsetMap {
	return &offsetMap{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), latest: -1}
}

// reset empties the map for a cleaning with memory bytes of slots filled
// up to loadFactor.
func (m *offsetMap) reset(memory int64, loadFactor float64) {
	m.maxSlots = int(max(min(memory/offsetMapSlotSize, 1<<31), 2))
	m.loadFactor = min(max(loadFactor, 0.01), 1)
	if len(m.slots) > m.maxSlots {
		m.slots = nil
	}
	clear(m.slots)
	m.n = 0
	m.latest = -1
}

// full reports whether another key may not be added (Kafka stops mapping
// at slots * load factor).
func (m *offsetMap) full() bool {
	return float64(m.n+1) > float64(m.maxSlots)*m.loadFactor || m.n+1 >= m.maxSlots
}

// utilization is the share of the allowed slots in use.
func (m *offsetMap) utilization() float64 {
	return float64(m.n) / float64(m.maxSlots)
}

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	h1, h2 := maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
	if h1 == 0 && h2 == 0 {
		h1 = 1
	}
	return h1, h2
}

// put records offset as the latest for key; the caller checks full first.
func (m *offsetMap) put(key []byte, offset int64) {
	if len(m.slots) == 0 || float64(m.n+1) > float64(len(m.slots))*0.75 && len(m.slots) < m.maxSlots {
		m.grow()
	}
	h1, h2 := m.hash(key)
	i := m.find(h1, h2)
	if s := &m.slots[i]; s.h1 == 0 && s.h2 == 0 {
		*s = offsetSlot{h1: h1, h2: h2, offset: offset}
		m.n++
	} else {
		s.offset = offset
	}
}

// get returns the latest offset of key, -1 when the key is not mapped.
func (m *offsetMap) get(key []byte) int64 {
	if m.n == 0 {
		return -1
	}
	h1, h2 := m.hash(key)
	s := m.slots[m.find(h1, h2)]
	if s.h1 == 0 && s.h2 == 0 {
		return -1
	}
	return s.offset
}

// find returns the slot holding (h1, h2) or the empty slot where it goes.
// The table is never full (growth and full() keep a free slot), so the
// probe ends.
func (m *offsetMap) find(h1, h2 uint64) int {
	n := len(m.slots)
	for i := int(h1 % uint64(n)); ; i = (i + 1) % n {
		s := &m.slots[i]
		if (s.h1 == 0 && s.h2 == 0) || (s.h1 == h1 && s.h2 == h2) {
			return i
		}
	}
}

func (m *offsetMap) grow() {
	size := min(max(minOffsetMapSlots, 2*len(m.slots)), m.maxSlots)
	old := m.slots
	m.slots = make([]offsetSlot, size)
	for _, s := range old {
		if s.h1 != 0 || s.h2 != 0 {
			m.slots[m.find(s.h1, s.h2)] = s
		}
	}
}
