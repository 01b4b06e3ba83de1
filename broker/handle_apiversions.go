package broker

// ApiVersions, versions 0-4.
//
// The answer lists every key of the handler table with the versions its
// handler implements. v3+ (KIP-511) carries the client's software name and
// version, which must match Kafka's pattern or the answer is INVALID_REQUEST
// (still with the key list). Versions newer than 4 get the v0 fallback from
// the protocol layer. v5 (client-asserted cluster and node ids) is not
// advertised yet.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleApiVersions(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ApiKeys = b.table.ApiKeys()
	if req.Version >= 3 && (!softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return resp
}
