package storage

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/kafkad/kafkad/storage/codec"
)

// Compression is a log's compression.type.
type Compression int8

// The compression.type values; each but CompressionProducer names the
// codec (codec.Codec + 1) the leader stores batches with.
const (
	CompressionProducer Compression = iota
	CompressionNone
	CompressionGzip
	CompressionSnappy
	CompressionLZ4
	CompressionZstd
)

// Kafka's default compression levels (KIP-390).
const (
	GzipDefaultLevel = codec.GzipDefaultLevel
	LZ4DefaultLevel  = codec.LZ4DefaultLevel
	ZstdDefaultLevel = codec.ZstdDefaultLevel
)

var compressionNames = [...]string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}

// ParseCompression reads a compression.type value.
func ParseCompression(s string) (Compression, bool) {
	for i, n := range compressionNames {
		if n == s {
			return Compression(i), true
		}
	}
	return 0, false
}

// String returns the compression.type value.
func (c Compression) String() string {
	if c < 0 || int(c) >= len(compressionNames) {
		return fmt.Sprintf("compression(%d)", int8(c))
	}
	return compressionNames[c]
}

// target is the codec batches are stored with; ok is false for producer.
func (c Compression) target() (codec.Codec, bool) {
	if c <= CompressionProducer || c > CompressionZstd {
		return 0, false
	}
	return codec.Codec(c - 1), true
}

// level is the configured level of codec c.
func (cfg *Config) level(c codec.Codec) int {
	switch c {
	case codec.Gzip:
		return int(cfg.GzipLevel)
	case codec.LZ4:
		return int(cfg.LZ4Level)
	case codec.Zstd:
		return int(cfg.ZstdLevel)
	}
	return 0
}

// Recompressed appends are built in pooled buffers. A buffer that grew
// past maxPooledBuf (a rare huge produce) is left to the GC rather than
// pinned in the pool.
const maxPooledBuf = 8 << 20

var appendBufs = sync.Pool{New: func() any { return new([]byte) }}

func getAppendBuf() *[]byte { return appendBufs.Get().(*[]byte) }

func putAppendBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	appendBufs.Put(b)
}

// recompressBatch appends to out the batch with its records section
// (records, already decompressed) encoded with target: the header is
// copied, so offsets, sequence and producer fields are the producer's,
// and the record bytes are unchanged, only their compression; the length,
// codec bits and CRC are rewritten.
func recompressBatch(out, batch, records []byte, target codec.Codec, level int) ([]byte, error) {
	start := len(out)
	out = append(out, batch[:batchHeaderSize]...)
	out, err := codec.CompressLevel(target, level, records, out)
	if err != nil {
		return out[:start], fmt.Errorf("storage: recompress batch with %s: %w", target, err)
	}
	b := out[start:]
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	attrs = attrs&^attrCodecMask | uint16(target)
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return out, nil
}
