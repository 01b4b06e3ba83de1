package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrMalformedHeader is returned for a request header that cannot be parsed.
var ErrMalformedHeader = errors.New("protocol: malformed request header")

// Header is a parsed request header.
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	// Flexible reports whether the request (and so the response, except for
	// ApiVersions) uses the flexible header with tagged fields.
	Flexible bool
}

// isFlexible reports whether key at version uses header v2. Versions past
// what kmsg knows are treated like kmsg's newest version: flexibility never
// goes away once a message adopts it.
func isFlexible(key, version int16) bool {
	req := kmsg.RequestForKey(key)
	if req == nil {
		return false
	}
	if version > req.MaxVersion() {
		version = req.MaxVersion()
	}
	req.SetVersion(version)
	return req.IsFlexible()
}

// ParseHeader parses the request header at the start of frame and returns it
// with the body that follows.
func ParseHeader(frame []byte) (Header, []byte, error) {
	if len(frame) < minRequestFrame {
		return Header{}, nil, ErrMalformedHeader
	}
	h := Header{
		Key:           int16(binary.BigEndian.Uint16(frame[0:])),
		Version:       int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	b := frame[8:]
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > 0 {
		if int(n) > len(b) {
			return h, nil, fmt.Errorf("%w: client id length %d", ErrMalformedHeader, n)
		}
		h.ClientID = string(b[:n])
		b = b[n:]
	} else if n < -1 {
		return h, nil, fmt.Errorf("%w: client id length %d", ErrMalformedHeader, n)
	}
	h.Flexible = isFlexible(h.Key, h.Version)
	if h.Flexible {
		var err error
		if b, err = skipTags(b); err != nil {
			return h, nil, err
		}
	}
	return h, b, nil
}

// skipTags skips a tagged-field section: uvarint count, then per field
// uvarint tag, uvarint size and size bytes.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", ErrMalformedHeader)
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", ErrMalformedHeader)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tag size", ErrMalformedHeader)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// AppendResponse appends a complete response frame (size, header, body) for
// the request with header h. resp is encoded at the version it carries, which
// the caller sets (the request's version, except for the ApiVersions v0
// fallback).
func AppendResponse(dst []byte, h Header, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.CorrelationID))
	// ApiVersions responses never carry header tagged fields (KIP-511).
	if h.Flexible && h.Key != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
