package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func testTable(t *testing.T) *Table {
	t.Helper()
	nop := func(context.Context, *Request) {}
	tbl, err := NewTable(
		API{Key: kmsg.ApiVersions, Min: 0, Max: 4, Handle: nop},
		API{Key: kmsg.Metadata, Min: 0, Max: 12, Handle: nop},
	)
	require.NoError(t, err)
	return tbl
}

func TestReadFrame(t *testing.T) {
	ok := bytes.Repeat([]byte{1}, 20)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"whole", frame(ok), ok, nil},
		{"too large", frame(bytes.Repeat([]byte{1}, 200)), nil, ErrFrameTooLarge},
		{"too small", frame([]byte{1, 2}), nil, ErrFrameTooSmall},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xf0}, nil, ErrFrameTooSmall},
		{"truncated body", frame(ok)[:12], nil, io.ErrUnexpectedEOF},
		{"empty stream", nil, nil, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tc.in), 100)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		req      kmsg.Request
		version  int16
		flexible bool
	}{
		{"metadata v1", kmsg.NewPtrMetadataRequest(), 1, false},
		{"metadata v12 flexible", kmsg.NewPtrMetadataRequest(), 12, true},
		{"apiversions v3 flexible", kmsg.NewPtrApiVersionsRequest(), 3, true},
		{"produce v9 flexible", kmsg.NewPtrProduceRequest(), 9, true},
		{"fetch v4", kmsg.NewPtrFetchRequest(), 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.SetVersion(tc.version)
			f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("client-x"))
			wire := f.AppendRequest(nil, tc.req, 77)
			got, err := ReadFrame(bytes.NewReader(wire), 1<<20)
			require.NoError(t, err)
			h, body, err := ParseHeader(got)
			require.NoError(t, err)
			assert.Equal(t, tc.req.Key(), h.Key)
			assert.Equal(t, tc.version, h.Version)
			assert.Equal(t, int32(77), h.CorrelationID)
			assert.Equal(t, "client-x", h.ClientID)
			assert.Equal(t, tc.flexible, h.Flexible)
			back := kmsg.RequestForKey(h.Key)
			back.SetVersion(h.Version)
			require.NoError(t, back.ReadFrom(body))
		})
	}
}

func TestParseHeaderMalformed(t *testing.T) {
	tests := map[string][]byte{
		"short":              {0, 3, 0, 1},
		"client id too long": {0, 3, 0, 1, 0, 0, 0, 1, 0, 50, 'a'},
		"bad client length":  {0, 3, 0, 1, 0, 0, 0, 1, 0x80, 0},
		"flexible no tags":   {0, 3, 0, 12, 0, 0, 0, 1, 0, 0},
		"flexible bad tag":   {0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 1, 5, 9},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := ParseHeader(in)
			require.ErrorIs(t, err, ErrMalformedHeader)
		})
	}
}

func TestTableDecode(t *testing.T) {
	tbl := testTable(t)
	_, _, err := tbl.Decode(Header{Key: 1000}, nil)
	require.ErrorIs(t, err, ErrUnknownKey)
	_, _, err = tbl.Decode(Header{Key: int16(kmsg.Metadata), Version: 13}, nil)
	require.ErrorIs(t, err, ErrUnsupportedVersion)
	_, _, err = tbl.Decode(Header{Key: int16(kmsg.Metadata), Version: 4}, []byte{0, 0})
	require.ErrorIs(t, err, ErrMalformedBody)

	req := kmsg.NewPtrMetadataRequest()
	req.Version = 4
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	got, api, err := tbl.Decode(Header{Key: 3, Version: 4}, req.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, kmsg.Metadata, api.Key)
	assert.Equal(t, "t", *got.(*kmsg.MetadataRequest).Topics[0].Topic)
}

func TestNewTableRejectsBadRows(t *testing.T) {
	nop := func(context.Context, *Request) {}
	_, err := NewTable(API{Key: kmsg.Metadata, Min: 0, Max: 99, Handle: nop})
	require.Error(t, err)
	_, err = NewTable(API{Key: kmsg.Metadata, Min: 0, Max: 1, Handle: nop}, API{Key: kmsg.Metadata, Min: 0, Max: 1, Handle: nop})
	require.Error(t, err)
	_, err = NewTable(API{Key: kmsg.Metadata, Min: 0, Max: 1})
	require.Error(t, err)
}

func TestFallbackAndApiVersionsHeader(t *testing.T) {
	tbl := testTable(t)
	_, ok := tbl.Fallback(Header{Key: 18, Version: 4})
	assert.False(t, ok, "supported version needs no fallback")
	_, ok = tbl.Fallback(Header{Key: 3, Version: 99})
	assert.False(t, ok, "only ApiVersions has a fallback")

	h := Header{Key: 18, Version: 9, CorrelationID: 5, Flexible: true}
	resp, ok := tbl.Fallback(h)
	require.True(t, ok)
	wire := AppendResponse(nil, h, resp)
	// size, correlation id, then directly the v0 body: no header tags.
	require.Equal(t, int(binary.BigEndian.Uint32(wire)), len(wire)-4)
	assert.Equal(t, int32(5), int32(binary.BigEndian.Uint32(wire[4:])))
	back := kmsg.NewPtrApiVersionsResponse()
	back.Version = 0
	require.NoError(t, back.ReadFrom(wire[8:]))
	assert.Equal(t, int16(35), back.ErrorCode)
	assert.Len(t, back.ApiKeys, 2)
}

func TestAppendResponseFlexibleHeader(t *testing.T) {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 12
	wire := AppendResponse(nil, Header{Key: 3, Version: 12, CorrelationID: 9, Flexible: true}, resp)
	assert.Equal(t, byte(0), wire[8], "empty header tag section")
	back := kmsg.NewPtrMetadataResponse()
	back.Version = 12
	require.NoError(t, back.ReadFrom(wire[9:]))
}

func TestRequestRespondOnce(t *testing.T) {
	var got []kmsg.Response
	r := NewRequest(Header{Version: 3}, nil, func(resp kmsg.Response) { got = append(got, resp) })
	r.Respond(kmsg.NewPtrMetadataResponse())
	r.Respond(kmsg.NewPtrMetadataResponse())
	require.Len(t, got, 1)
	assert.Equal(t, int16(3), got[0].GetVersion())
}

func FuzzParseAndDecode(f *testing.F) {
	tbl, err := NewTable(
		API{Key: kmsg.ApiVersions, Min: 0, Max: 4, Handle: func(context.Context, *Request) {}},
		API{Key: kmsg.Metadata, Min: 0, Max: 13, Handle: func(context.Context, *Request) {}},
		API{Key: kmsg.Produce, Min: 3, Max: 13, Handle: func(context.Context, *Request) {}},
	)
	require.NoError(f, err)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 1)[4:])
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body, err := ParseHeader(in)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformedHeader))
			return
		}
		_, _, _ = tbl.Decode(h, body)
	})
}

// A header declaring far more than is sent costs about one chunk, not the
// declared size; a frame spanning several chunks arrives whole.
func TestReadFrameGrowsWithBody(t *testing.T) {
	t.Run("declared size not allocated up front", func(t *testing.T) {
		wire := binary.BigEndian.AppendUint32(nil, 100<<20)
		wire = append(wire, bytes.Repeat([]byte{7}, 1000)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadFrame(bytes.NewReader(wire), 100<<20)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4*frameChunk))
	})
	t.Run("multi-chunk frame", func(t *testing.T) {
		body := make([]byte, 3*frameChunk+12345)
		for i := range body {
			body[i] = byte(i * 31)
		}
		got, err := ReadFrame(iotest.OneByteReader(bytes.NewReader(frame(body))), 100<<20)
		require.NoError(t, err)
		assert.Equal(t, body, got)
	})
	t.Run("started once header is in", func(t *testing.T) {
		calls := 0
		_, err := ReadFrameStarted(bytes.NewReader(frame(bytes.Repeat([]byte{1}, 20))), 100, func() { calls++ })
		require.NoError(t, err)
		assert.Equal(t, 1, calls)
		_, err = ReadFrameStarted(bytes.NewReader(nil), 100, func() { calls++ })
		require.ErrorIs(t, err, io.EOF)
		assert.Equal(t, 1, calls)
	})
}
