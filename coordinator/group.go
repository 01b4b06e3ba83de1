package coordinator

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
)

// state is a classic group's state, named as Kafka names it.
type state int8

const (
	stateEmpty state = iota
	statePreparing
	stateCompleting
	stateStable
	stateDead
)

func (s state) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// member is one consumer in a group.
type member struct {
	id, instanceID     string
	clientID, host     string
	sessionTimeout     time.Duration
	rebalanceTimeout   time.Duration
	protocols          []kmsg.JoinGroupRequestProtocol
	assignment         []byte
	join               func(*kmsg.JoinGroupResponse) // waiting JoinGroup, answered when the join phase ends
	sync               func(*kmsg.SyncGroupResponse) // waiting SyncGroup, answered with the leader's assignment
	session            *time.Timer
	joinedGenerationAt int32 // generation this member last joined
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && string(x.Metadata) == string(y.Metadata)
	})
}

// group is one classic group's state machine. Every field is guarded by
// the coordinator's per-group lock (g.mu, taken by the Coordinator's entry
// points and by the timers).
type group struct {
	c  *Coordinator
	id string
	mu sync.Mutex

	state        state
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []string          // member ids in join order: the leader is picked from it
	static       map[string]string // instance id -> member id
	pending      map[string]*time.Timer
	rebalance    *time.Timer // ends the join phase at the rebalance timeout
	notBefore    time.Time   // the initial rebalance delay of a group starting from Empty

	stateSince time.Time // when the group entered its state

	// Loaded from the store on first use, under the shard ownership own;
	// stored says the store holds a document for it. otherKind is the
	// kind of a stored group of another protocol (KIP-848 "consumer"),
	// otherDoc its document as loaded.
	loaded, stored bool
	own            metastore.Ownership
	otherKind      string
	otherDoc       []byte
	offsets        map[string]map[int32]metastore.CommittedOffset
	// txnOffsets are offsets committed inside open transactions
	// (TxnOffsetCommit), by producer id, until their marker arrives.
	txnOffsets map[int64]map[string]map[int32]metastore.CommittedOffset
}

func newGroup(c *Coordinator, id string) *group {
	return &group{
		c:          c,
		id:         id,
		members:    map[string]*member{},
		static:     map[string]string{},
		pending:    map[string]*time.Timer{},
		offsets:    map[string]map[int32]metastore.CommittedOffset{},
		stateSince: c.now(),
	}
}

func joinError(memberID string, err *kerr.Error) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode, resp.MemberID, resp.Generation = err.Code, memberID, -1
	return resp
}

// supports reports whether a joining member can be in the group: same
// protocol type, and at least one protocol every member offers.
func (g *group) supports(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, except string) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 || (len(g.members) == 1 && g.members[except] != nil) {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.allOffer(p.Name, except) {
			return true
		}
	}
	return false
}

func (g *group) allOffer(name, except string) bool {
	for id, m := range g.members {
		if id == except {
			continue
		}
		if !slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// join handles JoinGroup.
func (g *group) join(req *kmsg.JoinGroupRequest, clientID, host string, respond func(*kmsg.JoinGroupResponse)) {
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	switch {
	case g.state == stateDead:
		respond(joinError(req.MemberID, kerr.CoordinatorNotAvailable))
		return
	case session < g.c.cfg.MinSessionTimeout || session > g.c.cfg.MaxSessionTimeout:
		respond(joinError(req.MemberID, kerr.InvalidSessionTimeout))
		return
	case !g.supports(req.ProtocolType, req.Protocols, req.MemberID):
		respond(joinError(req.MemberID, kerr.InconsistentGroupProtocol))
		return
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}

	var m *member
	replaced := false
	memberID := req.MemberID
	switch {
	case memberID == "" && instance != "":
		if oldID, ok := g.static[instance]; ok {
			m = g.replaceStatic(oldID, g.c.newMemberID(clientID))
			replaced = true
		}
	case memberID == "" && req.Version >= 4:
		// KIP-394: hand out the id first; the member joins with it.
		id := g.c.newMemberID(clientID)
		g.pending[id] = g.c.afterFunc(g, session, func() { delete(g.pending, id) })
		respond(joinError(id, kerr.MemberIDRequired))
		return
	case memberID != "":
		m = g.members[memberID]
		if m == nil {
			t, ok := g.pending[memberID]
			if !ok {
				respond(joinError(memberID, kerr.UnknownMemberID))
				return
			}
			t.Stop()
			delete(g.pending, memberID)
		} else if instance != "" && g.static[instance] != memberID {
			respond(joinError(memberID, kerr.FencedInstanceID))
			return
		}
	}

	if m == nil {
		if len(g.members) >= g.c.cfg.MaxSize {
			respond(joinError(memberID, kerr.GroupMaxSizeReached))
			return
		}
		if memberID == "" {
			memberID = g.c.newMemberID(clientID)
		}
		m = &member{id: memberID, instanceID: instance, joinedGenerationAt: -1}
		g.members[memberID] = m
		g.order = append(g.order, memberID)
		if instance != "" {
			g.static[instance] = memberID
		}
		if len(g.members) == 1 {
			g.protocolType = req.ProtocolType
		}
	} else if m.join != nil {
		// A second JoinGroup while one waits: the older one is superseded.
		m.join(joinError(m.id, kerr.RebalanceInProgress))
		m.join = nil
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.clientID, m.host = clientID, host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocols = slices.Clone(req.Protocols)
	m.join = respond
	m.stopSession()

	// A known member rejoining a settled group with nothing changed gets
	// the current generation back; anything else is a rebalance. A static
	// member coming back under a new member id (KIP-345) keeps its
	// assignment the same way, the leader too: it is told to skip the
	// assignment (KIP-814) and the replaced id is stored.
	// Its metadata may differ (clients put their last generation and
	// owned partitions in it): like Kafka, only a change of the group's
	// protocol makes that a rebalance.
	settled := (g.state == stateStable || g.state == stateCompleting) && m.joinedGenerationAt == g.generation
	switch {
	case settled && replaced && g.state == stateStable && g.selectProtocol() == g.protocol:
		if err := g.save(); err != nil {
			if g.state != stateDead { // else unloaded: every waiting member was answered
				m.join(joinError(m.id, err)) // it joins again and is replaced again
				m.join = nil
				g.startSession(m)
			}
			return
		}
		resp := g.joinResponse(m)
		resp.SkipAssignment = m.id == g.leader
		m.join(resp)
		m.join = nil
		g.startSession(m)
		return
	case settled && !changed && m.id != g.leader:
		m.join(g.joinResponse(m))
		m.join = nil
		g.startSession(m)
		return
	}
	if g.state != statePreparing {
		g.prepareRebalance("member " + m.id + " joined")
	}
	g.maybeCompleteJoin()
}

// replaceStatic gives a static member a new member id (KIP-345): the old
// id is fenced, the member keeps its place and assignment.
func (g *group) replaceStatic(oldID, newID string) *member {
	m := g.members[oldID]
	m.failWaiting(kerr.FencedInstanceID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[m.instanceID] = newID
	if i := slices.Index(g.order, oldID); i >= 0 {
		g.order[i] = newID
	}
	if g.leader == oldID {
		g.leader = newID
	}
	return m
}

// joinResponse is a member's answer at the end of a join phase; the
// leader alone gets every member's metadata to compute the assignment.
func (g *group) joinResponse(m *member) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation = g.generation
	resp.ProtocolType = &g.protocolType
	protocol := g.protocol
	resp.Protocol = &protocol
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, id := range g.order {
			o := g.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			if o.instanceID != "" {
				inst := o.instanceID
				rm.InstanceID = &inst
			}
			rm.ProtocolMetadata = o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

// prepareRebalance enters PreparingRebalance: members have until the
// largest rebalance timeout to rejoin.
func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompleting {
		for _, m := range g.members {
			if m.sync != nil {
				resp := kmsg.NewPtrSyncGroupResponse()
				resp.ErrorCode = kerr.RebalanceInProgress.Code
				m.sync(resp)
				m.sync = nil
			}
		}
	}
	timeout := time.Duration(0)
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	if g.state == stateEmpty {
		g.notBefore = g.c.now().Add(min(g.c.cfg.InitialRebalanceDelay, timeout))
		g.c.afterFunc(g, g.c.cfg.InitialRebalanceDelay, g.maybeCompleteJoin)
	}
	g.c.log.Info().Str("group", g.id).Str("from", g.state.String()).Int32("generation", g.generation).
		Str("reason", reason).Msg("group rebalancing")
	g.setState(statePreparing)
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	g.rebalance = g.c.afterFunc(g, timeout, g.completeJoin)
}

// maybeCompleteJoin ends the join phase once every member and every
// handed-out member id has joined (and the initial delay has passed).
func (g *group) maybeCompleteJoin() {
	if g.state != statePreparing || len(g.pending) > 0 || g.c.now().Before(g.notBefore) {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin starts the next generation with the members that rejoined.
func (g *group) completeJoin() {
	if g.state != statePreparing {
		return
	}
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.join == nil {
			g.removeMember(m)
		}
	}
	g.generation++
	for _, m := range g.members {
		m.assignment = nil
	}
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(stateEmpty)
		g.c.log.Info().Str("group", g.id).Int32("generation", g.generation).Msg("group is empty")
		_ = g.save() // logged; a fenced group is unloaded

		return
	}
	if g.members[g.leader] == nil {
		g.leader = g.order[0]
	}
	g.protocol = g.selectProtocol()
	g.setState(stateCompleting)
	g.c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members)).
		Str("protocol", g.protocol).Str("leader", g.leader).Msg("group joined; awaiting assignment")
	for _, id := range g.order {
		m := g.members[id]
		m.joinedGenerationAt = g.generation
		m.join(g.joinResponse(m))
		m.join = nil
		g.startSession(m)
	}
}

// selectProtocol picks, among the protocols every member offers, the one
// most members prefer most (ties go to the leader's order).
func (g *group) selectProtocol() string {
	leader := g.members[g.leader]
	var candidates []string
	for _, p := range leader.protocols {
		if g.allOffer(p.Name, "") {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// removeMember drops a member, answering whatever it has waiting.
func (g *group) removeMember(m *member) {
	m.stopSession()
	m.failWaiting(kerr.UnknownMemberID)
	delete(g.members, m.id)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == m.id })
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
}

// memberGone handles a member leaving or expiring.
func (g *group) memberGone(m *member, reason string) {
	g.removeMember(m)
	switch g.state {
	case stateStable, stateCompleting:
		g.prepareRebalance(reason)
		g.maybeCompleteJoin()
	case statePreparing:
		g.maybeCompleteJoin()
	}
}

func (g *group) startSession(m *member) {
	m.stopSession()
	m.session = g.c.afterFunc(g, m.sessionTimeout, func() {
		if g.members[m.id] == m {
			g.memberGone(m, "member "+m.id+" session expired")
		}
	})
}

// failWaiting answers the member's waiting JoinGroup and SyncGroup with err.
func (m *member) failWaiting(err *kerr.Error) {
	if m.join != nil {
		m.join(joinError(m.id, err))
		m.join = nil
	}
	if m.sync != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = err.Code
		m.sync(resp)
		m.sync = nil
	}
}

func (m *member) stopSession() {
	if m.session != nil {
		m.session.Stop()
		m.session = nil
	}
}

// checkMember validates a member's id, instance id and generation.
func (g *group) checkMember(memberID string, instance *string, generation int32) (*member, *kerr.Error) {
	m := g.members[memberID]
	switch {
	case g.state == stateDead:
		return nil, kerr.CoordinatorNotAvailable
	case instance != nil && *instance != "" && g.static[*instance] != "" && g.static[*instance] != memberID:
		return nil, kerr.FencedInstanceID
	case m == nil:
		return nil, kerr.UnknownMemberID
	case generation != g.generation:
		return m, kerr.IllegalGeneration
	}
	return m, nil
}

// sync handles SyncGroup.
func (g *group) sync(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	fail := func(err *kerr.Error) {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = err.Code
		respond(resp)
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		fail(err)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	answer := func(m *member, respond func(*kmsg.SyncGroupResponse)) {
		resp := kmsg.NewPtrSyncGroupResponse()
		pt, p := g.protocolType, g.protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
		resp.MemberAssignment = m.assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		respond(resp)
	}
	switch g.state {
	case statePreparing:
		fail(kerr.RebalanceInProgress)
	case stateStable:
		g.startSession(m)
		answer(m, respond)
	case stateCompleting:
		g.startSession(m)
		if m.sync != nil {
			fail(kerr.RebalanceInProgress)
			return
		}
		m.sync = respond
		if m.id != g.leader {
			return
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		g.setState(stateStable)
		if err := g.save(); err != nil {
			if g.state == stateDead {
				return // unloaded: every waiting member was answered
			}
			// Not stored: this generation cannot stand. Members are
			// told and the group rebalances, as Kafka does.
			for _, o := range g.members {
				o.assignment = nil
				if o.sync != nil {
					resp := kmsg.NewPtrSyncGroupResponse()
					resp.ErrorCode = err.Code
					o.sync(resp)
					o.sync = nil
				}
			}
			g.prepareRebalance("the assignment could not be stored")
			return
		}
		g.c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members)).Msg("group stable")
		for _, o := range g.members {
			if o.sync != nil {
				answer(o, o.sync)
				o.sync = nil
			}
		}
	default:
		fail(kerr.UnknownMemberID)
	}
}

// heartbeat handles Heartbeat.
func (g *group) heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return err
	}
	switch g.state {
	case statePreparing:
		if m.join == nil {
			g.startSession(m)
		}
		return kerr.RebalanceInProgress
	case stateCompleting, stateStable:
		g.startSession(m)
		return nil
	}
	return kerr.UnknownMemberID
}

// leave handles one member of a LeaveGroup.
func (g *group) leave(memberID string, instance *string) *kerr.Error {
	if instance != nil && *instance != "" {
		id, ok := g.static[*instance]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case memberID != "" && memberID != id:
			return kerr.FencedInstanceID
		}
		memberID = id
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.memberGone(m, "member "+memberID+" left")
	return nil
}
