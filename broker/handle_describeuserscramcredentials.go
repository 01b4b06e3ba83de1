package broker

// DescribeUserScramCredentials, version 0 (KIP-554).
//
// Lists each user's SCRAM mechanisms and iteration counts (never salts or
// keys). No users: every user with a credential. A user without any gets
// RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE, with Kafka's
// messages.

import (
	"context"
	"maps"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	all := b.store.ScramMechanisms()
	var users []string
	dup := map[string]bool{}
	if len(req.Users) == 0 {
		for u := range all {
			users = append(users, u)
		}
		sort.Strings(users)
	} else {
		for _, u := range req.Users {
			if slices.Contains(users, u.Name) {
				dup[u.Name] = true
				continue
			}
			users = append(users, u.Name)
		}
	}
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		switch mechs, ok := all[u]; {
		case dup[u]:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = strPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = strPtr("Attempt to describe a user credential that does not exist: " + u)
		default:
			for _, name := range slices.Sorted(maps.Keys(mechs)) {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = scramMechanismType(name), int32(mechs[name])
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
