package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/snappy"
)

// xerialMagic starts the framing the Java snappy-java library writes; the
// eight bytes after it are the version and minimum compatible version.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// maxSnappyRatio bounds how much a standard snappy block can expand: the
// densest element is a 3-byte copy emitting 64 bytes. Checking the claimed
// length against it rejects a 5-byte block claiming gigabytes before we
// allocate anything.
const maxSnappyRatio = 22

func unsnappy(src, dst []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderLen || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(src, dst, limit)
	}
	// xerial: [int32 BE length][raw snappy block] chunks after the header.
	start := len(dst)
	rest := src[xerialHeaderLen:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return dst[:start], fmt.Errorf("%w: snappy: truncated xerial chunk length", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return dst[:start], fmt.Errorf("%w: snappy: xerial chunk exceeds input", ErrCorrupt)
		}
		var err error
		dst, err = snappyBlock(rest[:n], dst, limit-(len(dst)-start))
		if err != nil {
			return dst[:start], err
		}
		rest = rest[n:]
	}
	return dst, nil
}

// snappyBlock appends one raw snappy block to dst.
func snappyBlock(src, dst []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("%w: snappy: %w", ErrCorrupt, err)
	}
	if n > limit {
		return dst, ErrTooLarge
	}
	if n > maxSnappyRatio*len(src)+64 {
		return dst, fmt.Errorf("%w: snappy: claimed length %d impossible for %d input bytes", ErrCorrupt, n, len(src))
	}
	dst = grow(dst, n)
	out, err := snappy.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, fmt.Errorf("%w: snappy: %w", ErrCorrupt, err)
	}
	return dst[:len(dst)+len(out)], nil
}

func snappyCompress(src, dst []byte) []byte {
	n := snappy.MaxEncodedLen(len(src))
	dst = grow(dst, n)
	out := snappy.Encode(dst[len(dst):len(dst)+n], src)
	return dst[:len(dst)+len(out)]
}

// grow makes room for n more bytes after len(dst) without changing len.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	return append(dst, make([]byte, n)...)[:len(dst)]
}
