package metastore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ScramCredential is one user's stored credential for one SCRAM mechanism
// (Kafka's ScramCredential): never the password.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

func (k keys) scramUser(user string) string { return k.prefix + "scram/" + url.PathEscape(user) + "/" }
func (k keys) scram(user, mech string) string {
	return k.scramUser(user) + mech
}

// parseScramKey splits "<escaped user>/<mechanism>".
func parseScramKey(rest string) (user, mech string, ok bool) {
	esc, mech, ok := strings.Cut(rest, "/")
	if !ok || mech == "" || strings.Contains(mech, "/") {
		return "", "", false
	}
	user, err := url.PathUnescape(esc)
	if err != nil || user == "" || url.PathEscape(user) != esc {
		return "", "", false
	}
	return user, mech, true
}

func (c *cache) applyScram(kv *mvccpb.KeyValue, key parsedKey, deleted bool) {
	if deleted {
		delete(c.scram[key.user], key.mechanism)
		if len(c.scram[key.user]) == 0 {
			delete(c.scram, key.user)
		}
		return
	}
	var cred ScramCredential
	if err := json.Unmarshal(kv.Value, &cred); err != nil || cred.Iterations <= 0 {
		c.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring malformed SCRAM credential")
		return
	}
	if c.scram[key.user] == nil {
		c.scram[key.user] = map[string]ScramCredential{}
	}
	c.scram[key.user][key.mechanism] = cred
}

// ScramCredential returns user's credential for mech from the watched
// cache, so every broker sees a change as soon as etcd delivers it.
func (s *Store) ScramCredential(user, mech string) (ScramCredential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.cache.scram[user][mech]
	return c, ok
}

// ScramMechanisms returns, for each user with credentials, the mechanisms
// and iteration counts stored (DescribeUserScramCredentials).
func (s *Store) ScramMechanisms() map[string]map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]map[string]int, len(s.cache.scram))
	for u, byMech := range s.cache.scram {
		out[u] = make(map[string]int, len(byMech))
		for m, c := range byMech {
			out[u][m] = c.Iterations
		}
	}
	return out
}

// PutScramCredential stores user's credential for mech. With ifAbsent it
// writes only when the user has none for mech and reports whether it did.
func (s *Store) PutScramCredential(ctx context.Context, user, mech string, cred ScramCredential, ifAbsent bool) (bool, error) {
	if err := s.running(); err != nil {
		return false, err
	}
	key := s.keys.scram(user, mech)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	txn := s.client.Txn(ctx)
	if ifAbsent {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	}
	resp, err := txn.Then(clientv3.OpPut(key, mustJSON(cred))).Commit()
	if err != nil {
		return false, fmt.Errorf("metastore: write SCRAM credential of %q: %w", user, err)
	}
	if !resp.Succeeded {
		return false, nil
	}
	return true, s.waitRev(ctx, resp.Header.Revision)
}

// DeleteScramCredential removes user's credential for mech and reports
// whether there was one.
func (s *Store) DeleteScramCredential(ctx context.Context, user, mech string) (bool, error) {
	if err := s.running(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.client.Delete(ctx, s.keys.scram(user, mech))
	if err != nil {
		return false, fmt.Errorf("metastore: delete SCRAM credential of %q: %w", user, err)
	}
	if resp.Deleted == 0 {
		return false, nil
	}
	return true, s.waitRev(ctx, resp.Header.Revision)
}
