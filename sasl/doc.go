// Package sasl holds the server side of the SASL mechanisms kafkad
// accepts: PLAIN (RFC 4616) and SCRAM-SHA-256/SCRAM-SHA-512 (RFC 5802,
// RFC 7677), as Kafka's SaslServer implementations answer them.
//
// It is pure: a Server is a state machine fed the client's tokens, and
// credentials come through the Credentials interface, so the package knows
// nothing of sockets, etcd or the Kafka framing (SaslHandshake and
// SaslAuthenticate live in the broker).
//
// A SCRAM credential is what Kafka stores for a user: salt, iteration
// count, StoredKey and ServerKey. The password itself is never kept. PLAIN
// checks a password against the same credential by recomputing the salted
// password with its salt and iterations.
package sasl
