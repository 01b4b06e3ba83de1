package broker

// ApiVersions, versions 0-4.
//
// The answer lists every key of the handler table with the versions its
// handler implements. v3+ (KIP-511) carries the client's software name and
// version, which must match Kafka's pattern or the answer is INVALID_REQUEST
// (still with the key list). v3+ also carries the feature levels
// (KIP-584): transaction.version 2, transactions v2 (KIP-890). Versions newer than 4 get the v0 fallback from
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
	// transaction.version 2 (KIP-890 part 2) is what makes clients use
	// transactions v2; v3+ answers carry features (KIP-584).
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, 2
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", 2, 2
	resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{sf}
	resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{ff}
	resp.FinalizedFeaturesEpoch = 1
	if req.Version >= 3 && (!softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return resp
}
