package broker

// ListGroups, versions 0-5.
//
// v3+: flexible. v4: state filter (KIP-518). v5: type filter and group
// type (KIP-848): "classic", or "consumer" for a consumer group (protocol
// type "consumer", states Empty, Assigning, Reconciling, Stable). Groups
// with committed offsets and no members are listed as Empty.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleListGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.ListGroupsRequest)
	resp := kmsg.NewPtrListGroupsResponse()
	groups, err := b.coord.List(ctx, b.ownsGroup)
	if err != nil {
		b.log.Warn().Err(err).Msg("cannot list groups")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, g := range groups { // this broker's only: admin clients ask every broker
		typ := g.Type
		if typ == "" {
			typ = "classic"
		}
		if !matches(req.StatesFilter, g.State) || !matches(req.TypesFilter, typ) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.ID, g.ProtocolType, g.State, typ
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
