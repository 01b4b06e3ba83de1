package broker

// AlterUserScramCredentials, version 0 (KIP-554).
//
// Upserts carry salt, iterations and the salted password (the client
// salts; the password never travels); the broker derives StoredKey and
// ServerKey and stores them in etcd, where every broker's authenticator
// sees them. Per user, as Kafka's controller: a user named twice in one
// request gets DUPLICATE_RESOURCE, an empty name UNACCEPTABLE_CREDENTIAL,
// a mechanism other than SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2)
// UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384
// UNACCEPTABLE_CREDENTIAL, deleting a credential that does not exist
// RESOURCE_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/protocol"
	"github.com/kafkad/kafkad/sasl"
)

// scramMechanismName maps Kafka's ScramMechanism type to its name.
func scramMechanismName(t int8) (string, bool) {
	switch t {
	case 1:
		return sasl.ScramSHA256, true
	case 2:
		return sasl.ScramSHA512, true
	}
	return "", false
}

func scramMechanismType(name string) int8 {
	switch name {
	case sasl.ScramSHA256:
		return 1
	case sasl.ScramSHA512:
		return 2
	}
	return 0
}

type scramAlterError struct {
	code int16
	msg  string
}

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	failed := map[string]scramAlterError{}
	seen := map[string]bool{}
	var order []string
	note := func(user string) bool {
		if _, bad := failed[user]; bad {
			return false
		}
		if seen[user] {
			failed[user] = scramAlterError{kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"}
			return false
		}
		seen[user] = true
		order = append(order, user)
		return true
	}
	validate := func(user string, mech int8) (string, bool) {
		name, ok := scramMechanismName(mech)
		switch {
		case user == "":
			failed[user] = scramAlterError{kerr.UnacceptableCredential.Code, "Username must not be empty"}
		case !ok:
			failed[user] = scramAlterError{kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"}
		}
		return name, user != "" && ok
	}
	type deletion struct{ user, mech string }
	type upsertion struct {
		user, mech string
		cred       sasl.Credential
	}
	var dels []deletion
	var ups []upsertion
	for _, d := range req.Deletions {
		if !note(d.Name) {
			continue
		}
		mech, ok := validate(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if _, exists := b.store.ScramCredential(d.Name, mech); !exists {
			failed[d.Name] = scramAlterError{kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"}
			continue
		}
		dels = append(dels, deletion{d.Name, mech})
	}
	for _, u := range req.Upsertions {
		if !note(u.Name) {
			continue
		}
		mech, ok := validate(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		switch {
		case u.Iterations < sasl.MinIterations:
			failed[u.Name] = scramAlterError{kerr.UnacceptableCredential.Code, "Too few iterations"}
			continue
		case u.Iterations > sasl.MaxIterations:
			failed[u.Name] = scramAlterError{kerr.UnacceptableCredential.Code, "Too many iterations"}
			continue
		}
		ups = append(ups, upsertion{u.Name, mech, sasl.CredentialFromSalted(mech, u.SaltedPassword, u.Salt, int(u.Iterations))})
	}
	for _, d := range dels {
		if _, err := b.store.DeleteScramCredential(ctx, d.user, d.mech); err != nil {
			failed[d.user] = scramAlterError{kerr.UnknownServerError.Code, err.Error()}
		}
	}
	for _, u := range ups {
		c := metastore.ScramCredential{Salt: u.cred.Salt, Iterations: u.cred.Iterations, StoredKey: u.cred.StoredKey, ServerKey: u.cred.ServerKey}
		if _, err := b.store.PutScramCredential(ctx, u.user, u.mech, c, false); err != nil {
			failed[u.user] = scramAlterError{kerr.UnknownServerError.Code, err.Error()}
		}
	}
	for _, user := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		if e, bad := failed[user]; bad {
			res.ErrorCode = e.code
			res.ErrorMessage = &e.msg
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
