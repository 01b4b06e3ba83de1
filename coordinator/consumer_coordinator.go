package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The coordinator's side of KIP-848 consumer groups (consumer.go holds
// the state machine): ConsumerGroupHeartbeat and ConsumerGroupDescribe,
// storage in etcd, timers, and the hooks through which the classic APIs
// see a consumer group.
//
// A consumer group rides on the same per-id group entry as a classic
// group (coordinator.go's lockGroup): that entry's lock guards it, the
// entry loads it and its committed offsets from the store and holds the
// ownership its writes are fenced with, and its otherKind is "consumer".
// The consumerGroup itself is in c.consumer, tied to that entry (anchor);
// an entry that was unloaded and loaded again gets the group read afresh.
//
// Storage: the whole group is one JSON document (Store.SaveGroup) with
// "kind":"consumer", written whenever a heartbeat or a timer changed what
// it holds: the epochs, the members with their subscriptions, member
// epochs and current, revoking and target assignments. A write that
// fails leaves the group as it was before the request (and the request
// answered NOT_COORDINATOR), so memory never runs ahead of etcd.

// TopicInfo is a topic as consumer groups need it.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// SetTopics gives the coordinator the cluster's topics, read on every
// consumer group heartbeat: subscriptions (names and regexes) resolve
// against them, and a topic created, deleted or grown reassigns the
// groups subscribed to it.
func (c *Coordinator) SetTopics(topics func() []TopicInfo) {
	c.mu.Lock()
	c.topics = topics
	c.mu.Unlock()
}

func (c *Coordinator) consumerEnv() *consumerEnv {
	c.mu.Lock()
	topics := c.topics
	c.mu.Unlock()
	env := &consumerEnv{topics: map[string]TopicInfo{}, assignors: c.cfg.ConsumerAssignors, maxSize: c.cfg.ConsumerMaxSize}
	if topics != nil {
		for _, t := range topics() {
			env.topics[t.Name] = t
		}
	}
	return env
}

// savedConsumerGroup is the stored document.
type savedConsumerGroup struct {
	Kind            string            `json:"kind"`
	Epoch           int32             `json:"epoch"`
	AssignmentEpoch int32             `json:"assignment_epoch"`
	MetadataHash    string            `json:"metadata_hash,omitempty"`
	Members         []*consumerMember `json:"members"`
}

func (cg *consumerGroup) encode() []byte {
	sg := savedConsumerGroup{Kind: kindConsumer, Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, MetadataHash: cg.metadataHash}
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		sg.Members = append(sg.Members, cg.members[id])
	}
	data, err := json.Marshal(sg)
	if err != nil {
		panic(err) // strings, numbers and maps with text keys only
	}
	return data
}

// decodeInto replaces the stored part of cg with data.
func (cg *consumerGroup) decodeInto(data []byte) error {
	var sg savedConsumerGroup
	if err := json.Unmarshal(data, &sg); err != nil {
		return fmt.Errorf("coordinator: malformed stored consumer group %s: %w", cg.id, err)
	}
	if sg.Kind != kindConsumer {
		return fmt.Errorf("coordinator: stored group %s is of kind %q, not %q", cg.id, sg.Kind, kindConsumer)
	}
	cg.epoch, cg.assignmentEpoch, cg.metadataHash = sg.Epoch, sg.AssignmentEpoch, sg.MetadataHash
	cg.members, cg.static = map[string]*consumerMember{}, map[string]string{}
	for _, m := range sg.Members {
		cg.members[m.ID] = m
		if m.InstanceID != "" {
			cg.static[m.InstanceID] = m.ID
		}
	}
	return nil
}

// consumerGroupOf returns the consumer group of the (locked) entry g:
// loaded from the store the first time, or, with create, a new one when
// g is no group or an empty classic one (Kafka turns an empty classic
// group into a consumer group on the first heartbeat). created says the
// group is new and not stored yet.
func (c *Coordinator) consumerGroupOf(g *group, create bool) (cg *consumerGroup, created bool, _ *groupError) {
	c.mu.Lock()
	if c.consumer == nil {
		c.consumer = map[string]*consumerGroup{}
	}
	cg = c.consumer[g.id]
	c.mu.Unlock()
	if cg != nil && cg.anchor == g && g.otherKind == kindConsumer {
		return cg, false, nil
	}
	cg = newConsumerGroup(g.id)
	cg.anchor = g
	switch {
	case g.otherKind == kindConsumer:
		// The entry read the document when it loaded; a group created
		// since has none yet (created is only set below).
		var err error
		if g.otherDoc != nil {
			err = cg.decodeInto(g.otherDoc)
		}
		if err != nil {
			c.log.Warn().Err(err).Str("group", g.id).Msg("cannot load consumer group")
			return nil, false, refuse(kerr.CoordinatorLoadInProgress, "Group %s could not be loaded.", g.id)
		}
		for id := range cg.members {
			c.armSession(cg, id)
			c.armRebalance(cg, cg.members[id])
		}
		if len(cg.members) > 0 {
			c.log.Info().Str("group", g.id).Int32("epoch", cg.epoch).Int("members", len(cg.members)).
				Str("state", cg.state()).Msg("consumer group loaded")
		}
	case g.otherKind != "":
		return nil, false, refuse(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
	case !create && g.exists():
		return nil, false, refuse(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
	case !create:
		return nil, false, refuse(kerr.GroupIDNotFound, "Group %s not found.", g.id)
	case len(g.members) > 0 || len(g.pending) > 0 || g.state != stateEmpty:
		return nil, false, refuse(kerr.GroupIDNotFound, "Group %s is a classic group with members; it cannot become a consumer group.", g.id)
	default:
		g.otherKind, created = kindConsumer, true
	}
	c.mu.Lock()
	c.consumer[g.id] = cg
	// Forget the consumer groups of entries unloaded or deleted since.
	for id, o := range c.consumer {
		if c.groups[id] != o.anchor {
			delete(c.consumer, id)
		}
	}
	c.mu.Unlock()
	return cg, created, nil
}

// dropConsumer forgets g's consumer group (it was deleted, turned classic
// or never stored).
func (c *Coordinator) dropConsumer(g *group, cg *consumerGroup) {
	for _, t := range cg.timers {
		t.stop()
	}
	c.mu.Lock()
	if c.consumer[g.id] == cg {
		delete(c.consumer, g.id)
	}
	c.mu.Unlock()
	g.otherKind = ""
}

// storeConsumer writes cg if it changed since before (its encoding). A
// failed write puts cg back as it was; fenced, the entry is unloaded.
func (c *Coordinator) storeConsumer(ctx context.Context, cg *consumerGroup, before []byte) *groupError {
	after := cg.encode()
	if bytes.Equal(before, after) {
		return nil
	}
	if err := c.store.SaveGroup(ctx, cg.id, after, cg.anchor.own); err != nil {
		cg.anchor.storeFailed(err, "cannot store consumer group")
		if derr := cg.decodeInto(before); derr != nil {
			panic(derr) // before is our own encoding
		}
		return refuse(kerr.NotCoordinator, "Group %s could not be stored.", cg.id)
	}
	return nil
}

// ConsumerGroupHeartbeat handles ConsumerGroupHeartbeat (KIP-848): join,
// heartbeat, reconcile, leave.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, host string) *kmsg.ConsumerGroupHeartbeatResponse {
	if gerr := validateHeartbeat(req, c.cfg.ConsumerAssignors); gerr != nil {
		return heartbeatError(gerr)
	}
	join := req.MemberEpoch == 0
	g, err := c.lockGroup(ctx, req.Group, join)
	switch {
	case err != nil:
		return heartbeatError(&groupError{err: err})
	case g == nil:
		return heartbeatError(refuse(kerr.GroupIDNotFound, "Group %s not found.", req.Group))
	}
	defer g.mu.Unlock()
	defer c.dropIfUnused(g)
	cg, created, gerr := c.consumerGroupOf(g, join)
	if gerr != nil {
		return heartbeatError(gerr)
	}
	memberID := req.MemberID
	if memberID == "" {
		memberID = newUUID() // v0: the coordinator names the member
	}
	before := cg.encode()
	res, gerr := cg.heartbeat(req, memberID, clientID, host, c.consumerEnv())
	if gerr == nil {
		gerr = c.storeConsumer(ctx, cg, before)
	}
	if gerr != nil {
		if created {
			c.dropConsumer(g, cg)
		}
		return heartbeatError(gerr)
	}
	c.afterHeartbeat(cg, res)
	res.resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	return res.resp
}

func heartbeatError(e *groupError) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.ErrorCode = e.err.Code
	if e.msg != "" {
		msg := e.msg
		resp.ErrorMessage = &msg
	}
	return resp
}

// afterHeartbeat arms and stops timers and logs what changed.
func (c *Coordinator) afterHeartbeat(cg *consumerGroup, res heartbeatResult) {
	for _, id := range []string{res.replaced, res.removed} {
		if t := cg.timers[id]; id != "" && t != nil {
			t.stop()
			delete(cg.timers, id)
		}
	}
	if res.replaced != "" {
		c.log.Info().Str("group", cg.id).Str("member", res.member.ID).Str("replaced", res.replaced).
			Msg("static member rejoined the consumer group")
	}
	if res.removed != "" {
		c.log.Info().Str("group", cg.id).Str("member", res.removed).Int32("epoch", cg.epoch).
			Msg("member left the consumer group")
	}
	if m := res.member; m != nil {
		c.armSession(cg, m.ID)
		c.armRebalance(cg, m)
	}
}

func (cg *consumerGroup) timersOf(id string) *timers {
	t := cg.timers[id]
	if t == nil {
		t = &timers{}
		cg.timers[id] = t
	}
	return t
}

// armSession (re)starts a member's session: without a heartbeat for
// group.consumer.session.timeout.ms it is fenced.
func (c *Coordinator) armSession(cg *consumerGroup, id string) {
	t := cg.timersOf(id)
	if t.session != nil {
		t.session.Stop()
	}
	t.sessionSeq++
	seq := t.sessionSeq
	t.session = c.afterFunc(cg.anchor, c.cfg.ConsumerSessionTimeout, func() {
		c.fenceOnTimer(cg, id, func(t *timers, _ *consumerMember) bool { return t.sessionSeq == seq }, "session expired")
	})
}

// armRebalance starts the rebalance timeout of a member that must revoke
// partitions: still revoking at the same epoch after its rebalance
// timeout, it is fenced. A member that is not revoking has none.
func (c *Coordinator) armRebalance(cg *consumerGroup, m *consumerMember) {
	t := cg.timersOf(m.ID)
	if m.State != memberUnrevoked {
		if t.rebalance != nil {
			t.rebalance.Stop()
			t.rebalance = nil
			t.rebalanceSeq++
		}
		return
	}
	if t.rebalance != nil && t.rebalanceEpoch == m.Epoch {
		return
	}
	if t.rebalance != nil {
		t.rebalance.Stop()
	}
	t.rebalanceSeq++
	seq, epoch, id := t.rebalanceSeq, m.Epoch, m.ID
	t.rebalanceEpoch = epoch
	d := time.Duration(m.RebalanceTimeoutMs) * time.Millisecond
	t.rebalance = c.afterFunc(cg.anchor, d, func() {
		c.fenceOnTimer(cg, id, func(t *timers, m *consumerMember) bool {
			return t.rebalanceSeq == seq && m.State == memberUnrevoked && m.Epoch == epoch
		}, "did not revoke its partitions within its rebalance timeout")
	})
}

// fenceOnTimer removes a member when its timer fires (under the group's
// lock) and still applies. A write that fails is tried again a second
// later.
func (c *Coordinator) fenceOnTimer(cg *consumerGroup, id string, applies func(*timers, *consumerMember) bool, reason string) {
	c.mu.Lock()
	current := c.consumer[cg.id] == cg
	c.mu.Unlock()
	t, m := cg.timers[id], cg.members[id]
	if !current || t == nil || m == nil || !applies(t, m) {
		return
	}
	before := cg.encode()
	cg.remove(id, c.consumerEnv())
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if gerr := c.storeConsumer(ctx, cg, before); gerr != nil {
		c.afterFunc(cg.anchor, time.Second, func() { c.fenceOnTimer(cg, id, applies, reason) })
		return
	}
	t.stop()
	delete(cg.timers, id)
	c.log.Info().Str("group", cg.id).Str("member", id).Str("reason", reason).Int32("epoch", cg.epoch).
		Msg("member fenced from the consumer group")
}

// lockConsumer returns the loaded consumer group of id, its entry locked,
// or nil (entry unlocked) when id is no consumer group.
func (c *Coordinator) lockConsumer(ctx context.Context, id string) (*consumerGroup, *groupError) {
	g, err := c.lockGroup(ctx, id, false)
	switch {
	case err != nil:
		return nil, &groupError{err: err}
	case g == nil:
		return nil, refuse(kerr.GroupIDNotFound, "Group %s not found.", id)
	}
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		g.mu.Unlock()
		return nil, gerr
	}
	return cg, nil
}

// DescribeConsumerGroup answers one group of a ConsumerGroupDescribe.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, id string) kmsg.ConsumerGroupDescribeResponseGroup {
	cg, gerr := c.lockConsumer(ctx, id)
	if gerr != nil {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.ErrorCode = id, gerr.err.Code
		if gerr.msg != "" {
			msg := gerr.msg
			dg.ErrorMessage = &msg
		}
		return dg
	}
	defer cg.anchor.mu.Unlock()
	return cg.describe(c.consumerEnv())
}

// CheckConsumerOffsetFetch checks an OffsetFetch's member id and epoch
// (v9+) when the group is a consumer group: UNKNOWN_MEMBER_ID for a
// member not in it, STALE_MEMBER_EPOCH for one at another epoch. Other
// groups are not checked.
func (c *Coordinator) CheckConsumerOffsetFetch(ctx context.Context, group string, memberID *string, epoch int32) *kerr.Error {
	if memberID == nil && epoch < 0 {
		return nil
	}
	g, err := c.lockGroup(ctx, group, false)
	if err != nil || g == nil {
		return err
	}
	defer g.mu.Unlock()
	if g.otherKind != kindConsumer {
		return nil
	}
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		return gerr.err
	}
	return cg.validateFetch(memberID, epoch)
}

// Hooks for coordinator.go's classic APIs, called with g locked and
// g.otherKind == kindConsumer (unless said otherwise).

// commitConsumer validates an OffsetCommit to a consumer group.
func (c *Coordinator) commitConsumer(g *group, memberID string, epoch int32, commits []OffsetCommit) *kerr.Error {
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		return gerr.err
	}
	return cg.validateCommit(memberID, epoch, commits, c.consumerEnv())
}

// consumerSummary is a consumer group as ListGroups shows it.
func (c *Coordinator) consumerSummary(g *group) (GroupSummary, bool) {
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		return GroupSummary{}, false
	}
	return GroupSummary{ID: g.id, State: cg.state(), ProtocolType: kindConsumer, Type: kindConsumer}, true
}

// consumerDeletable refuses DeleteGroups of a consumer group with members.
func (c *Coordinator) consumerDeletable(g *group) *kerr.Error {
	cg, _, gerr := c.consumerGroupOf(g, false)
	switch {
	case gerr != nil:
		return gerr.err
	case len(cg.members) > 0:
		return kerr.NonEmptyGroup
	}
	return nil
}

// consumerSubscribed is every topic the consumer group subscribes to
// (OffsetDelete refuses those: GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) consumerSubscribed(g *group) map[string]bool {
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil {
		return map[string]bool{}
	}
	return cg.subscribedTopicNames(c.consumerEnv())
}

// releaseEmptyConsumer lets a classic JoinGroup take over an empty
// consumer group, as Kafka does; a consumer group with members refuses
// it (INCONSISTENT_GROUP_PROTOCOL). Called for any g.otherKind.
func (c *Coordinator) releaseEmptyConsumer(g *group) bool {
	if g.otherKind != kindConsumer {
		return false
	}
	cg, _, gerr := c.consumerGroupOf(g, false)
	if gerr != nil || len(cg.members) > 0 {
		return false
	}
	c.dropConsumer(g, cg)
	c.log.Info().Str("group", g.id).Msg("empty consumer group turned into a classic group")
	return true
}

// errNotClassic is DescribeGroups' answer for a consumer group: Kafka
// describes only classic groups there (GROUP_ID_NOT_FOUND from v6, state
// Dead before).
var errNotClassic = fmt.Errorf("%w: it is a consumer group (ConsumerGroupDescribe describes it)", ErrGroupNotFound)
