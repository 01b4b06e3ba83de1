package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Sentinels for frames a connection cannot continue after.
var (
	ErrFrameTooLarge = errors.New("protocol: frame larger than socket.request.max.bytes")
	ErrFrameTooSmall = errors.New("protocol: frame too small for a request header")
)

// minRequestFrame is api_key + api_version + correlation_id + client_id length.
const minRequestFrame = 2 + 2 + 4 + 2

// frameChunk is the most ReadFrame allocates ahead of bytes actually
// received: the declared size is a claim, not a promise, so a 4-byte header
// announcing 100 MiB costs at most this much until the body arrives.
const frameChunk = 1 << 20

// ReadFrame reads one size-prefixed frame from r. The returned slice is
// freshly allocated and owned by the caller: request bodies decoded from it
// alias it (record batches are never copied on the way in). Frames above
// frameChunk grow in frameChunk steps as their bytes arrive, so memory
// follows what the client sent rather than what it declared.
func ReadFrame(r io.Reader, maxSize int32) ([]byte, error) {
	return ReadFrameStarted(r, maxSize, nil)
}

// ReadFrameStarted is ReadFrame calling started, if not nil, once the size
// header is in: the caller's cue that a frame is now partially received
// (the broker bounds how long the rest may take).
func ReadFrameStarted(r io.Reader, maxSize int32, started func()) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	if started != nil {
		started()
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < minRequestFrame:
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	case n > maxSize:
		return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, maxSize)
	}
	buf := make([]byte, 0, min(int(n), frameChunk))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			// Double, capped by the chunk and the declared size: the copy
			// cost stays linear and the overshoot stays bounded.
			grow := min(max(cap(buf), frameChunk), int(n)-len(buf), 4*frameChunk)
			buf = slices.Grow(buf, grow)
		}
		m, err := io.ReadFull(r, buf[len(buf):min(cap(buf), int(n))])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("protocol: truncated frame: %w", err)
		}
	}
	return buf, nil
}
