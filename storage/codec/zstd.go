package codec

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// One decoder and one encoder serve every goroutine: DecodeAll and
// EncodeAll are safe for concurrent use and keep their own internal pools.
// They are built lazily because the encoder's tables are large and most
// brokers never see zstd.
var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdDecErr  error

	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

func decoder() (*zstd.Decoder, error) {
	zstdDecOnce.Do(func() {
		zstdDec, zstdDecErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxDecompressedSize),
		)
	})
	return zstdDec, zstdDecErr
}

func unzstd(src, dst []byte, limit int) ([]byte, error) {
	d, err := decoder()
	if err != nil {
		return dst, fmt.Errorf("codec: zstd: %w", err)
	}
	// DecodeAll preallocates the frame's declared content size, so check
	// the first frame's claim against the caller's (possibly smaller) limit
	// before it gets the chance.
	var h zstd.Header
	if err := h.Decode(src); err == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
		return dst, ErrTooLarge
	}
	start := len(dst)
	out, err := d.DecodeAll(src, dst)
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return dst[:start], ErrTooLarge
		}
		return dst[:start], fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
	}
	if len(out)-start > limit {
		return dst[:start], ErrTooLarge
	}
	return out, nil
}

func zstdCompress(src, dst []byte) []byte {
	zstdEncOnce.Do(func() {
		// NewWriter(nil) with valid options cannot fail.
		zstdEnc, _ = zstd.NewWriter(nil)
	})
	return zstdEnc.EncodeAll(src, dst)
}
