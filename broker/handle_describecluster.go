package broker

// DescribeCluster, versions 0-2 (KIP-700).
//
// Lists the live brokers, the cluster id and the controller. v1: endpoint
// type (only brokers, 1, are served: asking for controllers, 2, gets
// UNSUPPORTED_ENDPOINT_TYPE, since kafkad's controller runs inside a broker
// and has no separate endpoint). v2: fenced brokers (none: a broker whose
// lease lapses is gone, not fenced).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeCluster(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.controllerID()
	resp.ClusterAuthorizedOperations = notComputed
	for _, bi := range b.store.Brokers() {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID = bi.ID
		rb.Host, rb.Port = listenerAddr(ctx, bi)
		if bi.Rack != "" {
			rb.Rack = strPtr(bi.Rack)
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
