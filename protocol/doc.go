// Package protocol is kafkad's Kafka wire layer: size-prefixed frames, request
// and response headers, and the one handler table that drives both dispatch
// and the ApiVersions answer.
//
// It works on byte slices, readers and writers only; it knows nothing of
// sockets, etcd or logs. Bodies are decoded and encoded with franz-go's kmsg.
//
// # Framing
//
// Every request and response is an int32 big-endian size followed by that
// many bytes. A request frame larger than the configured maximum
// (socket.request.max.bytes) or shorter than a minimal header is a protocol
// violation: the caller closes that connection. ReadFrame allocates as the
// body arrives (1 MiB steps), so a header declaring a large frame costs
// nothing until its bytes come. Decode refuses bodies whose declared array
// counts exceed what they carry before kmsg would size slices from them:
// Produce is walked (counts.go); other requests are capped at 4 MiB.
//
// # Headers
//
// Request header v1: api_key int16, api_version int16, correlation_id int32,
// client_id nullable string (int16 length). Header v2, used by flexible
// versions (KIP-482), appends tagged fields. Which header a request uses
// depends on its key and version; kmsg tells us through IsFlexible.
//
// Response header v0 is the correlation id; v1 appends tagged fields. The
// ApiVersions response always uses header v0 so that a client that does not
// yet know the broker's versions can parse it (KIP-511).
package protocol
