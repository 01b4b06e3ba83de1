package codec

import (
	"errors"
	"fmt"
)

// Codec is the compression codec stored in bits 0-2 of a batch's attributes.
type Codec int8

// The codecs Kafka defines.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// String returns the name Kafka uses in compression.type.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	default:
		return fmt.Sprintf("codec(%d)", int8(c))
	}
}

// MaxDecompressedSize bounds the output of Decompress. Kafka itself has no
// such limit, but one batch expanding past this is far more likely to be an
// attack or corruption than data; 256 MiB leaves room for a 1 MiB batch of
// very repetitive data.
const MaxDecompressedSize = 256 << 20

var (
	// ErrUnsupportedCodec is returned for codec numbers outside 0-4.
	ErrUnsupportedCodec = errors.New("codec: unsupported compression codec")
	// ErrCorrupt is returned when the compressed data cannot be decoded.
	ErrCorrupt = errors.New("codec: corrupt compressed data")
	// ErrTooLarge is returned when the output would exceed the limit.
	ErrTooLarge = errors.New("codec: decompressed data too large")
)

// Decompress appends the decompressed form of src to dst and returns the
// extended slice. Pass buf[:0] to reuse a buffer. For None it appends src.
func Decompress(c Codec, src, dst []byte) ([]byte, error) {
	return DecompressLimit(c, src, dst, MaxDecompressedSize)
}

// DecompressLimit is Decompress with an explicit bound on the number of
// bytes appended; limit is clamped to MaxDecompressedSize.
func DecompressLimit(c Codec, src, dst []byte, limit int) ([]byte, error) {
	if limit <= 0 || limit > MaxDecompressedSize {
		limit = MaxDecompressedSize
	}
	switch c {
	case None:
		if len(src) > limit {
			return dst, ErrTooLarge
		}
		return append(dst, src...), nil
	case Gzip:
		return gunzip(src, dst, limit)
	case Snappy:
		return unsnappy(src, dst, limit)
	case LZ4:
		return unlz4(src, dst, limit)
	case Zstd:
		return unzstd(src, dst, limit)
	default:
		return dst, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
	}
}

// Compress appends the compressed form of src to dst and returns the
// extended slice. Snappy output is a raw block (no xerial framing).
func Compress(c Codec, src, dst []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return gzipCompress(src, dst)
	case Snappy:
		return snappyCompress(src, dst), nil
	case LZ4:
		return lz4Compress(src, dst)
	case Zstd:
		return zstdCompress(src, dst), nil
	default:
		return dst, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
	}
}
