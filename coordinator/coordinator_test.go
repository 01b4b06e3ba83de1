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

	"github.com/kafkad/kafkad/controller/metastore"
)

// startStore returns a metadata store on a real embedded etcd.
func startStore(t *testing.T) *metastore.Store {
	t.Helper()
	return metastore.StartTest(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
}

func newTestCoordinator(t *testing.T, store Store) *Coordinator {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = 10 * time.Millisecond
	c := New(cfg, store, nil, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	t.Cleanup(c.Close)
	return c
}

func joinReq(group, member string, session time.Duration, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	req.SessionTimeoutMillis = int32(session / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(5 * time.Second / time.Millisecond)
	for _, p := range protocols {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte("meta-" + p)})
	}
	return req
}

// join sends a JoinGroup and returns a channel of its (possibly later)
// answer.
func join(c *Coordinator, req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	c.Join(context.Background(), req, "client", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) { ch <- r })
	return ch
}

func syncGroup(c *Coordinator, group, member string, generation int32, assignments map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	for id, a := range assignments {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.Sync(context.Background(), req, func(r *kmsg.SyncGroupResponse) { ch <- r })
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		panic("unreachable")
	}
}

func heartbeat(c *Coordinator, group, member string, generation int32) *kerr.Error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	return c.Heartbeat(context.Background(), req)
}

// joinNew does the KIP-394 round trip and returns the member id.
func joinNew(t *testing.T, c *Coordinator, group string, session time.Duration) string {
	t.Helper()
	first := recv(t, join(c, joinReq(group, "", session, "range")))
	require.Equal(t, kerr.MemberIDRequired.Code, first.ErrorCode)
	require.NotEmpty(t, first.MemberID)
	return first.MemberID
}

func TestGroupLifecycle(t *testing.T) {
	c := newTestCoordinator(t, startStore(t))
	const g = "lifecycle"

	a := joinNew(t, c, g, time.Minute)
	ja := recv(t, join(c, joinReq(g, a, time.Minute, "range", "roundrobin")))
	require.Equal(t, int16(0), ja.ErrorCode)
	assert.Equal(t, int32(1), ja.Generation)
	assert.Equal(t, a, ja.LeaderID)
	assert.Equal(t, "range", *ja.Protocol)
	require.Len(t, ja.Members, 1, "the leader sees every member")
	sa := recv(t, syncGroup(c, g, a, 1, map[string]string{a: "all"}))
	require.Equal(t, int16(0), sa.ErrorCode)
	assert.Equal(t, "all", string(sa.MemberAssignment))
	assert.Nil(t, heartbeat(c, g, a, 1))

	// A second member: the first learns of the rebalance by heartbeat and
	// rejoins; the join phase ends when both are in.
	b := joinNew(t, c, g, time.Minute)
	jbCh := join(c, joinReq(g, b, time.Minute, "roundrobin", "range"))
	assert.Equal(t, kerr.RebalanceInProgress, heartbeat(c, g, a, 1))
	ja = recv(t, join(c, joinReq(g, a, time.Minute, "range", "roundrobin")))
	jb := recv(t, jbCh)
	require.Equal(t, int16(0), ja.ErrorCode)
	require.Equal(t, int16(0), jb.ErrorCode)
	assert.Equal(t, int32(2), ja.Generation)
	assert.Equal(t, a, ja.LeaderID, "the leader stays")
	assert.Len(t, ja.Members, 2)
	assert.Empty(t, jb.Members, "followers get no member list")

	// The follower's sync waits for the leader's.
	sbCh := syncGroup(c, g, b, 2, nil)
	select {
	case <-sbCh:
		t.Fatal("follower answered before the leader synced")
	case <-time.After(50 * time.Millisecond):
	}
	recv(t, syncGroup(c, g, a, 2, map[string]string{a: "p0", b: "p1"}))
	assert.Equal(t, "p1", string(recv(t, sbCh).MemberAssignment))

	assert.Equal(t, kerr.IllegalGeneration, heartbeat(c, g, b, 1))
	assert.Equal(t, kerr.UnknownMemberID, heartbeat(c, g, "nobody", 2))

	desc, err := c.Describe(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, "Stable", desc.State)
	assert.Len(t, desc.Members, 2)

	// The leader leaves: b rejoins alone and becomes leader.
	require.Nil(t, c.Leave(context.Background(), g, a, nil))
	jb = recv(t, join(c, joinReq(g, b, time.Minute, "roundrobin", "range")))
	assert.Equal(t, int32(3), jb.Generation)
	assert.Equal(t, b, jb.LeaderID)
	assert.Equal(t, "roundrobin", *jb.Protocol, "the one member's first choice")
	require.Nil(t, c.Leave(context.Background(), g, b, nil))
	desc, err = c.Describe(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, "Empty", desc.State)
}

func TestSessionExpiryRemovesMember(t *testing.T) {
	c := newTestCoordinator(t, startStore(t))
	const g = "expiry"
	a := joinNew(t, c, g, 200*time.Millisecond)
	recv(t, join(c, joinReq(g, a, 200*time.Millisecond, "range")))
	recv(t, syncGroup(c, g, a, 1, map[string]string{a: "x"}))
	require.Eventually(t, func() bool {
		d, _ := c.Describe(context.Background(), g)
		return d.State == "Empty" && len(d.Members) == 0
	}, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, kerr.UnknownMemberID, heartbeat(c, g, a, 1))
}

func TestJoinErrors(t *testing.T) {
	c := newTestCoordinator(t, startStore(t))
	assert.Equal(t, kerr.UnknownMemberID.Code, recv(t, join(c, joinReq("e", "made-up", time.Minute, "range"))).ErrorCode)
	assert.Equal(t, kerr.InvalidSessionTimeout.Code, recv(t, join(c, joinReq("e", "", time.Millisecond, "range"))).ErrorCode)
	assert.Equal(t, kerr.InconsistentGroupProtocol.Code, recv(t, join(c, joinReq("e", "", time.Minute))).ErrorCode)

	a := joinNew(t, c, "e", time.Minute)
	recv(t, join(c, joinReq("e", a, time.Minute, "range")))
	b := joinNew(t, c, "e", time.Minute)
	assert.Equal(t, kerr.InconsistentGroupProtocol.Code, recv(t, join(c, joinReq("e", b, time.Minute, "sticky"))).ErrorCode,
		"no protocol in common with the group")
}

func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	c := newTestCoordinator(t, startStore(t))
	const g = "static"
	req := joinReq(g, "", time.Minute, "range")
	inst := "instance-1"
	req.InstanceID = &inst
	first := recv(t, join(c, req))
	require.Equal(t, int16(0), first.ErrorCode, "static members skip the member id round trip")
	recv(t, syncGroup(c, g, first.MemberID, 1, map[string]string{first.MemberID: "mine"}))

	// The same instance restarts: a new member id, the old one fenced, the
	// same generation and assignment; as the leader it is told to skip
	// the assignment (KIP-814). Its metadata changed (clients put their
	// last generation in it), its protocol did not.
	req.Protocols[0].Metadata = []byte("generation -1")
	again := recv(t, join(c, req))
	require.Equal(t, int16(0), again.ErrorCode)
	assert.NotEqual(t, first.MemberID, again.MemberID)
	assert.Equal(t, first.Generation, again.Generation, "no rebalance")
	assert.True(t, again.SkipAssignment)
	assert.Equal(t, again.MemberID, again.LeaderID)
	assert.Equal(t, "mine", string(recv(t, syncGroup(c, g, again.MemberID, again.Generation, nil)).MemberAssignment))
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = g, first.MemberID, again.Generation, &inst
	assert.Equal(t, kerr.FencedInstanceID, c.Heartbeat(context.Background(), hb))
}

func TestOffsetsCommitFetchAndSurviveRestart(t *testing.T) {
	store := startStore(t)
	c := newTestCoordinator(t, store)
	ctx := context.Background()
	meta := "m"
	commits := []OffsetCommit{
		{Topic: "t", Partition: 0, Offset: 10, Epoch: 1, Metadata: &meta},
		{Topic: "t", Partition: 1, Offset: 20, Epoch: -1},
		{Topic: "u", Partition: 0, Offset: 5, Epoch: -1, Err: kerr.UnknownTopicOrPartition},
	}
	require.Nil(t, c.Commit(ctx, "standalone", "", nil, -1, commits))
	assert.Nil(t, commits[0].Err)
	assert.Equal(t, kerr.UnknownTopicOrPartition, commits[2].Err)

	big := string(make([]byte, 5000))
	tooBig := []OffsetCommit{{Topic: "t", Partition: 2, Offset: 1, Metadata: &big}}
	require.Nil(t, c.Commit(ctx, "standalone", "", nil, -1, tooBig))
	assert.Equal(t, kerr.OffsetMetadataTooLarge, tooBig[0].Err)

	check := func(c *Coordinator) {
		got, err := c.Fetch(ctx, "standalone", map[string][]int32{"t": {0, 1, 2}}, false)
		require.Nil(t, err)
		assert.Equal(t, []FetchedOffset{
			{Topic: "t", Partition: 0, Offset: 10, Epoch: 1, Metadata: "m"},
			{Topic: "t", Partition: 1, Offset: 20, Epoch: -1},
			{Topic: "t", Partition: 2, Offset: -1, Epoch: -1},
		}, got)
		all, err := c.Fetch(ctx, "standalone", nil, false)
		require.Nil(t, err)
		assert.Len(t, all, 2, "a nil topic list fetches every committed offset")
	}
	check(c)
	check(newTestCoordinator(t, store)) // a restarted coordinator reads them from etcd

	// A member of an active group must commit with its generation.
	a := joinNew(t, c, "active", time.Minute)
	recv(t, join(c, joinReq("active", a, time.Minute, "range")))
	recv(t, syncGroup(c, "active", a, 1, map[string]string{a: "x"}))
	one := []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}
	assert.Equal(t, kerr.IllegalGeneration, c.Commit(ctx, "active", a, nil, 7, one))
	assert.Equal(t, kerr.UnknownMemberID, c.Commit(ctx, "active", "", nil, -1, one), "no standalone commits while the group has members")
	assert.Nil(t, c.Commit(ctx, "active", a, nil, 1, one))

	groups, err := c.List(ctx, func(string) bool { return true })
	require.NoError(t, err)
	states := map[string]string{}
	for _, g := range groups {
		states[g.ID] = g.State
	}
	assert.Equal(t, map[string]string{"standalone": "Empty", "active": "Stable"}, states)

	assert.Equal(t, kerr.NonEmptyGroup, c.Delete(ctx, "active"))
	assert.Nil(t, c.Delete(ctx, "standalone"))
	assert.Equal(t, kerr.GroupIDNotFound, c.Delete(ctx, "standalone"))
	got, ferr := newTestCoordinator(t, store).Fetch(ctx, "standalone", nil, false)
	require.Nil(t, ferr)
	assert.Empty(t, got, "deleting a group deletes its offsets in etcd")
}

func TestOffsetDeleteRespectsSubscriptions(t *testing.T) {
	c := newTestCoordinator(t, startStore(t))
	ctx := context.Background()
	sub := kmsg.ConsumerMemberMetadata{Topics: []string{"subscribed"}}
	a := joinNew(t, c, "od", time.Minute)
	req := joinReq("od", a, time.Minute)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: sub.AppendTo(nil)}}
	recv(t, join(c, req))
	recv(t, syncGroup(c, "od", a, 1, nil))
	require.Nil(t, c.Commit(ctx, "od", a, nil, 1, []OffsetCommit{{Topic: "subscribed", Offset: 1}, {Topic: "other", Offset: 2}}))

	errs, err := c.DeleteOffsets(ctx, "od", map[string][]int32{"subscribed": {0}, "other": {0}})
	require.Nil(t, err)
	assert.Equal(t, kerr.GroupSubscribedToTopic, errs["subscribed"])
	assert.Nil(t, errs["other"])
	got, ferr := c.Fetch(ctx, "od", nil, false)
	require.Nil(t, ferr)
	require.Len(t, got, 1)
	assert.Equal(t, "subscribed", got[0].Topic)
}
