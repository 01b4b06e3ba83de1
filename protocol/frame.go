package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sentinels for frames a connection cannot continue after.
var (
	ErrFrameTooLarge = errors.New("protocol: frame larger than socket.request.max.bytes")
	ErrFrameTooSmall = errors.New("protocol: frame too small for a request header")
)

// minRequestFrame is api_key + api_version + correlation_id + client_id length.
const minRequestFrame = 2 + 2 + 4 + 2

// ReadFrame reads one size-prefixed frame from r. The returned slice is
// freshly allocated and owned by the caller: request bodies decoded from it
// alias it (record batches are never copied on the way in).
func ReadFrame(r io.Reader, maxSize int32) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < minRequestFrame:
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	case n > maxSize:
		return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, maxSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("protocol: truncated frame: %w", err)
	}
	return buf, nil
}
