package coordinator

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 consumer groups: the group state machine, driven by
// ConsumerGroupHeartbeat. It has no I/O, no timers and no locks of its
// own; consumer_coordinator.go runs it under the group's lock, stores it
// and arms the session and rebalance timers. As in Apache Kafka:
//
//   - The group epoch rises whenever the membership or the subscribed
//     topics' metadata changes. When it passes the assignment epoch, the
//     server assignor computes a new target assignment for every member and
//     the assignment epoch catches up.
//   - Each member reconciles toward its target at its own pace. A member
//     first gives up the partitions it loses (UNREVOKED_PARTITIONS: its
//     epoch stays until it reports them gone), then moves to the target
//     epoch and takes the partitions that are free; partitions another
//     member still holds are handed over on a later heartbeat, once
//     released (UNRELEASED_PARTITIONS). A partition is never given to
//     two members at once.
//   - A member leaves with epoch -1 (its partitions are free at once) or,
//     if static, -2: it keeps its assignment for the session timeout, and
//     the same instance id joining again takes it back.

// Member epochs with a meaning of their own.
const (
	leaveEpoch       = -1 // a member leaving
	staticLeaveEpoch = -2 // a static member leaving for a while
)

const kindConsumer = "consumer"

// memberState is how far a member is from its target assignment, named as
// Kafka names it.
type memberState int8

const (
	memberStable     memberState = iota // at its target at its epoch
	memberUnrevoked                     // must give up partitions first
	memberUnreleased                    // waits for partitions others hold
)

func (s memberState) String() string {
	return [...]string{"stable", "unrevoked_partitions", "unreleased_partitions"}[s]
}

// consumerMember is one member; its exported fields are what is stored.
type consumerMember struct {
	ID                 string      `json:"id"`
	InstanceID         string      `json:"instance_id,omitempty"`
	RackID             string      `json:"rack_id,omitempty"`
	ClientID           string      `json:"client_id"`
	ClientHost         string      `json:"client_host"`
	Epoch              int32       `json:"epoch"`
	PreviousEpoch      int32       `json:"previous_epoch"`
	State              memberState `json:"state"`
	RebalanceTimeoutMs int32       `json:"rebalance_timeout_ms"`
	Assignor           string      `json:"assignor,omitempty"`
	Topics             []string    `json:"topics"`
	Regex              string      `json:"regex,omitempty"`
	// Assigned maps each partition the member owns to the epoch it was
	// assigned at (KIP-1251: an older epoch may still commit it).
	Assigned map[topicID]map[int32]int32 `json:"assigned,omitempty"`
	Revoking assignment                  `json:"revoking,omitempty"`
	Target   assignment                  `json:"target,omitempty"`
}

// assigned returns the member's owned partitions as an assignment.
func (m *consumerMember) assigned() assignment {
	out := make(assignment, len(m.Assigned))
	for t, ps := range m.Assigned {
		for p := range ps {
			out[t] = append(out[t], p)
		}
		slices.Sort(out[t])
	}
	return out
}

// reconciled reports whether the member is at target epoch with nothing
// left to do.
func (m *consumerMember) reconciled(epoch int32) bool {
	return m.State == memberStable && m.Epoch == epoch
}

func (m *consumerMember) setEpoch(e int32) {
	if m.Epoch != e {
		m.PreviousEpoch, m.Epoch = m.Epoch, e
	}
}

// consumerGroup is one KIP-848 group.
type consumerGroup struct {
	id              string
	epoch           int32
	assignmentEpoch int32
	metadataHash    string // of the subscribed topics when epoch was last set
	members         map[string]*consumerMember
	static          map[string]string // instance id -> member id

	// Not stored: the coordinator's bookkeeping.
	anchor  *group             // the group entry holding lock, offsets and ownership
	timers  map[string]*timers // by member id
	regexes map[string]*regexp.Regexp
}

func newConsumerGroup(id string) *consumerGroup {
	return &consumerGroup{
		id:      id,
		members: map[string]*consumerMember{},
		static:  map[string]string{},
		timers:  map[string]*timers{},
		regexes: map[string]*regexp.Regexp{},
	}
}

// state is the group state as ListGroups and ConsumerGroupDescribe show
// it.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if !m.reconciled(cg.assignmentEpoch) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// consumerEnv is what one step of the state machine needs from outside.
type consumerEnv struct {
	topics    map[string]TopicInfo // by name
	assignors []string             // configured; the first is the default
	maxSize   int
}

func (env *consumerEnv) topicByID(id topicID) (TopicInfo, bool) {
	for _, t := range env.topics {
		if topicID(t.ID) == id {
			return t, true
		}
	}
	return TopicInfo{}, false
}

// groupError is a refused request: the wire error and Kafka's message.
type groupError struct {
	err *kerr.Error
	msg string
}

func refuse(err *kerr.Error, format string, args ...any) *groupError {
	return &groupError{err: err, msg: fmt.Sprintf(format, args...)}
}

// newUUID is a random member id as Kafka makes them (v0 of the API, where
// the coordinator names members): URL-safe base64 of 16 random bytes.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validateHeartbeat checks a ConsumerGroupHeartbeat as Kafka's
// GroupCoordinatorService does before the group is looked at.
func validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, supported []string) *groupError {
	blank := func(s *string) bool { return s != nil && isBlank(*s) }
	switch {
	case (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == leaveEpoch) && isBlank(req.MemberID):
		return refuse(kerr.InvalidRequest, "MemberId can't be empty.")
	case isBlank(req.Group):
		return refuse(kerr.InvalidRequest, "GroupId can't be empty.")
	case blank(req.InstanceID):
		return refuse(kerr.InvalidRequest, "InstanceId can't be empty.")
	case blank(req.RackID):
		return refuse(kerr.InvalidRequest, "RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1:
		return refuse(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
	case req.MemberEpoch == 0 && (req.Topics == nil || len(req.Topics) > 0):
		return refuse(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return refuse(kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return refuse(kerr.InvalidRequest, "InstanceId can't be null.")
	case req.MemberEpoch < staticLeaveEpoch:
		return refuse(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.ServerAssignor != nil && !slices.Contains(supported, *req.ServerAssignor):
		return refuse(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s.",
			*req.ServerAssignor, strings.Join(supported, ", "))
	}
	return nil
}

// isBlank is Kafka's test of an empty id: nothing but white space.
func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// heartbeatResult is what the coordinator needs after a heartbeat step.
type heartbeatResult struct {
	resp     *kmsg.ConsumerGroupHeartbeatResponse
	member   *consumerMember // the member that heartbeat, nil after a leave
	replaced string          // the static member id it replaced, if any
	removed  string          // the member id that left, if any
}

// heartbeat runs one ConsumerGroupHeartbeat (validated) through the
// group. memberID is the request's, or one made up for a v0 join.
func (cg *consumerGroup) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, memberID, clientID, host string, env *consumerEnv) (heartbeatResult, *groupError) {
	if req.MemberEpoch == leaveEpoch || req.MemberEpoch == staticLeaveEpoch {
		return cg.leave(req.MemberID, req.InstanceID, req.MemberEpoch, env)
	}
	if len(cg.members) >= env.maxSize && cg.members[memberID] == nil {
		return heartbeatResult{}, refuse(kerr.GroupMaxSizeReached,
			"The consumer group has reached its maximum capacity of %d members.", env.maxSize)
	}
	old, replaced, gerr := cg.admit(req, memberID)
	if gerr != nil {
		return heartbeatResult{}, gerr
	}
	m := cg.updatedMember(old, req, memberID, clientID, host)
	if m.Regex != "" {
		if _, err := cg.compile(m.Regex); err != nil {
			return heartbeatResult{}, refuse(kerr.InvalidRegularExpression, "SubscribedTopicRegex %s is invalid: %v", m.Regex, err)
		}
	}

	// From here on the group changes: nothing is refused any more.
	res := heartbeatResult{member: m}
	if replaced != nil {
		delete(cg.members, replaced.ID)
		res.replaced = replaced.ID
	}
	cg.members[m.ID] = m
	if m.InstanceID != "" {
		cg.static[m.InstanceID] = m.ID
	}
	subscriptionChanged := old == nil || !slices.Equal(old.Topics, m.Topics) || old.Regex != m.Regex
	cg.maybeBumpEpoch(subscriptionChanged, env)
	if cg.epoch > cg.assignmentEpoch {
		cg.computeTarget(env)
	}
	var before assignment
	if old != nil {
		before = old.assigned()
	}
	cg.reconcile(m, req.Topics)

	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	id := m.ID
	resp.MemberID, resp.MemberEpoch = &id, m.Epoch
	// The assignment goes back on a full request (a join, or a member
	// resending everything after an error) and whenever it changed.
	full := req.MemberEpoch == 0 || (req.RebalanceTimeoutMillis != -1 &&
		(req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if now := m.assigned(); full || !now.equal(before) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, t := range now.sortedTopics() {
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = t, now[t]
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	res.resp = resp
	return res, nil
}

// admit finds the member a heartbeat is from: old is its current state
// (nil for a new member); replaced is the static member whose instance id
// it takes over.
func (cg *consumerGroup) admit(req *kmsg.ConsumerGroupHeartbeatRequest, memberID string) (old, replaced *consumerMember, _ *groupError) {
	epoch := req.MemberEpoch
	if req.InstanceID == nil {
		old = cg.members[memberID]
		if old == nil {
			if epoch != 0 {
				return nil, nil, refuse(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, cg.id)
			}
			return nil, nil, nil
		}
		return old, nil, checkMemberEpoch(old, epoch, req.Topics)
	}
	instance := *req.InstanceID
	existing := cg.members[cg.static[instance]]
	switch {
	case epoch == 0 && existing == nil:
		return cg.members[memberID], nil, nil
	case epoch == 0 && existing.ID == memberID:
		// The same member joining again (it lost its epoch): it keeps
		// its place, as a dynamic member does (KAFKA-19233).
		return existing, nil, nil
	case epoch == 0 && existing.Epoch != staticLeaveEpoch:
		return nil, nil, refuse(kerr.UnreleasedInstanceID,
			"Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.",
			memberID, instance, existing.ID)
	case epoch == 0:
		// The instance comes back under a new member id and takes over
		// the departed member's assignment.
		m := cloneMember(existing)
		m.ID, m.Epoch, m.PreviousEpoch = memberID, 0, 0
		return m, existing, nil
	case existing == nil:
		return nil, nil, refuse(kerr.UnknownMemberID, "Instance id %s is unknown.", instance)
	case existing.ID != memberID:
		return nil, nil, refuse(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.",
			memberID, instance, existing.ID)
	}
	return existing, nil, checkMemberEpoch(existing, epoch, req.Topics)
}

// checkMemberEpoch accepts the member's epoch, its previous one when it
// reports no partition beyond its assignment (the answer that moved it on
// was lost), and 0 (it joins again, KAFKA-19233).
func checkMemberEpoch(m *consumerMember, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) *groupError {
	switch {
	case epoch == 0 || epoch == m.Epoch:
		return nil
	case epoch > m.Epoch:
		return refuse(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch)
	case epoch != m.PreviousEpoch || !ownsOnly(owned, m.Assigned):
		return refuse(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch)
	}
	return nil
}

// ownsOnly reports whether every partition in owned (known: non-nil) is
// in assigned.
func ownsOnly(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, assigned map[topicID]map[int32]int32) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if _, ok := assigned[t.TopicID][p]; !ok {
				return false
			}
		}
	}
	return true
}

// ownsAny reports whether owned holds a partition of set; an unknown
// (nil) owned list may hold anything.
func ownsAny(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, set assignment) bool {
	if owned == nil {
		return true
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if set.has(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

func cloneMember(m *consumerMember) *consumerMember {
	c := *m
	c.Topics = slices.Clone(m.Topics)
	c.Assigned = make(map[topicID]map[int32]int32, len(m.Assigned))
	for t, ps := range m.Assigned {
		c.Assigned[t] = maps.Clone(ps)
	}
	c.Revoking, c.Target = m.Revoking.clone(), m.Target.clone()
	return &c
}

// updatedMember is old (or a new member) with what the request changes:
// a null field keeps its value, as the protocol's incremental heartbeats
// mean.
func (cg *consumerGroup) updatedMember(old *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest, memberID, clientID, host string) *consumerMember {
	var m *consumerMember
	if old == nil {
		m = &consumerMember{ID: memberID, PreviousEpoch: -1, Topics: []string{}, Assigned: map[topicID]map[int32]int32{}}
	} else {
		m = cloneMember(old)
	}
	if req.InstanceID != nil {
		m.InstanceID = *req.InstanceID
	}
	if req.RackID != nil {
		m.RackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis != -1 {
		m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	if req.ServerAssignor != nil {
		m.Assignor = *req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		m.Topics = slices.Sorted(slices.Values(req.SubscribedTopicNames))
		m.Topics = slices.Compact(m.Topics)
	}
	if req.SubscribedTopicRegex != nil {
		m.Regex = *req.SubscribedTopicRegex
	}
	m.ClientID, m.ClientHost = clientID, host
	return m
}

// compile returns the group's compiled form of a subscription regex.
// Kafka matches the whole topic name (RE2/J's matches()); Go's RE2 syntax
// is the same family, anchored here.
func (cg *consumerGroup) compile(expr string) (*regexp.Regexp, error) {
	if re, ok := cg.regexes[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, err
	}
	cg.regexes[expr] = re
	return re, nil
}

// subscribedTopics resolves a member's subscription against the topics
// that exist: its names, and every topic its regex matches (internal
// topics too, as Kafka does).
func (cg *consumerGroup) subscribedTopics(m *consumerMember, env *consumerEnv) []TopicInfo {
	seen := map[string]bool{}
	var out []TopicInfo
	for _, name := range m.Topics {
		if t, ok := env.topics[name]; ok && !seen[name] {
			seen[name] = true
			out = append(out, t)
		}
	}
	if m.Regex != "" {
		if re, err := cg.compile(m.Regex); err == nil {
			for name, t := range env.topics {
				if !seen[name] && re.MatchString(name) {
					seen[name] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// subscribedTopicNames are the names of every topic a member of the group
// subscribes to (resolved regexes included).
func (cg *consumerGroup) subscribedTopicNames(env *consumerEnv) map[string]bool {
	out := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range cg.subscribedTopics(m, env) {
			out[t.Name] = true
		}
	}
	return out
}

// metadataFingerprint identifies the subscribed topics as they are now:
// names, ids and partition counts. A topic created, deleted or grown
// changes it, and so the group epoch.
func (cg *consumerGroup) metadataFingerprint(env *consumerEnv) string {
	names := slices.Sorted(maps.Keys(cg.subscribedTopicNames(env)))
	h := fnv.New64a()
	for _, name := range names {
		t := env.topics[name]
		h.Write([]byte(name))
		h.Write(t.ID[:])
		h.Write([]byte(strconv.Itoa(int(t.Partitions))))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// maybeBumpEpoch raises the group epoch when a subscription changed or the
// subscribed topics' metadata did.
func (cg *consumerGroup) maybeBumpEpoch(subscriptionChanged bool, env *consumerEnv) {
	hash := cg.metadataFingerprint(env)
	if subscriptionChanged || hash != cg.metadataHash {
		cg.epoch++
		cg.metadataHash = hash
	}
}

// preferredAssignor is the assignor most members ask for (ties go to the
// name first in alphabetical order), else the configured default.
func (cg *consumerGroup) preferredAssignor(env *consumerEnv) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.Assignor != "" {
			votes[m.Assignor]++
		}
	}
	best := ""
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	if best == "" && len(env.assignors) > 0 {
		best = env.assignors[0]
	}
	return best
}

// computeTarget runs the assignor over every member and moves the
// assignment epoch to the group epoch.
func (cg *consumerGroup) computeTarget(env *consumerEnv) {
	ids := slices.Sorted(maps.Keys(cg.members))
	in := make([]assignorMember, 0, len(ids))
	partitions := map[topicID]int32{}
	for _, id := range ids {
		m := cg.members[id]
		am := assignorMember{id: id, current: m.Target}
		for _, t := range cg.subscribedTopics(m, env) {
			am.topics = append(am.topics, topicID(t.ID))
			partitions[topicID(t.ID)] = t.Partitions
		}
		sortTopicIDs(am.topics)
		in = append(in, am)
	}
	assign := assignors[cg.preferredAssignor(env)]
	if assign == nil {
		assign = assignUniform
	}
	out := assign(in, partitions)
	for _, id := range ids {
		cg.members[id].Target = out[id]
	}
	cg.assignmentEpoch = cg.epoch
}

// ownedByOthers returns the partitions members other than m hold:
// assigned or still being revoked.
func (cg *consumerGroup) ownedByOthers(m *consumerMember) assignment {
	out := assignment{}
	for _, o := range cg.members {
		if o.ID == m.ID {
			continue
		}
		for t, ps := range o.Assigned {
			for p := range ps {
				out.add(t, p)
			}
		}
		for t, ps := range o.Revoking {
			for _, p := range ps {
				out.add(t, p)
			}
		}
	}
	return out
}

// reconcile moves m toward its target as far as it can now. owned is what
// the member reports holding (nil: not reported, so unknown).
func (cg *consumerGroup) reconcile(m *consumerMember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) {
	switch m.State {
	case memberStable:
		if m.Epoch != cg.assignmentEpoch {
			cg.nextAssignment(m, m.Epoch, owned)
		}
	case memberUnrevoked:
		if !ownsAny(owned, m.Revoking) {
			// Revoked: the member moves past the epoch its revoked
			// partitions were committed under.
			cg.nextAssignment(m, m.Epoch+1, owned)
		}
	case memberUnreleased:
		cg.nextAssignment(m, m.Epoch, owned)
	}
}

// nextAssignment computes m's next step toward its target: keep what is
// still in the target, revoke what is not (and wait at epoch while the
// member still holds any of it), else take what is free and move to the
// assignment epoch.
func (cg *consumerGroup) nextAssignment(m *consumerMember, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) {
	others := cg.ownedByOthers(m)
	keep := map[topicID]map[int32]int32{}
	revoke := assignment{}
	for t, ps := range m.Assigned {
		for p, at := range ps {
			if m.Target.has(t, p) {
				if keep[t] == nil {
					keep[t] = map[int32]int32{}
				}
				keep[t][p] = at
			} else {
				revoke.add(t, p)
			}
		}
	}
	if len(revoke) > 0 && ownsAny(owned, revoke) {
		m.State, m.Assigned, m.Revoking = memberUnrevoked, keep, revoke
		m.setEpoch(epoch)
		return
	}
	unreleased := false
	for t, ps := range m.Target {
		for _, p := range ps {
			if _, ok := keep[t][p]; ok {
				continue
			}
			if others.has(t, p) {
				unreleased = true
				continue
			}
			if keep[t] == nil {
				keep[t] = map[int32]int32{}
			}
			keep[t][p] = cg.assignmentEpoch
		}
	}
	m.State, m.Assigned, m.Revoking = memberStable, keep, nil
	if unreleased {
		m.State = memberUnreleased
	}
	m.setEpoch(cg.assignmentEpoch)
}

// leave handles a heartbeat with epoch -1 (leave) or -2 (a static member
// leaving for a while).
func (cg *consumerGroup) leave(memberID string, instance *string, epoch int32, env *consumerEnv) (heartbeatResult, *groupError) {
	var m *consumerMember
	if instance == nil {
		if m = cg.members[memberID]; m == nil {
			return heartbeatResult{}, refuse(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, cg.id)
		}
	} else {
		if m = cg.members[cg.static[*instance]]; m == nil {
			return heartbeatResult{}, refuse(kerr.UnknownMemberID, "Instance id %s is unknown.", *instance)
		}
		if m.ID != memberID {
			return heartbeatResult{}, refuse(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.",
				memberID, *instance, m.ID)
		}
	}
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	id := memberID
	resp.MemberID, resp.MemberEpoch = &id, epoch
	if instance != nil && epoch == staticLeaveEpoch {
		// The static member keeps its partitions (no one else gets them)
		// until its session times out or its instance comes back.
		m.Epoch, m.Revoking = staticLeaveEpoch, nil
		return heartbeatResult{resp: resp}, nil
	}
	cg.remove(m.ID, env)
	return heartbeatResult{resp: resp, removed: m.ID}, nil
}

// remove takes a member out (it left, or was fenced): its partitions are
// free and the group epoch rises so that the others are reassigned.
func (cg *consumerGroup) remove(id string, env *consumerEnv) {
	m := cg.members[id]
	if m == nil {
		return
	}
	delete(cg.members, id)
	if m.InstanceID != "" && cg.static[m.InstanceID] == id {
		delete(cg.static, m.InstanceID)
	}
	cg.epoch++
	cg.metadataHash = cg.metadataFingerprint(env)
	if len(cg.members) == 0 {
		// Nothing left to assign (KAFKA-20442).
		cg.assignmentEpoch = cg.epoch
	}
}

// validateCommit checks an OffsetCommit against the group: a member id
// and epoch, or (epoch < 0, no member id) an admin or standalone commit
// while the group is empty. An older epoch may commit the partitions the
// member was given at or before it (KIP-1251); the others are refused
// partition by partition (STALE_MEMBER_EPOCH in commits).
func (cg *consumerGroup) validateCommit(memberID string, epoch int32, commits []OffsetCommit, env *consumerEnv) *kerr.Error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch == m.Epoch:
		return nil
	case epoch > m.Epoch || epoch < 0:
		return kerr.StaleMemberEpoch
	}
	for i := range commits {
		oc := &commits[i]
		if oc.Err != nil {
			continue
		}
		t, ok := env.topics[oc.Topic]
		if !ok {
			oc.Err = kerr.StaleMemberEpoch
			continue
		}
		if at, ok := m.Assigned[topicID(t.ID)][oc.Partition]; !ok || epoch < at {
			oc.Err = kerr.StaleMemberEpoch
		}
	}
	return nil
}

// validateFetch checks an OffsetFetch's member id and epoch (v9+): none
// (an admin) or a member at its current epoch.
func (cg *consumerGroup) validateFetch(memberID *string, epoch int32) *kerr.Error {
	if memberID == nil && epoch < 0 {
		return nil
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := cg.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.Epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// describe is the group as ConsumerGroupDescribe shows it.
func (cg *consumerGroup) describe(env *consumerEnv) kmsg.ConsumerGroupDescribeResponseGroup {
	g := kmsg.NewConsumerGroupDescribeResponseGroup()
	g.Group, g.State, g.Epoch, g.AssignmentEpoch = cg.id, cg.state(), cg.epoch, cg.assignmentEpoch
	g.AssignorName = cg.preferredAssignor(env)
	toWire := func(a assignment) kmsg.Assignment {
		var out kmsg.Assignment
		for _, t := range a.sortedTopics() {
			tp := kmsg.NewAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = t, slices.Clone(a[t])
			if info, ok := env.topicByID(t); ok {
				tp.Topic = info.Name
			}
			out.TopicPartitions = append(out.TopicPartitions, tp)
		}
		return out
	}
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.ID, m.Epoch, m.ClientID, m.ClientHost
		if m.InstanceID != "" {
			dm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		if m.RackID != "" {
			dm.RackID = kmsg.StringPtr(m.RackID)
		}
		dm.SubscribedTopics = slices.Clone(m.Topics)
		if m.Regex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.Regex)
		}
		dm.Assignment, dm.TargetAssignment = toWire(m.assigned()), toWire(m.Target)
		dm.MemberType = 1 // consumer protocol
		g.Members = append(g.Members, dm)
	}
	return g
}

// timers are a member's armed timers. A timer that fired while it was
// being re-armed (it waited for the group's lock) finds its sequence
// number stale and does nothing.
type timers struct {
	session, rebalance       *time.Timer
	sessionSeq, rebalanceSeq uint64
	rebalanceEpoch           int32
}

func (t *timers) stop() {
	if t.session != nil {
		t.session.Stop()
		t.session = nil
	}
	if t.rebalance != nil {
		t.rebalance.Stop()
		t.rebalance = nil
	}
	t.sessionSeq++
	t.rebalanceSeq++
}
