package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
)

// Store is where committed offsets live (the etcd metadata store).
type Store interface {
	LoadGroupOffsets(ctx context.Context, group string) (map[string]map[int32]metastore.CommittedOffset, error)
	StoreGroupOffsets(ctx context.Context, group string, byTopic map[string]map[int32]metastore.CommittedOffset) error
	DeleteGroup(ctx context.Context, group string) error
	StoredGroups(ctx context.Context) ([]string, error)
}

// Config holds the group settings, with Kafka's names and defaults.
type Config struct {
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int           // group.max.size
	MaxMetadataBytes      int           // offset.metadata.max.bytes
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay: 3 * time.Second,
		MinSessionTimeout:     6 * time.Second,
		MaxSessionTimeout:     30 * time.Minute,
		MaxSize:               math.MaxInt32,
		MaxMetadataBytes:      4096,
	}
}

// Coordinator owns the groups this broker coordinates.
type Coordinator struct {
	cfg   Config
	store Store
	log   zerolog.Logger
	now   func() time.Time

	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

// New returns a coordinator keeping offsets in store.
func New(cfg Config, store Store, logger zerolog.Logger) *Coordinator {
	return &Coordinator{
		cfg:    cfg,
		store:  store,
		log:    logger.With().Str("component", "coordinator").Logger(),
		now:    time.Now,
		groups: map[string]*group{},
	}
}

// Close stops every timer; waiting requests are answered
// COORDINATOR_NOT_AVAILABLE so their clients go find the coordinator again.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.unloadAll(kerr.CoordinatorNotAvailable)
}

// Unload forgets the groups gone says this coordinator no longer owns:
// their waiting members are answered NOT_COORDINATOR and find the new
// owner, which reads the offsets from etcd.
func (c *Coordinator) Unload(gone func(group string) bool) {
	c.unload(gone, kerr.NotCoordinator)
}

func (c *Coordinator) unloadAll(err *kerr.Error) {
	c.unload(func(string) bool { return true }, err)
}

func (c *Coordinator) unload(gone func(group string) bool, err *kerr.Error) {
	c.mu.Lock()
	var unload []*group
	for id, g := range c.groups {
		if gone(id) {
			unload = append(unload, g)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	for _, g := range unload {
		g.mu.Lock()
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
		g.mu.Unlock()
		if err == kerr.NotCoordinator {
			c.log.Info().Str("group", g.id).Msg("group unloaded: another broker coordinates it now")
		}
	}
}

// afterFunc runs fn after d under the group's lock, unless the coordinator
// closed or the group died meanwhile.
func (c *Coordinator) afterFunc(g *group, d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == stateDead {
			return
		}
		fn()
	})
}

func (c *Coordinator) newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

// lockGroup returns the group locked, creating it when create is set; nil
// when it does not exist (or the coordinator is closed).
func (c *Coordinator) lockGroup(id string, create bool) *group {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		g := c.groups[id]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			g = newGroup(c, id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g
		}
		g.mu.Unlock() // deleted meanwhile: look again
	}
}

// Join handles JoinGroup; respond is called once, maybe later.
func (c *Coordinator) Join(req *kmsg.JoinGroupRequest, clientID, host string, respond func(*kmsg.JoinGroupResponse)) {
	if req.Group == "" {
		respond(joinError(req.MemberID, kerr.InvalidGroupID))
		return
	}
	g := c.lockGroup(req.Group, true)
	if g == nil {
		respond(joinError(req.MemberID, kerr.CoordinatorNotAvailable))
		return
	}
	defer g.mu.Unlock()
	g.join(req, clientID, host, respond)
}

// Sync handles SyncGroup; respond is called once, maybe later.
func (c *Coordinator) Sync(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = kerr.UnknownMemberID.Code
		respond(resp)
		return
	}
	defer g.mu.Unlock()
	g.sync(req, respond)
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	return g.heartbeat(req)
}

// Leave handles one member of a LeaveGroup.
func (c *Coordinator) Leave(groupID, memberID string, instance *string) *kerr.Error {
	g := c.lockGroup(groupID, false)
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	return g.leave(memberID, instance)
}

// loadOffsets reads the group's committed offsets once.
func (g *group) loadOffsets(ctx context.Context) error {
	if g.offsetsLoaded {
		return nil
	}
	offsets, err := g.c.store.LoadGroupOffsets(ctx, g.id)
	if err != nil {
		return err
	}
	g.offsets, g.offsetsLoaded = offsets, true
	return nil
}

// OffsetCommit is one partition of a commit.
type OffsetCommit struct {
	Topic     string
	Partition int32
	Offset    int64
	Epoch     int32
	Metadata  *string
	Err       *kerr.Error // set by the caller for partitions it refused (unknown topic...)
}

// Commit stores offsets for a group member or, with generation < 0 and no
// member id, a standalone consumer (allowed only while the group has no
// members). It returns a request-level error, or nil and the per-partition
// errors in commits. All accepted partitions go to etcd in one write.
func (c *Coordinator) Commit(ctx context.Context, groupID, memberID string, instance *string, generation int32, commits []OffsetCommit) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	g := c.lockGroup(groupID, generation < 0)
	if g == nil {
		if generation < 0 {
			return kerr.CoordinatorNotAvailable
		}
		return kerr.IllegalGeneration
	}
	defer g.mu.Unlock()
	switch {
	case generation < 0 && memberID == "" && len(g.members) == 0:
		// A standalone consumer storing its position.
	case g.state == stateCompleting:
		return kerr.RebalanceInProgress
	default:
		if _, err := g.checkMember(memberID, instance, generation); err != nil {
			return err
		}
	}
	if err := g.loadOffsets(ctx); err != nil {
		c.log.Warn().Err(err).Str("group", groupID).Msg("cannot load committed offsets")
		return kerr.CoordinatorLoadInProgress
	}
	defer c.dropIfUnused(g)
	now := c.now().UnixMilli()
	changed := map[string]map[int32]metastore.CommittedOffset{}
	for i := range commits {
		oc := &commits[i]
		if oc.Err != nil {
			continue
		}
		if oc.Metadata != nil && len(*oc.Metadata) > c.cfg.MaxMetadataBytes {
			oc.Err = kerr.OffsetMetadataTooLarge
			continue
		}
		parts := changed[oc.Topic]
		if parts == nil {
			parts = make(map[int32]metastore.CommittedOffset, len(g.offsets[oc.Topic])+1)
			for p, o := range g.offsets[oc.Topic] {
				parts[p] = o
			}
			changed[oc.Topic] = parts
		}
		meta := ""
		if oc.Metadata != nil {
			meta = *oc.Metadata
		}
		parts[oc.Partition] = metastore.CommittedOffset{Offset: oc.Offset, LeaderEpoch: oc.Epoch, Metadata: meta, CommitMs: now}
	}
	if len(changed) == 0 {
		return nil
	}
	if err := c.store.StoreGroupOffsets(ctx, groupID, changed); err != nil {
		c.log.Warn().Err(err).Str("group", groupID).Msg("cannot store committed offsets")
		for i := range commits {
			if commits[i].Err == nil {
				commits[i].Err = kerr.CoordinatorNotAvailable
			}
		}
		return nil
	}
	for topic, parts := range changed {
		g.offsets[topic] = parts
	}
	return nil
}

// FetchedOffset is one partition's committed offset; Offset -1 when none.
type FetchedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
	Epoch     int32
	Metadata  string
}

// Fetch returns committed offsets: of the partitions asked for, or of
// every partition when topics is nil.
func (c *Coordinator) Fetch(ctx context.Context, groupID string, topics map[string][]int32) ([]FetchedOffset, *kerr.Error) {
	g := c.lockGroup(groupID, true)
	if g == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	defer g.mu.Unlock()
	if err := g.loadOffsets(ctx); err != nil {
		c.log.Warn().Err(err).Str("group", groupID).Msg("cannot load committed offsets")
		return nil, kerr.CoordinatorLoadInProgress
	}
	defer c.dropIfUnused(g)
	var out []FetchedOffset
	add := func(topic string, p int32) {
		f := FetchedOffset{Topic: topic, Partition: p, Offset: -1, Epoch: -1}
		if o, ok := g.offsets[topic][p]; ok {
			f.Offset, f.Epoch, f.Metadata = o.Offset, o.LeaderEpoch, o.Metadata
		}
		out = append(out, f)
	}
	if topics == nil {
		for _, topic := range sortedKeys(g.offsets) {
			parts := g.offsets[topic]
			ps := make([]int32, 0, len(parts))
			for p := range parts {
				ps = append(ps, p)
			}
			slices.Sort(ps)
			for _, p := range ps {
				add(topic, p)
			}
		}
		return out, nil
	}
	for _, topic := range sortedKeys(topics) {
		for _, p := range topics[topic] {
			add(topic, p)
		}
	}
	return out, nil
}

// dropIfUnused forgets an in-memory group that has neither members nor
// offsets (made by a fetch or commit that stored nothing). Called locked.
func (c *Coordinator) dropIfUnused(g *group) {
	if g.state != stateEmpty || len(g.members) > 0 || len(g.pending) > 0 || len(g.offsets) > 0 {
		return
	}
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
	g.state = stateDead
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// GroupSummary is a group as ListGroups and DescribeGroups show it.
type GroupSummary struct {
	ID           string
	State        string
	ProtocolType string
	Protocol     string
	Members      []kmsg.DescribeGroupsResponseGroupMember
}

// List returns every group: those in memory and those with stored offsets
// (Empty).
func (c *Coordinator) List(ctx context.Context) ([]GroupSummary, error) {
	stored, err := c.store.StoredGroups(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	ids := make(map[string]*group, len(c.groups))
	for id, g := range c.groups {
		ids[id] = g
	}
	c.mu.Unlock()
	for _, id := range stored {
		if _, ok := ids[id]; !ok {
			ids[id] = nil
		}
	}
	out := make([]GroupSummary, 0, len(ids))
	for _, id := range sortedKeys(ids) {
		g := ids[id]
		if g == nil {
			out = append(out, GroupSummary{ID: id, State: stateEmpty.String()})
			continue
		}
		g.mu.Lock()
		if g.state != stateDead {
			out = append(out, GroupSummary{ID: id, State: g.state.String(), ProtocolType: g.protocolType})
		}
		g.mu.Unlock()
	}
	return out, nil
}

// ErrGroupNotFound is returned for a group that neither runs here nor has
// stored offsets.
var ErrGroupNotFound = errors.New("coordinator: group not found")

// Describe returns a group with its members; metadata and assignments are
// shown once the group is Stable, as Kafka does.
func (c *Coordinator) Describe(ctx context.Context, id string) (GroupSummary, error) {
	g := c.lockGroup(id, false)
	if g == nil {
		stored, err := c.store.StoredGroups(ctx)
		if err != nil {
			return GroupSummary{}, err
		}
		if slices.Contains(stored, id) {
			return GroupSummary{ID: id, State: stateEmpty.String()}, nil
		}
		return GroupSummary{ID: id, State: stateDead.String()}, ErrGroupNotFound
	}
	defer g.mu.Unlock()
	s := GroupSummary{ID: id, State: g.state.String(), ProtocolType: g.protocolType}
	if g.state == stateStable {
		s.Protocol = g.protocol
	}
	for _, mid := range g.order {
		m := g.members[mid]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.host
		if m.instanceID != "" {
			inst := m.instanceID
			dm.InstanceID = &inst
		}
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if g.state == stateStable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		s.Members = append(s.Members, dm)
	}
	return s, nil
}

// Delete removes an empty group and its offsets.
func (c *Coordinator) Delete(ctx context.Context, id string) *kerr.Error {
	g := c.lockGroup(id, true)
	if g == nil {
		return kerr.CoordinatorNotAvailable
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 || g.state != stateEmpty {
		return kerr.NonEmptyGroup
	}
	if err := g.loadOffsets(ctx); err != nil {
		return kerr.CoordinatorLoadInProgress
	}
	if len(g.offsets) == 0 && g.generation == 0 {
		c.dropIfUnused(g)
		return kerr.GroupIDNotFound
	}
	if err := c.store.DeleteGroup(ctx, id); err != nil {
		c.log.Warn().Err(err).Str("group", id).Msg("cannot delete group")
		return kerr.CoordinatorNotAvailable
	}
	g.offsets = map[string]map[int32]metastore.CommittedOffset{}
	c.mu.Lock()
	if c.groups[id] == g {
		delete(c.groups, id)
	}
	c.mu.Unlock()
	g.state = stateDead
	c.log.Info().Str("group", id).Msg("group deleted")
	return nil
}

// DeleteOffsets removes committed offsets of the given partitions, unless
// the group's members subscribe to the topic (GROUP_SUBSCRIBED_TO_TOPIC,
// per partition in errs).
func (c *Coordinator) DeleteOffsets(ctx context.Context, id string, topics map[string][]int32) (map[string]*kerr.Error, *kerr.Error) {
	g := c.lockGroup(id, false)
	if g == nil {
		stored, err := c.store.StoredGroups(ctx)
		if err != nil || !slices.Contains(stored, id) {
			return nil, kerr.GroupIDNotFound
		}
		if g = c.lockGroup(id, true); g == nil {
			return nil, kerr.CoordinatorNotAvailable
		}
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 && g.protocolType != "consumer" {
		return nil, kerr.NonEmptyGroup
	}
	if err := g.loadOffsets(ctx); err != nil {
		return nil, kerr.CoordinatorLoadInProgress
	}
	subscribed := g.subscribedTopics()
	errs := map[string]*kerr.Error{}
	changed := map[string]map[int32]metastore.CommittedOffset{}
	for topic, parts := range topics {
		if subscribed[topic] {
			errs[topic] = kerr.GroupSubscribedToTopic
			continue
		}
		cur := g.offsets[topic]
		if len(cur) == 0 {
			continue
		}
		next := make(map[int32]metastore.CommittedOffset, len(cur))
		for p, o := range cur {
			if !slices.Contains(parts, p) {
				next[p] = o
			}
		}
		changed[topic] = next
	}
	if err := c.store.StoreGroupOffsets(ctx, id, changed); err != nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	for topic, parts := range changed {
		if len(parts) == 0 {
			delete(g.offsets, topic)
		} else {
			g.offsets[topic] = parts
		}
	}
	return errs, nil
}

// subscribedTopics reads the consumer protocol subscriptions of the
// members.
func (g *group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		meta := m.metadataFor(g.protocol)
		var sub kmsg.ConsumerMemberMetadata
		if err := sub.ReadFrom(meta); err != nil {
			continue
		}
		for _, t := range sub.Topics {
			out[t] = true
		}
	}
	return out
}
