package broker

// DescribeClientQuotas, versions 0-1 (KIP-546).
//
// kafkad enforces no client quotas and stores none, so every filter
// matches nothing: the answer is an empty entry list. It exists because
// kafka-configs.sh --describe --entity-type users asks for quotas before
// it lists the users' SCRAM credentials. A filter Kafka would refuse (an
// unknown entity type, a type named twice) gets INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeClientQuotas(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	seen := map[string]bool{}
	for _, c := range req.Components {
		switch {
		case c.EntityType != "user" && c.EntityType != "client-id" && c.EntityType != "ip":
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.ErrorMessage = strPtr("Custom entity type '" + c.EntityType + "' not supported")
		case seen[c.EntityType]:
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.ErrorMessage = strPtr("Duplicate " + c.EntityType + " filter component entity type")
		}
		seen[c.EntityType] = true
	}
	if resp.ErrorCode == 0 {
		resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	}
	return resp
}
