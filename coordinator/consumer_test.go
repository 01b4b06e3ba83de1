package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer group state machine, fed heartbeats directly (no store,
// no timers); then the coordinator around it on a real etcd.

func topicInfo(name string, partitions int32) TopicInfo {
	return TopicInfo{Name: name, ID: tid(name), Partitions: partitions}
}

func testEnv(topics ...TopicInfo) *consumerEnv {
	env := &consumerEnv{topics: map[string]TopicInfo{}, assignors: []string{"uniform", "range"}, maxSize: 100}
	for _, t := range topics {
		env.topics[t.Name] = t
	}
	return env
}

// cgJoin is a v1 join (epoch 0) subscribing to topics.
func cgJoin(member string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID = 1, "g", member
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = append([]string{}, topics...)
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

// cgBeat is a heartbeat reporting the partitions the member owns and
// nothing else (not a full request).
func cgBeat(member string, epoch int32, owned assignment) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", member, epoch
	req.RebalanceTimeoutMillis = -1
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, t := range owned.sortedTopics() {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: owned[t]})
	}
	return req
}

func withInstance(req *kmsg.ConsumerGroupHeartbeatRequest, instance string) *kmsg.ConsumerGroupHeartbeatRequest {
	req.InstanceID = &instance
	return req
}

// step runs a heartbeat that must succeed, and checks that no partition
// is owned twice.
func step(t *testing.T, cg *consumerGroup, env *consumerEnv, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	require.Nil(t, validateHeartbeat(req, env.assignors))
	res, gerr := cg.heartbeat(req, req.MemberID, "client", "/127.0.0.1", env)
	require.Nil(t, gerr, "heartbeat refused: %+v", gerr)
	checkSingleOwners(t, cg)
	return res.resp
}

func stepErr(t *testing.T, cg *consumerGroup, env *consumerEnv, req *kmsg.ConsumerGroupHeartbeatRequest) *kerr.Error {
	t.Helper()
	if gerr := validateHeartbeat(req, env.assignors); gerr != nil {
		return gerr.err
	}
	before := cg.encode()
	_, gerr := cg.heartbeat(req, req.MemberID, "client", "/127.0.0.1", env)
	require.NotNil(t, gerr, "heartbeat accepted")
	assert.Equal(t, string(before), string(cg.encode()), "a refused heartbeat changes nothing")
	return gerr.err
}

func checkSingleOwners(t *testing.T, cg *consumerGroup) {
	t.Helper()
	seen := assignment{}
	for _, m := range cg.members {
		for tp, ps := range m.assigned() {
			for _, p := range ps {
				require.False(t, seen.has(tp, p), "partition %d owned twice", p)
				seen.add(tp, p)
			}
		}
		for tp, ps := range m.Revoking {
			for _, p := range ps {
				require.False(t, seen.has(tp, p), "partition %d owned twice", p)
				seen.add(tp, p)
			}
		}
	}
}

// given is the assignment in a response (nil: none sent).
func given(resp *kmsg.ConsumerGroupHeartbeatResponse) assignment {
	if resp.Assignment == nil {
		return nil
	}
	a := assignment{}
	for _, t := range resp.Assignment.Topics {
		for _, p := range t.Partitions {
			a.add(t.TopicID, p)
		}
	}
	return a
}

func TestConsumerGroupSecondMemberWaitsForRevocation(t *testing.T) {
	env := testEnv(topicInfo("t", 4))
	cg := newConsumerGroup("g")
	all := parts("t", []int32{0, 1, 2, 3})

	r := step(t, cg, env, cgJoin("m1", "t"))
	assert.Equal(t, int32(1), r.MemberEpoch)
	assert.Equal(t, all, given(r))
	assert.Equal(t, "Stable", cg.state())

	// m2 joins: the target splits the partitions, but m1 still holds
	// them all, so m2 is at the new epoch with nothing yet.
	r = step(t, cg, env, cgJoin("m2", "t"))
	assert.Equal(t, int32(2), r.MemberEpoch)
	assert.Equal(t, assignment{}, given(r))
	assert.Equal(t, memberUnreleased, cg.members["m2"].State)
	assert.Equal(t, "Reconciling", cg.state())
	m2Target := cg.members["m2"].Target
	assert.Equal(t, 2, m2Target.count())

	// m1 learns it must give up m2's partitions; it stays at epoch 1
	// until it reports them gone.
	r = step(t, cg, env, cgBeat("m1", 1, all))
	assert.Equal(t, int32(1), r.MemberEpoch)
	kept := given(r)
	assert.Equal(t, 2, kept.count())
	assert.Equal(t, memberUnrevoked, cg.members["m1"].State)
	r = step(t, cg, env, cgBeat("m1", 1, all))
	assert.Nil(t, given(r), "nothing changed: no assignment sent")
	r = step(t, cg, env, cgBeat("m2", 2, assignment{}))
	assert.Nil(t, given(r), "m2 still waits")

	// m1 revoked: it moves to epoch 2; m2 then gets its partitions.
	r = step(t, cg, env, cgBeat("m1", 1, kept))
	assert.Equal(t, int32(2), r.MemberEpoch)
	assert.Equal(t, memberStable, cg.members["m1"].State)
	r = step(t, cg, env, cgBeat("m2", 2, assignment{}))
	assert.Equal(t, m2Target, given(r))
	assert.Equal(t, "Stable", cg.state())
	assert.Equal(t, int32(2), cg.epoch)
	assert.Equal(t, int32(2), cg.assignmentEpoch)
}

func TestConsumerGroupLeaveFreesPartitions(t *testing.T) {
	env := testEnv(topicInfo("t", 4))
	cg := newConsumerGroup("g")
	step(t, cg, env, cgJoin("m1", "t"))
	step(t, cg, env, cgJoin("m2", "t"))
	all := parts("t", []int32{0, 1, 2, 3})
	kept := given(step(t, cg, env, cgBeat("m1", 1, all)))
	step(t, cg, env, cgBeat("m1", 1, kept))
	step(t, cg, env, cgBeat("m2", 2, assignment{}))
	require.Equal(t, "Stable", cg.state())

	leave := cgBeat("m2", leaveEpoch, nil)
	leave.Topics = nil
	r := step(t, cg, env, leave)
	assert.Equal(t, int32(leaveEpoch), r.MemberEpoch)
	assert.NotContains(t, cg.members, "m2")
	assert.Equal(t, int32(3), cg.epoch)
	assert.Equal(t, "Assigning", cg.state())

	r = step(t, cg, env, cgBeat("m1", 2, kept))
	assert.Equal(t, int32(3), r.MemberEpoch)
	assert.Equal(t, all, given(r), "m1 takes the leaver's partitions at once")

	assert.Equal(t, kerr.UnknownMemberID, stepErr(t, cg, env, cgBeat("m2", 2, nil)))
	step(t, cg, env, func() *kmsg.ConsumerGroupHeartbeatRequest {
		l := cgBeat("m1", leaveEpoch, nil)
		l.Topics = nil
		return l
	}())
	assert.Equal(t, "Empty", cg.state())
	assert.Equal(t, cg.epoch, cg.assignmentEpoch, "an empty group has nothing left to assign")
}

func TestConsumerGroupStaticMember(t *testing.T) {
	env := testEnv(topicInfo("t", 4))
	cg := newConsumerGroup("g")
	r := step(t, cg, env, withInstance(cgJoin("s1", "t"), "i1"))
	mine := given(r)
	require.Equal(t, 4, mine.count())

	// The instance leaves for a while: it keeps its partitions.
	leave := withInstance(cgBeat("s1", staticLeaveEpoch, nil), "i1")
	leave.Topics = nil
	r = step(t, cg, env, leave)
	assert.Equal(t, int32(staticLeaveEpoch), r.MemberEpoch)
	assert.Equal(t, int32(staticLeaveEpoch), cg.members["s1"].Epoch)
	epoch := cg.epoch

	// Another member joining cannot take them while the instance is away.
	r = step(t, cg, env, cgJoin("m2", "t"))
	assert.Equal(t, assignment{}, given(r))
	assert.Equal(t, memberUnreleased, cg.members["m2"].State)

	// Another process with the same instance id is refused while the
	// instance is held.
	r = step(t, cg, env, withInstance(cgJoin("s1b", "t"), "i1"))
	assert.Equal(t, 2, given(r).count(), "the instance comes back with what it may keep")
	assert.NotContains(t, cg.members, "s1")
	assert.Equal(t, "s1b", cg.static["i1"])
	assert.Equal(t, epoch+1, cg.epoch, "only m2's join moved the group epoch")
	assert.Equal(t, kerr.UnreleasedInstanceID, stepErr(t, cg, env, withInstance(cgJoin("s1c", "t"), "i1")))
	assert.Equal(t, kerr.FencedInstanceID, stepErr(t, cg, env, withInstance(cgBeat("s1", 1, nil), "i1")))
	assert.Equal(t, kerr.UnknownMemberID, stepErr(t, cg, env, withInstance(cgBeat("x", 1, nil), "i9")))
}

func TestConsumerGroupStaticRejoinKeepsAssignment(t *testing.T) {
	env := testEnv(topicInfo("t", 4))
	cg := newConsumerGroup("g")
	step(t, cg, env, withInstance(cgJoin("s1", "t"), "i1"))
	r := step(t, cg, env, withInstance(cgJoin("s2", "t"), "i2"))
	require.Equal(t, int32(2), r.MemberEpoch)
	all := parts("t", []int32{0, 1, 2, 3})
	kept := given(step(t, cg, env, withInstance(cgBeat("s1", 1, all), "i1")))
	step(t, cg, env, withInstance(cgBeat("s1", 1, kept), "i1"))
	s2 := given(step(t, cg, env, withInstance(cgBeat("s2", 2, assignment{}), "i2")))
	require.Equal(t, "Stable", cg.state())

	leave := withInstance(cgBeat("s2", staticLeaveEpoch, nil), "i2")
	leave.Topics = nil
	step(t, cg, env, leave)
	epoch := cg.epoch
	r = step(t, cg, env, withInstance(cgJoin("s2-again", "t"), "i2"))
	assert.Equal(t, s2, given(r), "same partitions back")
	assert.Equal(t, int32(2), r.MemberEpoch)
	assert.Equal(t, epoch, cg.epoch, "no rebalance")
	assert.Equal(t, "Stable", cg.state())
}

func TestConsumerGroupEpochChecks(t *testing.T) {
	env := testEnv(topicInfo("t", 2))
	cg := newConsumerGroup("g")
	assert.Equal(t, kerr.UnknownMemberID, stepErr(t, cg, env, cgBeat("nobody", 3, nil)))
	all := given(step(t, cg, env, cgJoin("m1", "t")))
	assert.Equal(t, kerr.FencedMemberEpoch, stepErr(t, cg, env, cgBeat("m1", 5, all)))

	// The answer moving m1 to epoch 2 is lost: epoch 1 (its previous) is
	// still accepted while it owns nothing beyond its assignment.
	step(t, cg, env, cgJoin("m2", "t"))
	kept := given(step(t, cg, env, cgBeat("m1", 1, all)))
	step(t, cg, env, cgBeat("m1", 1, kept))
	require.Equal(t, int32(2), cg.members["m1"].Epoch)
	r := step(t, cg, env, cgBeat("m1", 1, kept))
	assert.Equal(t, int32(2), r.MemberEpoch)
	assert.Equal(t, kerr.FencedMemberEpoch, stepErr(t, cg, env, cgBeat("m1", 1, all)), "it claims a partition it gave up")

	// A known member joining again (epoch 0) gets its assignment back.
	r = step(t, cg, env, cgJoin("m1", "t"))
	assert.Equal(t, int32(2), r.MemberEpoch)
	assert.Equal(t, kept, given(r))
}

func TestValidateHeartbeat(t *testing.T) {
	tests := []struct {
		name string
		req  func() *kmsg.ConsumerGroupHeartbeatRequest
		want *kerr.Error
	}{
		{"join", func() *kmsg.ConsumerGroupHeartbeatRequest { return cgJoin("m", "t") }, nil},
		{"v1 needs a member id", func() *kmsg.ConsumerGroupHeartbeatRequest { return cgJoin("", "t") }, kerr.InvalidRequest},
		{"v0 join may leave it to the coordinator", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoin("", "t")
			r.Version = 0
			return r
		}, nil},
		{"blank group", func() *kmsg.ConsumerGroupHeartbeatRequest { r := cgJoin("m", "t"); r.Group = " "; return r }, kerr.InvalidRequest},
		{"blank instance", func() *kmsg.ConsumerGroupHeartbeatRequest { return withInstance(cgJoin("m", "t"), "") }, kerr.InvalidRequest},
		{"join without rebalance timeout", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoin("m", "t")
			r.RebalanceTimeoutMillis = -1
			return r
		}, kerr.InvalidRequest},
		{"join owning partitions", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoin("m", "t")
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: tid("t"), Partitions: []int32{0}}}
			return r
		}, kerr.InvalidRequest},
		{"join without subscription", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoin("m")
			r.SubscribedTopicNames = nil
			return r
		}, kerr.InvalidRequest},
		{"join with an empty subscription", func() *kmsg.ConsumerGroupHeartbeatRequest { return cgJoin("m") }, nil},
		{"static leave without instance", func() *kmsg.ConsumerGroupHeartbeatRequest { return cgBeat("m", staticLeaveEpoch, nil) }, kerr.InvalidRequest},
		{"epoch below -2", func() *kmsg.ConsumerGroupHeartbeatRequest { return cgBeat("m", -3, nil) }, kerr.InvalidRequest},
		{"unknown assignor", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoin("m", "t")
			r.ServerAssignor = kmsg.StringPtr("sticky")
			return r
		}, kerr.UnsupportedAssignor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gerr := validateHeartbeat(tc.req(), []string{"uniform", "range"})
			if tc.want == nil {
				assert.Nil(t, gerr)
				return
			}
			require.NotNil(t, gerr)
			assert.Equal(t, tc.want, gerr.err)
			assert.NotEmpty(t, gerr.msg)
		})
	}
}

func TestConsumerGroupRegexFollowsTopics(t *testing.T) {
	env := testEnv(topicInfo("foo-a", 2), topicInfo("foo-b", 1), topicInfo("bar", 2), topicInfo("xfoo-c", 1))
	cg := newConsumerGroup("g")
	join := cgJoin("m1")
	join.SubscribedTopicNames = nil
	join.SubscribedTopicRegex = kmsg.StringPtr("foo-.*")
	got := given(step(t, cg, env, join))
	assert.Equal(t, parts("foo-a", []int32{0, 1}, "foo-b", []int32{0}), got, "the whole name must match")

	// A matching topic appears: the next heartbeat reassigns.
	env.topics["foo-new"] = topicInfo("foo-new", 1)
	epoch := cg.epoch
	r := step(t, cg, env, cgBeat("m1", epoch, got))
	assert.Equal(t, epoch+1, cg.epoch)
	got = given(r)
	assert.True(t, got.has(tid("foo-new"), 0))

	// One is deleted: it is revoked.
	delete(env.topics, "foo-a")
	r = step(t, cg, env, cgBeat("m1", cg.members["m1"].Epoch, got))
	assert.False(t, given(r).has(tid("foo-a"), 0))

	bad := cgJoin("m2")
	bad.SubscribedTopicNames = nil
	bad.SubscribedTopicRegex = kmsg.StringPtr("foo-(")
	assert.Equal(t, kerr.InvalidRegularExpression, stepErr(t, cg, env, bad))
}

func TestConsumerGroupAssignorChoice(t *testing.T) {
	env := testEnv(topicInfo("a", 3), topicInfo("b", 3))
	cg := newConsumerGroup("g")
	j1 := cgJoin("m1", "a", "b")
	j1.ServerAssignor = kmsg.StringPtr("range")
	step(t, cg, env, j1)
	j2 := cgJoin("m2", "a", "b")
	j2.ServerAssignor = kmsg.StringPtr("range")
	step(t, cg, env, j2)
	assert.Equal(t, "range", cg.preferredAssignor(env))
	assert.Equal(t, parts("a", []int32{0, 1}, "b", []int32{0, 1}), cg.members["m1"].Target)

	assert.Equal(t, "uniform", newConsumerGroup("h").preferredAssignor(env), "the configured default")
	env.maxSize = 2
	assert.Equal(t, kerr.GroupMaxSizeReached, stepErr(t, cg, env, cgJoin("m3", "a")))
}

func TestConsumerGroupCommitEpochs(t *testing.T) {
	env := testEnv(topicInfo("t", 4))
	cg := newConsumerGroup("g")
	assert.Nil(t, cg.validateCommit("", -1, nil, env), "an admin commits to an empty group")
	all := given(step(t, cg, env, cgJoin("m1", "t")))
	commit := func(p int32) []OffsetCommit { return []OffsetCommit{{Topic: "t", Partition: p, Offset: 1}} }

	assert.Equal(t, kerr.UnknownMemberID, cg.validateCommit("", -1, commit(0), env))
	assert.Equal(t, kerr.UnknownMemberID, cg.validateCommit("x", 1, commit(0), env))
	assert.Nil(t, cg.validateCommit("m1", 1, commit(0), env))
	assert.Equal(t, kerr.StaleMemberEpoch, cg.validateCommit("m1", 2, commit(0), env))

	// m1 moves to epoch 2 keeping two partitions: its epoch-1 commits
	// still count for those (KIP-1251), not for the two it gave up.
	step(t, cg, env, cgJoin("m2", "t"))
	kept := given(step(t, cg, env, cgBeat("m1", 1, all)))
	step(t, cg, env, cgBeat("m1", 1, kept))
	require.Equal(t, int32(2), cg.members["m1"].Epoch)
	for p := range int32(4) {
		c := commit(p)
		require.Nil(t, cg.validateCommit("m1", 1, c, env))
		if kept.has(tid("t"), p) {
			assert.Nil(t, c[0].Err, "partition %d kept", p)
		} else {
			assert.Equal(t, kerr.StaleMemberEpoch, c[0].Err, "partition %d given up", p)
		}
	}
	// Partitions m2 got at epoch 2 cannot be committed by it at epoch 1.
	m2 := given(step(t, cg, env, cgBeat("m2", 2, assignment{})))
	for _, p := range m2[tid("t")] {
		c := commit(p)
		require.Nil(t, cg.validateCommit("m2", 1, c, env))
		assert.Equal(t, kerr.StaleMemberEpoch, c[0].Err)
	}

	assert.Nil(t, cg.validateFetch(nil, -1))
	assert.Nil(t, cg.validateFetch(kmsg.StringPtr("m1"), 2))
	assert.Equal(t, kerr.StaleMemberEpoch, cg.validateFetch(kmsg.StringPtr("m1"), 1))
	assert.Equal(t, kerr.UnknownMemberID, cg.validateFetch(kmsg.StringPtr("zz"), 1))
}

// The coordinator around the state machine: etcd, timers, the classic
// APIs' view of consumer groups.

func newConsumerTestCoordinator(t *testing.T, store Store, topics ...TopicInfo) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = 10 * time.Millisecond
	cfg.ConsumerSessionTimeout = 45 * time.Second
	c := New(cfg, store, nil, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	c.SetTopics(func() []TopicInfo { return topics })
	t.Cleanup(c.Close)
	return c
}

func cgHeartbeat(t *testing.T, c *Coordinator, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	return c.ConsumerGroupHeartbeat(context.Background(), req, "client", "/127.0.0.1")
}

func TestConsumerGroupStoredAndLoaded(t *testing.T) {
	store := startStore(t)
	topics := []TopicInfo{topicInfo("t", 4)}
	c := newConsumerTestCoordinator(t, store, topics...)
	ctx := context.Background()

	r := cgHeartbeat(t, c, cgJoin("m1", "t"))
	require.Equal(t, int16(0), r.ErrorCode)
	assert.Equal(t, int32(5000), r.HeartbeatIntervalMillis)
	all := given(r)
	r = cgHeartbeat(t, c, cgJoin("m2", "t"))
	require.Equal(t, int16(0), r.ErrorCode)
	r = cgHeartbeat(t, c, cgBeat("m1", 1, all))
	kept := given(r)
	require.Equal(t, 2, kept.count())

	// Another coordinator (after a failover) loads the group from etcd:
	// m1 carries on revoking where it was.
	c2 := newConsumerTestCoordinator(t, store, topics...)
	d := c2.DescribeConsumerGroup(ctx, "g")
	require.Equal(t, int16(0), d.ErrorCode)
	assert.Equal(t, "Reconciling", d.State)
	assert.Equal(t, int32(2), d.Epoch)
	require.Len(t, d.Members, 2)
	assert.Equal(t, "m1", d.Members[0].MemberID)
	assert.Equal(t, int32(1), d.Members[0].MemberEpoch)
	assert.Equal(t, "t", d.Members[0].Assignment.TopicPartitions[0].Topic)
	assert.Equal(t, int8(1), d.Members[0].MemberType)
	r = cgHeartbeat(t, c2, cgBeat("m1", 1, kept))
	require.Equal(t, int16(0), r.ErrorCode)
	assert.Equal(t, int32(2), r.MemberEpoch)
	r = cgHeartbeat(t, c2, cgBeat("m2", 2, assignment{}))
	require.Equal(t, int16(0), r.ErrorCode)
	assert.Equal(t, 2, given(r).count())
	assert.Equal(t, "Stable", c2.DescribeConsumerGroup(ctx, "g").State)

	// Offsets: the member epoch is the generation.
	commit := []OffsetCommit{{Topic: "t", Partition: kept[tid("t")][0], Offset: 7}}
	assert.Nil(t, c2.Commit(ctx, "g", "m1", nil, 2, commit))
	assert.Nil(t, commit[0].Err)
	assert.Equal(t, kerr.StaleMemberEpoch, c2.Commit(ctx, "g", "m1", nil, 3, commit))
	assert.Equal(t, kerr.UnknownMemberID, c2.Commit(ctx, "g", "", nil, -1, commit))
	assert.Equal(t, kerr.StaleMemberEpoch, c2.CheckConsumerOffsetFetch(ctx, "g", kmsg.StringPtr("m1"), 1))
	assert.Nil(t, c2.CheckConsumerOffsetFetch(ctx, "g", kmsg.StringPtr("m1"), 2))
	got, ferr := c2.Fetch(ctx, "g", map[string][]int32{"t": {commit[0].Partition}}, false)
	require.Nil(t, ferr)
	assert.Equal(t, int64(7), got[0].Offset)
}

func TestConsumerGroupAndClassicAPIs(t *testing.T) {
	store := startStore(t)
	c := newConsumerTestCoordinator(t, store, topicInfo("t", 2))
	ctx := context.Background()
	require.Equal(t, int16(0), cgHeartbeat(t, c, cgJoin("m1", "t")).ErrorCode)

	groups, err := c.List(ctx, func(string) bool { return true })
	require.NoError(t, err)
	require.Len(t, groups, 1)
	assert.Equal(t, GroupSummary{ID: "g", State: "Stable", ProtocolType: "consumer", Type: "consumer"}, groups[0])

	_, err = c.Describe(ctx, "g")
	assert.ErrorIs(t, err, ErrGroupNotFound, "DescribeGroups describes classic groups only")
	assert.Equal(t, kerr.InconsistentGroupProtocol.Code, recv(t, join(c, joinReq("g", "", time.Minute, "range"))).ErrorCode)
	assert.Equal(t, kerr.NonEmptyGroup, c.Delete(ctx, "g"))
	errs, derr := c.DeleteOffsets(ctx, "g", map[string][]int32{"t": {0}})
	require.Nil(t, derr)
	assert.Equal(t, kerr.GroupSubscribedToTopic, errs["t"])

	leave := cgBeat("m1", leaveEpoch, nil)
	leave.Topics = nil
	require.Equal(t, int16(0), cgHeartbeat(t, c, leave).ErrorCode)
	assert.Equal(t, "Empty", c.DescribeConsumerGroup(ctx, "g").State)
	assert.Nil(t, c.Delete(ctx, "g"))
	assert.Equal(t, kerr.GroupIDNotFound.Code, c.DescribeConsumerGroup(ctx, "g").ErrorCode)

	// A classic group with members is not taken over; an empty one is,
	// and an empty consumer group turns classic on JoinGroup.
	a := joinNew(t, c, "classic", time.Minute)
	recv(t, join(c, joinReq("classic", a, time.Minute, "range")))
	j := cgJoin("m1", "t")
	j.Group = "classic"
	assert.Equal(t, kerr.GroupIDNotFound.Code, cgHeartbeat(t, c, j).ErrorCode)
	require.Nil(t, c.Leave(ctx, "classic", a, nil))
	require.Equal(t, int16(0), cgHeartbeat(t, c, j).ErrorCode)
	leave.Group = "classic"
	require.Equal(t, int16(0), cgHeartbeat(t, c, leave).ErrorCode)
	assert.Equal(t, kerr.MemberIDRequired.Code, recv(t, join(c, joinReq("classic", "", time.Minute, "range"))).ErrorCode)
}

func TestConsumerGroupTimers(t *testing.T) {
	store := startStore(t)
	c := newConsumerTestCoordinator(t, store, topicInfo("t", 2))
	c.cfg.ConsumerSessionTimeout = 300 * time.Millisecond
	ctx := context.Background()

	// A member that stops heartbeating is fenced after the session
	// timeout.
	require.Equal(t, int16(0), cgHeartbeat(t, c, cgJoin("gone", "t")).ErrorCode)
	require.Eventually(t, func() bool {
		return c.DescribeConsumerGroup(ctx, "g").State == "Empty"
	}, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, kerr.UnknownMemberID.Code, cgHeartbeat(t, c, cgBeat("gone", 1, nil)).ErrorCode)

	// A member that does not revoke within its rebalance timeout is
	// fenced too, and its partitions go to the member waiting for them.
	c.cfg.ConsumerSessionTimeout = time.Minute
	slow := cgJoin("slow", "t")
	slow.RebalanceTimeoutMillis = 300
	all := given(cgHeartbeat(t, c, slow))
	require.Equal(t, 2, all.count())
	epoch := cgHeartbeat(t, c, cgJoin("next", "t")).MemberEpoch
	r := cgHeartbeat(t, c, cgBeat("slow", epoch-1, all))
	require.Equal(t, int16(0), r.ErrorCode)
	require.Equal(t, 1, given(r).count(), "slow must give one partition up")
	require.Eventually(t, func() bool {
		return len(c.DescribeConsumerGroup(ctx, "g").Members) == 1
	}, 5*time.Second, 20*time.Millisecond)
	r = cgHeartbeat(t, c, cgBeat("next", epoch, assignment{}))
	require.Equal(t, int16(0), r.ErrorCode)
	assert.Equal(t, all, given(r))
}

func TestConsumerGroupV0NamesTheMember(t *testing.T) {
	c := newConsumerTestCoordinator(t, startStore(t), topicInfo("t", 1))
	req := cgJoin("", "t")
	req.Version = 0
	r := cgHeartbeat(t, c, req)
	require.Equal(t, int16(0), r.ErrorCode)
	require.NotNil(t, r.MemberID)
	assert.NotEmpty(t, *r.MemberID)
	assert.Equal(t, int32(1), r.MemberEpoch)
}
