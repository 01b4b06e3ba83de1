package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
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

// Store is where groups and their committed offsets live (the etcd
// metadata store). Writes are made under the ownership the group was
// loaded with and fail with metastore.ErrFenced once it is stale.
type Store interface {
	LoadGroup(ctx context.Context, group string) ([]byte, error)
	SaveGroup(ctx context.Context, group string, data []byte, own metastore.Ownership) error
	LoadGroupOffsets(ctx context.Context, group string) (map[string]map[int32]metastore.CommittedOffset, error)
	StoreGroupOffsets(ctx context.Context, group string, byTopic map[string]map[int32]metastore.CommittedOffset, own metastore.Ownership) error
	DeleteGroup(ctx context.Context, group string, own metastore.Ownership) error
	StoredGroups(ctx context.Context) ([]string, error)
	LoadPendingTxnOffsets(ctx context.Context, shard int32, pid int64) ([]metastore.PendingTxnOffsets, error)
	StorePendingTxnOffsets(ctx context.Context, shard int32, p metastore.PendingTxnOffsets, own metastore.Ownership) error
	CompleteTxnOffsets(ctx context.Context, shard int32, pid int64, group string, byTopic map[string]map[int32]metastore.CommittedOffset, own metastore.Ownership) error
}

// Ownership says which coordinator shard leadership a group is loaded
// under (its partition of __consumer_offsets and that partition's leader
// and epoch); the zero Ownership fences nothing.
type Ownership func(group string) metastore.Ownership

// Config holds the group settings, with Kafka's names and defaults.
type Config struct {
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int           // group.max.size
	MaxMetadataBytes      int           // offset.metadata.max.bytes
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms

	// KIP-848 consumer groups (consumer.go).
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerAssignors         []string      // group.consumer.assignors; the first is the default
	ConsumerMaxSize           int           // group.consumer.max.size
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay: 3 * time.Second,
		MinSessionTimeout:     6 * time.Second,
		MaxSessionTimeout:     30 * time.Minute,
		MaxSize:               math.MaxInt32,
		MaxMetadataBytes:      4096,
		OffsetsRetention:      7 * 24 * time.Hour,
		RetentionCheck:        10 * time.Minute,

		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerAssignors:         []string{"uniform", "range"},
		ConsumerMaxSize:           math.MaxInt32,
	}
}

// Coordinator owns the groups this broker coordinates.
type Coordinator struct {
	cfg       Config
	store     Store
	ownership Ownership
	log       zerolog.Logger
	now       func() time.Time

	mu     sync.Mutex
	groups map[string]*group
	closed bool

	// KIP-848 consumer groups (consumer_coordinator.go): each guarded by
	// its group entry's lock; the map and topics by mu.
	consumer map[string]*consumerGroup
	topics   func() []TopicInfo
}

// New returns a coordinator keeping groups in store under the ownership
// own gives (nil: unfenced).
func New(cfg Config, store Store, own Ownership, logger zerolog.Logger) *Coordinator {
	if own == nil {
		own = func(string) metastore.Ownership { return metastore.Ownership{} }
	}
	return &Coordinator{
		cfg:       cfg,
		store:     store,
		ownership: own,
		log:       logger.With().Str("component", "coordinator").Logger(),
		now:       time.Now,
		groups:    map[string]*group{},
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

// Unload forgets the groups loaded under an ownership that no longer
// holds (another broker leads their shard, or this one again at a later
// epoch): their waiting members are answered NOT_COORDINATOR and find the
// new owner, which loads the group from etcd.
func (c *Coordinator) Unload() {
	c.unload(func(g *group) bool { return g.own != c.ownership(g.id) }, kerr.NotCoordinator)
}

func (c *Coordinator) unloadAll(err *kerr.Error) {
	c.unload(func(*group) bool { return true }, err)
}

func (c *Coordinator) unload(gone func(g *group) bool, err *kerr.Error) {
	c.mu.Lock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		if g.state == stateDead || !g.loaded || !gone(g) {
			g.mu.Unlock()
			continue
		}
		g.die(err)
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

// lockGroup returns the group locked, loaded from the store the first
// time this coordinator sees it. Without create, a group that neither runs
// here nor is stored is nil. The error is for a group that cannot be
// loaded (or a closed coordinator).
func (c *Coordinator) lockGroup(ctx context.Context, id string, create bool) (*group, *kerr.Error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, kerr.CoordinatorNotAvailable
		}
		g := c.groups[id]
		if g == nil {
			g = newGroup(c, id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state == stateDead {
			g.mu.Unlock() // deleted or unloaded meanwhile: look again
			continue
		}
		if !g.loaded {
			if err := g.load(ctx); err != nil {
				c.log.Warn().Err(err).Str("group", id).Msg("cannot load group")
				g.die(kerr.CoordinatorLoadInProgress)
				g.mu.Unlock()
				return nil, kerr.CoordinatorLoadInProgress
			}
		}
		if !create && !g.exists() {
			g.die(kerr.GroupIDNotFound) // nobody waits on a group that does not exist
			g.mu.Unlock()
			return nil, nil
		}
		return g, nil
	}
}

// exists reports whether the group has anything: members, a stored
// state, committed offsets, or a member id handed out.
func (g *group) exists() bool {
	return len(g.members) > 0 || g.stored || g.otherKind != "" || len(g.offsets) > 0 || len(g.pending) > 0 || len(g.txnOffsets) > 0
}

// Join handles JoinGroup; respond is called once, maybe later.
func (c *Coordinator) Join(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, host string, respond func(*kmsg.JoinGroupResponse)) {
	if req.Group == "" {
		respond(joinError(req.MemberID, kerr.InvalidGroupID))
		return
	}
	g, err := c.lockGroup(ctx, req.Group, true)
	if err != nil {
		respond(joinError(req.MemberID, err))
		return
	}
	defer g.mu.Unlock()
	if g.otherKind != "" && !c.releaseEmptyConsumer(g) { // KIP-848: only an empty consumer group turns classic
		respond(joinError(req.MemberID, kerr.InconsistentGroupProtocol))
		return
	}
	g.join(req, clientID, host, respond)
}

// lockClassic returns a classic group that exists, locked, or the error a
// member of no such group gets.
func (c *Coordinator) lockClassic(ctx context.Context, id string) (*group, *kerr.Error) {
	g, err := c.lockGroup(ctx, id, false)
	switch {
	case err != nil:
		return nil, err
	case g == nil:
		return nil, kerr.UnknownMemberID
	case g.otherKind != "":
		g.mu.Unlock()
		return nil, kerr.UnknownMemberID
	}
	return g, nil
}

// Sync handles SyncGroup; respond is called once, maybe later.
func (c *Coordinator) Sync(ctx context.Context, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	g, err := c.lockClassic(ctx, req.Group)
	if err != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = err.Code
		respond(resp)
		return
	}
	defer g.mu.Unlock()
	g.sync(req, respond)
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kerr.Error {
	g, err := c.lockClassic(ctx, req.Group)
	if err != nil {
		return err
	}
	defer g.mu.Unlock()
	return g.heartbeat(req)
}

// Leave handles one member of a LeaveGroup.
func (c *Coordinator) Leave(ctx context.Context, groupID, memberID string, instance *string) *kerr.Error {
	g, err := c.lockClassic(ctx, groupID)
	if err != nil {
		return err
	}
	defer g.mu.Unlock()
	return g.leave(memberID, instance)
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
	g, err := c.lockGroup(ctx, groupID, generation < 0)
	switch {
	case err != nil:
		return err
	case g == nil:
		return kerr.IllegalGeneration
	}
	defer g.mu.Unlock()
	switch {
	case g.otherKind != "":
		// KIP-848: member id and member epoch (consumer_coordinator.go).
		if err := c.commitConsumer(g, memberID, generation, commits); err != nil {
			return err
		}
	case generation < 0 && memberID == "" && len(g.members) == 0:
		// A standalone consumer storing its position.
	case g.state == stateCompleting:
		return kerr.RebalanceInProgress
	default:
		if _, err := g.checkMember(memberID, instance, generation); err != nil {
			return err
		}
	}
	defer c.dropIfUnused(g)
	changed := map[string]map[int32]metastore.CommittedOffset{}
	c.stageCommits(changed, g.offsets, commits)
	if len(changed) == 0 {
		return nil
	}
	if err := c.store.StoreGroupOffsets(ctx, groupID, changed, g.own); err != nil {
		failed := g.storeFailed(err, "cannot store committed offsets")
		for i := range commits {
			if commits[i].Err == nil {
				commits[i].Err = failed
			}
		}
		return nil
	}
	for topic, parts := range changed {
		g.offsets[topic] = parts
	}
	return nil
}

// stageCommits puts the commits not already refused into dst, refusing
// those with too much metadata. A topic's map in dst starts as a copy of
// its map in base the first time a commit touches it.
func (c *Coordinator) stageCommits(dst, base map[string]map[int32]metastore.CommittedOffset, commits []OffsetCommit) {
	now := c.now().UnixMilli()
	for i := range commits {
		oc := &commits[i]
		if oc.Err != nil {
			continue
		}
		if oc.Metadata != nil && len(*oc.Metadata) > c.cfg.MaxMetadataBytes {
			oc.Err = kerr.OffsetMetadataTooLarge
			continue
		}
		parts := dst[oc.Topic]
		if parts == nil {
			parts = make(map[int32]metastore.CommittedOffset, len(base[oc.Topic])+1)
			maps.Copy(parts, base[oc.Topic])
			dst[oc.Topic] = parts
		}
		meta := ""
		if oc.Metadata != nil {
			meta = *oc.Metadata
		}
		parts[oc.Partition] = metastore.CommittedOffset{Offset: oc.Offset, LeaderEpoch: oc.Epoch, Metadata: meta, CommitMs: now}
	}
}

// FetchedOffset is one partition's committed offset; Offset -1 when none.
type FetchedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
	Epoch     int32
	Metadata  string
	// Err is UNSTABLE_OFFSET_COMMIT for a partition with a transactional
	// commit still open, when the fetch requires stable offsets (KIP-447).
	Err *kerr.Error
}

// Fetch returns committed offsets: of the partitions asked for, or of
// every partition when topics is nil. requireStable refuses partitions
// with offsets committed in a transaction still open.
func (c *Coordinator) Fetch(ctx context.Context, groupID string, topics map[string][]int32, requireStable bool) ([]FetchedOffset, *kerr.Error) {
	g, err := c.lockGroup(ctx, groupID, true)
	if err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	defer c.dropIfUnused(g)
	var out []FetchedOffset
	add := func(topic string, p int32) {
		f := FetchedOffset{Topic: topic, Partition: p, Offset: -1, Epoch: -1}
		if o, ok := g.offsets[topic][p]; ok {
			f.Offset, f.Epoch, f.Metadata = o.Offset, o.LeaderEpoch, o.Metadata
		}
		if requireStable && g.hasTxnOffset(topic, p) {
			f.Offset, f.Epoch, f.Metadata, f.Err = -1, -1, "", kerr.UnstableOffsetCommit
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
	if g.state != stateEmpty || g.exists() {
		return
	}
	g.die(kerr.GroupIDNotFound) // nobody waits on an unused group
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
	Type         string // ListGroups v5 GroupType: "consumer" for KIP-848 groups, else classic
}

// List returns the groups owns says this coordinator owns: those in
// memory and those stored in etcd (loaded to show their state).
func (c *Coordinator) List(ctx context.Context, owns func(group string) bool) ([]GroupSummary, error) {
	stored, err := c.store.StoredGroups(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for id := range c.groups {
		stored = append(stored, id)
	}
	c.mu.Unlock()
	slices.Sort(stored)
	out := make([]GroupSummary, 0, len(stored))
	for _, id := range slices.Compact(stored) {
		if !owns(id) {
			continue
		}
		g, err := c.lockGroup(ctx, id, false)
		if err != nil {
			return nil, err
		}
		if g == nil {
			continue
		}
		if g.otherKind == "" {
			out = append(out, GroupSummary{ID: id, State: g.state.String(), ProtocolType: g.protocolType})
		} else if s, ok := c.consumerSummary(g); ok { // KIP-848
			out = append(out, s)
		}
		g.mu.Unlock()
	}
	return out, nil
}

// ErrGroupNotFound is returned for a group that neither runs here nor is
// stored.
var ErrGroupNotFound = errors.New("coordinator: group not found")

// Describe returns a group with its members; metadata and assignments are
// shown once the group is Stable, as Kafka does.
func (c *Coordinator) Describe(ctx context.Context, id string) (GroupSummary, error) {
	g, kerrr := c.lockGroup(ctx, id, false)
	if kerrr != nil {
		return GroupSummary{}, kerrr
	}
	if g == nil {
		return GroupSummary{ID: id, State: stateDead.String()}, ErrGroupNotFound
	}
	defer g.mu.Unlock()
	if g.otherKind != "" { // KIP-848 consumer group: Kafka describes classic groups only here
		return GroupSummary{ID: id, State: stateDead.String()}, errNotClassic
	}
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
	g, err := c.lockGroup(ctx, id, false)
	switch {
	case err != nil:
		return err
	case g == nil:
		return kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 || g.state != stateEmpty {
		return kerr.NonEmptyGroup
	}
	if g.otherKind != "" { // KIP-848: a consumer group must be Empty
		if err := c.consumerDeletable(g); err != nil {
			return err
		}
	}
	if err := c.store.DeleteGroup(ctx, id, g.own); err != nil {
		return g.storeFailed(err, "cannot delete group")
	}
	g.die(kerr.CoordinatorNotAvailable)
	c.log.Info().Str("group", id).Msg("group deleted")
	return nil
}

// DeleteOffsets removes committed offsets of the given partitions, unless
// the group's members subscribe to the topic (GROUP_SUBSCRIBED_TO_TOPIC,
// per partition in errs).
func (c *Coordinator) DeleteOffsets(ctx context.Context, id string, topics map[string][]int32) (map[string]*kerr.Error, *kerr.Error) {
	g, err := c.lockGroup(ctx, id, false)
	switch {
	case err != nil:
		return nil, err
	case g == nil:
		return nil, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 && g.protocolType != "consumer" {
		return nil, kerr.NonEmptyGroup
	}
	subscribed := g.subscribedTopics()
	if g.otherKind != "" { // KIP-848
		subscribed = c.consumerSubscribed(g)
	}
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
	if err := c.store.StoreGroupOffsets(ctx, id, changed, g.own); err != nil {
		return nil, g.storeFailed(err, "cannot delete offsets")
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
		var sub kmsg.ConsumerMemberMetadata
		if err := sub.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range sub.Topics {
			out[t] = true
		}
	}
	return out
}
