package broker

// Several listeners: each connection knows the listener it was accepted
// on, and Metadata, DescribeCluster and FindCoordinator answer with every
// broker's address on that same listener, as Kafka does, so a client of a
// SASL listener is never sent to a PLAINTEXT port (or the reverse).

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/sasl"
)

type listenerKey struct{}

// listenerOf names the listener nc was accepted on, found by its local
// port (two listeners never share one), or "" when unknown.
func (b *Broker) listenerOf(nc net.Conn) string {
	local, ok := nc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	for i, ln := range b.listeners {
		if a, ok := ln.Addr().(*net.TCPAddr); ok && a.Port == local.Port && i < len(b.cfg.Listeners) {
			return b.cfg.Listeners[i].Name
		}
	}
	return ""
}

// listenerAddr is bi's advertised address on the connection's listener;
// a broker that does not advertise it (a rolling listener change) falls
// back to its first listener.
func listenerAddr(ctx context.Context, bi metastore.BrokerInfo) (string, int32) {
	if name, _ := ctx.Value(listenerKey{}).(string); name != "" {
		for _, l := range bi.Listeners {
			if l.Name == name {
				return l.Host, l.Port
			}
		}
	}
	return bi.Host, bi.Port
}

// nodeAddrOn maps a node's default address to its address on the
// connection's listener; unknown nodes keep host and port.
func (b *Broker) nodeAddrOn(ctx context.Context, id int32, host string, port int32) (string, int32) {
	if id < 0 {
		return host, port
	}
	for _, bi := range b.store.Brokers() {
		if bi.ID == id {
			return listenerAddr(ctx, bi)
		}
	}
	return host, port
}

// interBrokerSASL is the client option that authenticates this broker to
// the others when the inter-broker listener is a SASL one.
func (b *Broker) interBrokerSASL() []kgo.Opt {
	ib := b.cfg.InterBroker
	switch ib.Mechanism {
	case sasl.Plain:
		return []kgo.Opt{kgo.SASL(plain.Auth{User: ib.Username, Pass: ib.Password}.AsMechanism())}
	case sasl.ScramSHA256:
		return []kgo.Opt{kgo.SASL(scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha256Mechanism())}
	case sasl.ScramSHA512:
		return []kgo.Opt{kgo.SASL(scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha512Mechanism())}
	}
	return nil
}
