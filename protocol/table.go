package protocol

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinels for requests the table cannot dispatch. Kafka closes the
// connection for all of them, except that an ApiVersions request of a
// version too new gets the v0 fallback answer (see Table.Fallback).
var (
	ErrUnknownKey         = errors.New("protocol: unknown api key")
	ErrUnsupportedVersion = errors.New("protocol: unsupported api version")
	ErrMalformedBody      = errors.New("protocol: malformed request body")
)

// HandlerFunc serves one request. It must call r.Respond exactly once,
// either before returning or later from another goroutine (delayed fetch,
// acks=all): the connection writes responses in request order regardless.
type HandlerFunc func(ctx context.Context, r *Request)

// API is one row of the handler table: a key, the versions its handler
// really implements, and the handler.
type API struct {
	Key    kmsg.Key
	Min    int16
	Max    int16
	Handle HandlerFunc
}

// Table is the one list of handlers; it drives dispatch and ApiVersions.
type Table struct {
	apis map[int16]API
	keys []kmsg.ApiVersionsResponseApiKey
}

// NewTable validates and indexes apis.
func NewTable(apis ...API) (*Table, error) {
	t := &Table{apis: make(map[int16]API, len(apis))}
	for _, a := range apis {
		req := kmsg.RequestForKey(int16(a.Key))
		switch {
		case req == nil:
			return nil, fmt.Errorf("%w: %d", ErrUnknownKey, a.Key)
		case a.Handle == nil:
			return nil, fmt.Errorf("protocol: %s has no handler", a.Key.Name())
		case a.Min < 0 || a.Min > a.Max || a.Max > req.MaxVersion():
			return nil, fmt.Errorf("protocol: %s versions %d-%d outside 0-%d", a.Key.Name(), a.Min, a.Max, req.MaxVersion())
		}
		if _, dup := t.apis[int16(a.Key)]; dup {
			return nil, fmt.Errorf("protocol: %s registered twice", a.Key.Name())
		}
		t.apis[int16(a.Key)] = a
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(a.Key), a.Min, a.Max
		t.keys = append(t.keys, k)
	}
	sort.Slice(t.keys, func(i, j int) bool { return t.keys[i].ApiKey < t.keys[j].ApiKey })
	return t, nil
}

// Lookup returns the row for key.
func (t *Table) Lookup(key int16) (API, bool) {
	a, ok := t.apis[key]
	return a, ok
}

// ApiKeys returns the advertised versions, sorted by key. The caller must
// not modify the slice.
func (t *Table) ApiKeys() []kmsg.ApiVersionsResponseApiKey { return t.keys }

// Decode checks h against the table and decodes body. Decoded byte fields
// (record batches) alias body.
func (t *Table) Decode(h Header, body []byte) (kmsg.Request, API, error) {
	a, ok := t.apis[h.Key]
	if !ok {
		return nil, a, fmt.Errorf("%w: %d", ErrUnknownKey, h.Key)
	}
	if h.Version < a.Min || h.Version > a.Max {
		return nil, a, fmt.Errorf("%w: %s v%d (supported %d-%d)", ErrUnsupportedVersion, a.Key.Name(), h.Version, a.Min, a.Max)
	}
	if err := checkCounts(h, body); err != nil {
		return nil, a, err
	}
	req := kmsg.RequestForKey(h.Key)
	req.SetVersion(h.Version)
	if err := req.ReadFrom(body); err != nil {
		return nil, a, fmt.Errorf("%w: %s v%d: %w", ErrMalformedBody, a.Key.Name(), h.Version, err)
	}
	return req, a, nil
}

// Fallback returns the answer to an ApiVersions request whose version is
// newer than the broker supports: a v0 response with UNSUPPORTED_VERSION and
// the full key list, so the client retries with a version it finds there.
func (t *Table) Fallback(h Header) (kmsg.Response, bool) {
	a, ok := t.apis[h.Key]
	if !ok || a.Key != kmsg.ApiVersions || h.Version <= a.Max {
		return nil, false
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = 35 // UNSUPPORTED_VERSION
	resp.ApiKeys = t.keys
	return resp, true
}

// Request is one decoded request travelling through a handler.
type Request struct {
	Header Header
	Body   kmsg.Request

	once    sync.Once
	respond func(kmsg.Response)
}

// NewRequest pairs a decoded request with the function that queues its
// response on the connection.
func NewRequest(h Header, body kmsg.Request, respond func(kmsg.Response)) *Request {
	return &Request{Header: h, Body: body, respond: respond}
}

// Respond queues resp as the answer, encoded at the request's version. A nil
// resp means no response is sent (acks=0 produce). Only the first call
// counts.
func (r *Request) Respond(resp kmsg.Response) {
	r.once.Do(func() {
		if resp != nil {
			resp.SetVersion(r.Header.Version)
		}
		r.respond(resp)
	})
}
