package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
)

// A classic group is stored (Store.SaveGroup) at the points Kafka writes
// its group metadata record: when a generation's assignment is complete
// (Stable), when a static member is replaced, and when the group becomes
// Empty. A coordinator that takes the group over loads that document: a
// Stable group comes back Stable with its members, generation and
// assignments, so members that keep heartbeating carry on without a
// rebalance (their sessions restart at the load). A rebalance under way
// when the old coordinator died is not stored; its members get
// UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION and join again.

// kindClassic marks a classic group's document; KIP-848 consumer groups
// store kind "consumer".
const kindClassic = "classic"

type savedGroup struct {
	Kind         string        `json:"kind"`
	State        string        `json:"state"` // Stable or Empty
	StateMs      int64         `json:"state_ms"`
	Generation   int32         `json:"generation"`
	ProtocolType string        `json:"protocol_type,omitempty"`
	Protocol     string        `json:"protocol,omitempty"`
	Leader       string        `json:"leader,omitempty"`
	Members      []savedMember `json:"members,omitempty"`
}

type savedMember struct {
	ID          string          `json:"id"`
	InstanceID  string          `json:"instance_id,omitempty"`
	ClientID    string          `json:"client_id"`
	Host        string          `json:"host"`
	SessionMs   int64           `json:"session_ms"`
	RebalanceMs int64           `json:"rebalance_ms"`
	Protocols   []savedProtocol `json:"protocols"`
	Assignment  []byte          `json:"assignment,omitempty"`
}

type savedProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// groupKind reads the kind of a stored group document.
func groupKind(data []byte) (string, error) {
	var k struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(data, &k); err != nil {
		return "", fmt.Errorf("coordinator: malformed stored group: %w", err)
	}
	return k.Kind, nil
}

// errOtherKind is a stored group of another protocol (a KIP-848 consumer
// group) asked for through the classic protocol.
var errOtherKind = errors.New("coordinator: group uses another protocol")

// load reads the group's stored state and offsets. Called with g.mu held
// on a group not yet loaded.
func (g *group) load(ctx context.Context) error {
	g.own = g.c.ownership(g.id)
	data, err := g.c.store.LoadGroup(ctx, g.id)
	if err != nil {
		return err
	}
	offsets, err := g.c.store.LoadGroupOffsets(ctx, g.id)
	if err != nil {
		return err
	}
	if err := g.loadTxnOffsets(ctx); err != nil {
		return err
	}
	g.offsets, g.loaded = offsets, true
	if data == nil {
		return nil
	}
	kind, err := groupKind(data)
	if err != nil {
		return err
	}
	if kind != kindClassic {
		g.otherKind, g.otherDoc = kind, data
		return nil
	}
	var sg savedGroup
	if err := json.Unmarshal(data, &sg); err != nil {
		return fmt.Errorf("coordinator: malformed stored group %s: %w", g.id, err)
	}
	g.stored = true
	g.generation, g.protocolType, g.protocol, g.leader = sg.Generation, sg.ProtocolType, sg.Protocol, sg.Leader
	g.stateSince = time.UnixMilli(sg.StateMs)
	if sg.State != stateStable.String() || len(sg.Members) == 0 {
		g.protocol, g.leader = "", ""
		return nil
	}
	g.state = stateStable
	for _, sm := range sg.Members {
		m := &member{
			id: sm.ID, instanceID: sm.InstanceID, clientID: sm.ClientID, host: sm.Host,
			sessionTimeout:     time.Duration(sm.SessionMs) * time.Millisecond,
			rebalanceTimeout:   time.Duration(sm.RebalanceMs) * time.Millisecond,
			assignment:         sm.Assignment,
			joinedGenerationAt: sg.Generation,
		}
		for _, p := range sm.Protocols {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		g.members[m.id] = m
		g.order = append(g.order, m.id)
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
		g.startSession(m)
	}
	g.c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members)).
		Msg("group loaded: Stable")
	return nil
}

// save stores the group as it is now (Stable or Empty). A fenced write
// means another broker coordinates the group now: the group is unloaded
// and the caller answers NOT_COORDINATOR.
func (g *group) save() *kerr.Error {
	sg := savedGroup{
		Kind: kindClassic, State: g.state.String(), StateMs: g.stateSince.UnixMilli(),
		Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader,
	}
	for _, id := range g.order {
		m := g.members[id]
		sm := savedMember{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, Host: m.host,
			SessionMs: m.sessionTimeout.Milliseconds(), RebalanceMs: m.rebalanceTimeout.Milliseconds(),
			Assignment: m.assignment,
		}
		for _, p := range m.protocols {
			sm.Protocols = append(sm.Protocols, savedProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		sg.Members = append(sg.Members, sm)
	}
	data, err := json.Marshal(sg)
	if err != nil {
		panic(err) // plain strings, numbers and bytes
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := g.c.store.SaveGroup(ctx, g.id, data, g.own); err != nil {
		return g.storeFailed(err, "cannot store group")
	}
	g.stored = true
	return nil
}

// storeTimeout bounds a group write made outside any request's context
// (timers, the rebalance's end).
const storeTimeout = 10 * time.Second

// storeFailed maps a failed etcd write: fenced means this broker lost the
// group (unloaded, NOT_COORDINATOR); anything else COORDINATOR_NOT_AVAILABLE.
func (g *group) storeFailed(err error, msg string) *kerr.Error {
	if errors.Is(err, metastore.ErrFenced) {
		g.c.log.Info().Str("group", g.id).Msg("group fenced: another broker coordinates it now")
		g.die(kerr.NotCoordinator)
		return kerr.NotCoordinator
	}
	g.c.log.Warn().Err(err).Str("group", g.id).Msg(msg)
	return kerr.CoordinatorNotAvailable
}

// die removes the group from its coordinator (a later request loads it
// afresh), stops its timers and answers its waiting members with err.
// Called with g.mu held.
func (g *group) die(err *kerr.Error) {
	g.c.forget(g)
	g.state = stateDead
	for _, m := range g.members {
		m.stopSession()
		m.failWaiting(err)
	}
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	for _, t := range g.pending {
		t.Stop()
	}
}

// forget removes g from the coordinator's map (if it is still there).
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// setState moves the group to s, noting when (offset retention of an
// Empty group counts from it).
func (g *group) setState(s state) {
	if g.state != s {
		g.stateSince = g.c.now()
	}
	g.state = s
}

// expiredOffsets returns, for each topic with an offset past retention,
// the topic's remaining offsets (empty: delete the topic). The offsets of
// subscribed topics stay; the others expire retention after their commit
// or, when since is later (when an Empty classic group became Empty, as
// Kafka has it since KIP-211), retention after since.
func expiredOffsets(offsets map[string]map[int32]metastore.CommittedOffset, subscribed map[string]bool, since, now time.Time, retention time.Duration) map[string]map[int32]metastore.CommittedOffset {
	out := map[string]map[int32]metastore.CommittedOffset{}
	for topic, parts := range offsets {
		if subscribed[topic] {
			continue
		}
		var keep map[int32]metastore.CommittedOffset
		expired := false
		for p, o := range parts {
			base := time.UnixMilli(o.CommitMs)
			if since.After(base) {
				base = since
			}
			if now.Sub(base) >= retention {
				expired = true
				continue
			}
			if keep == nil {
				keep = map[int32]metastore.CommittedOffset{}
			}
			keep[p] = o
		}
		if expired {
			out[topic] = keep
		}
	}
	return out
}

// expiry says which offsets of a group may expire and whether the group
// is empty: a classic group with members keeps every offset unless it
// uses the consumer protocol (then only those of unsubscribed topics
// expire, KIP-496); a KIP-848 group keeps those of its subscriptions and
// counts from each commit, as Kafka's new coordinator does.
func (c *Coordinator) expiry(g *group) (subscribed map[string]bool, since time.Time, empty, ok bool) {
	if g.otherKind == "" {
		if len(g.members) > 0 && g.protocolType != "consumer" {
			return nil, time.Time{}, false, false
		}
		if len(g.members) == 0 && g.protocolType != "" {
			since = g.stateSince
		}
		return g.subscribedTopics(), since, g.state == stateEmpty && len(g.pending) == 0, true
	}
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		return nil, time.Time{}, false, false
	}
	return cg.subscribedTopicNames(c.consumerEnv()), time.Time{}, len(cg.members) == 0, true
}

// ExpireOffsets drops the offsets past offsets.retention.minutes of every
// stored group this broker owns (owns says which), one etcd transaction
// per group, and deletes Empty groups left without offsets, as Kafka's
// offsets retention task does.
func (c *Coordinator) ExpireOffsets(ctx context.Context, owns func(group string) bool) {
	stored, err := c.store.StoredGroups(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("offset expiration: cannot list groups")
		return
	}
	for _, id := range stored {
		if !owns(id) {
			continue
		}
		g, kerrr := c.lockGroup(ctx, id, false)
		if g == nil || kerrr != nil {
			continue
		}
		c.expireGroup(ctx, g)
		g.mu.Unlock()
	}
}

func (c *Coordinator) expireGroup(ctx context.Context, g *group) {
	subscribed, since, empty, ok := c.expiry(g)
	if !ok {
		return
	}
	expired := expiredOffsets(g.offsets, subscribed, since, c.now(), c.cfg.OffsetsRetention)
	if len(expired) > 0 {
		if err := c.store.StoreGroupOffsets(ctx, g.id, expired, g.own); err != nil {
			g.storeFailed(err, "offset expiration: cannot delete offsets")
			return
		}
		n := 0
		for topic, parts := range expired {
			n += len(g.offsets[topic]) - len(parts)
			if len(parts) == 0 {
				delete(g.offsets, topic)
			} else {
				g.offsets[topic] = parts
			}
		}
		c.log.Info().Str("group", g.id).Int("offsets", n).Msg("expired committed offsets")
	}
	if empty && len(g.offsets) == 0 {
		if err := c.store.DeleteGroup(ctx, g.id, g.own); err != nil {
			g.storeFailed(err, "offset expiration: cannot delete group")
			return
		}
		g.die(kerr.CoordinatorNotAvailable)
		c.log.Info().Str("group", g.id).Msg("group deleted: empty with no offsets left")
	}
}
