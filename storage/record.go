package storage

import (
	"encoding/binary"
	"errors"
	"math"
)

var (
	errBadVarint     = errors.New("bad varint")
	errRecordLength  = errors.New("record length out of bounds")
	errFieldLength   = errors.New("field length out of bounds")
	errRecordTrailer = errors.New("record length does not match its fields")
	errNoRecords     = errors.New("fewer records than the batch declares")
)

// recordView holds the record fields storage cares about; keys, values and
// headers are only checked for framing.
type recordView struct {
	timestampDelta int64
	offsetDelta    int32
	nullKey        bool
}

// recordIter walks the records section of a (decompressed) batch without
// allocating.
type recordIter struct {
	data []byte
	pos  int
}

func (it *recordIter) next() (recordView, error) {
	if it.pos >= len(it.data) {
		return recordView{}, errNoRecords
	}
	length, n := binary.Varint(it.data[it.pos:])
	if n <= 0 || length > math.MaxInt32 {
		return recordView{}, errBadVarint
	}
	it.pos += n
	if length < 1 || length > int64(len(it.data)-it.pos) {
		return recordView{}, errRecordLength
	}
	// Bound every read below to this record's bytes.
	rec := it.data[:it.pos+int(length)]
	p := it.pos + 1 // attributes
	it.pos += int(length)

	var v recordView
	var ok bool
	if v.timestampDelta, p, ok = varlong(rec, p); !ok {
		return v, errBadVarint
	}
	var d int64
	if d, p, ok = varint32(rec, p); !ok {
		return v, errBadVarint
	}
	v.offsetDelta = int32(d)
	if keyLen, _, ok := varint32(rec, p); ok && keyLen == -1 {
		v.nullKey = true
	}
	// key, value: -1 means null.
	for range 2 {
		if p, ok = skipBytes(rec, p, true); !ok {
			return v, errFieldLength
		}
	}
	var headers int64
	if headers, p, ok = varint32(rec, p); !ok || headers < 0 {
		return v, errFieldLength
	}
	for range headers {
		// Header keys may not be null; values may.
		if p, ok = skipBytes(rec, p, false); !ok {
			return v, errFieldLength
		}
		if p, ok = skipBytes(rec, p, true); !ok {
			return v, errFieldLength
		}
	}
	if p != len(rec) {
		return v, errRecordTrailer
	}
	return v, nil
}

func varlong(b []byte, p int) (int64, int, bool) {
	if p > len(b) {
		return 0, p, false
	}
	v, n := binary.Varint(b[p:])
	if n <= 0 {
		return 0, p, false
	}
	return v, p + n, true
}

func varint32(b []byte, p int) (int64, int, bool) {
	v, p, ok := varlong(b, p)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, p, false
	}
	return v, p, true
}

// skipBytes skips a varint-length-prefixed byte string.
func skipBytes(b []byte, p int, nullable bool) (int, bool) {
	n, p, ok := varint32(b, p)
	if !ok {
		return p, false
	}
	if n == -1 && nullable {
		return p, true
	}
	if n < 0 || n > int64(len(b)-p) {
		return p, false
	}
	return p + int(n), true
}
