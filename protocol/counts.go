package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrArrayCount is a request whose declared array lengths its body cannot
// hold, or a non-Produce request too large to decode safely.
var ErrArrayCount = errors.New("protocol: array count beyond the request's bytes")

// MaxNonProduceBody bounds the body of every request but Produce.
//
// kmsg sizes a decoded array from its declared length, checking only that
// the length does not exceed the bytes left (one byte per element). Its Go
// elements take 40-80 bytes, so a body that is nothing but a huge count
// makes the decoder allocate up to 80 times the frame: 8 GB for a 100 MiB
// frame (socket.request.max.bytes). No request but Produce comes near
// this size in practice (a Metadata request naming 50,000 topics is about
// 1.5 MiB), so they are capped here, bounding that allocation to ~320 MiB;
// Produce, which does carry large frames, has its counts checked against
// its bytes before decoding (checkProduceCounts).
const MaxNonProduceBody = 4 << 20

// checkCounts refuses bodies whose decoding could allocate far beyond
// their size.
func checkCounts(h Header, body []byte) error {
	if h.Key != int16(kmsg.Produce) {
		if len(body) > MaxNonProduceBody {
			return fmt.Errorf("%w: %s body of %d bytes above %d", ErrArrayCount, kmsg.Key(h.Key).Name(), len(body), MaxNonProduceBody)
		}
		return nil
	}
	return checkProduceCounts(h.Version, body)
}

// checkProduceCounts walks a Produce request (v3-v13) without allocating,
// so that kmsg only ever sizes its topic and partition slices from counts
// the body really carries.
func checkProduceCounts(version int16, body []byte) error {
	w := walker{b: body, flexible: version >= 9}
	w.nullableString() // transactional_id
	w.skip(2 + 4)      // acks, timeout_ms
	topics := w.arrayLen()
	for range topics {
		if version >= 13 {
			w.skip(16) // topic_id
		} else {
			w.nullableString() // name
		}
		partitions := w.arrayLen()
		for range partitions {
			w.skip(4)         // index
			w.nullableBytes() // records
			w.tags()
		}
		w.tags()
	}
	w.tags()
	if w.bad {
		return fmt.Errorf("%w: Produce v%d", ErrArrayCount, version)
	}
	return nil
}

// walker reads the shapes of Kafka's encoding, flexible or not, only to
// skip them; it goes bad, and stays so, at the first field running past
// the body.
type walker struct {
	b        []byte
	flexible bool
	bad      bool
}

func (w *walker) skip(n int) {
	if w.bad || n < 0 || n > len(w.b) {
		w.bad = true
		w.b = nil
		return
	}
	w.b = w.b[n:]
}

func (w *walker) uvarint() int {
	if w.bad {
		return 0
	}
	v, n := binary.Uvarint(w.b)
	if n <= 0 || v > math.MaxInt32 {
		w.bad = true
		w.b = nil
		return 0
	}
	w.b = w.b[n:]
	return int(v)
}

// int16 and int32 read a classic (non-compact) length.
func (w *walker) int16() int { return int(int16(w.uint(2))) }
func (w *walker) int32() int { return int(int32(w.uint(4))) }

func (w *walker) uint(n int) uint64 {
	if w.bad || len(w.b) < n {
		w.skip(n)
		return 0
	}
	var v uint64
	for _, c := range w.b[:n] {
		v = v<<8 | uint64(c)
	}
	w.b = w.b[n:]
	return v
}

// length reads a length or count, -1 or 0 meaning null in compact form.
func (w *walker) length(classic func() int) int {
	if w.flexible {
		return w.uvarint() - 1
	}
	return classic()
}

func (w *walker) nullableString() { w.skip(max(w.length(w.int16), 0)) }

func (w *walker) nullableBytes() { w.skip(max(w.length(w.int32), 0)) }

// arrayLen returns a count checked against the bytes left, one byte per
// element at least (every Produce element takes more).
func (w *walker) arrayLen() int {
	n := w.length(w.int32)
	if n > len(w.b) {
		w.bad = true
		w.b = nil
		return 0
	}
	return max(n, 0)
}

func (w *walker) tags() {
	if !w.flexible {
		return
	}
	for range w.uvarint() {
		w.uvarint()         // tag
		w.skip(w.uvarint()) // size, data
	}
}
