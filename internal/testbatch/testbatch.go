// Package testbatch builds v2 record batches by hand for tests that drive
// Produce below the level of a client library (retries of the very same
// batch, broken batches).
package testbatch

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns an uncompressed v2 record batch with a valid CRC holding
// one record (key "k") per value. pid -1 means not idempotent.
func Encode(pid int64, epoch int16, seq int32, values ...string) []byte {
	return encode([]byte("k"), pid, epoch, seq, values)
}

// EncodeNullKeys is Encode with records without a key, which a compacted
// topic refuses.
func EncodeNullKeys(pid int64, epoch int16, seq int32, values ...string) []byte {
	return encode(nil, pid, epoch, seq, values)
}

func encode(key []byte, pid int64, epoch int16, seq int32, values []string) []byte {
	var records []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: key, Value: []byte(v)}
		n := len(r.AppendTo(nil)) - 1 // encoded with a one-byte zero length
		r.Length = int32(n)
		records = r.AppendTo(records)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp:  now,
		MaxTimestamp:    now,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   seq,
		NumRecords:      int32(len(values)),
		Records:         records,
	}
	b.Length = int32(49 + len(records))
	wire := b.AppendTo(nil)
	binary.BigEndian.PutUint32(wire[17:], crc32.Checksum(wire[21:], castagnoli))
	return wire
}

// SetTimestamp moves every record of a batch from Encode to ms (the
// batch's base and max timestamps; record deltas are zero) and fixes
// the CRC.
func SetTimestamp(batch []byte, ms int64) {
	binary.BigEndian.PutUint64(batch[27:], uint64(ms))
	binary.BigEndian.PutUint64(batch[35:], uint64(ms))
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], castagnoli))
}
