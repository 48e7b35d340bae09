package sim

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// emptyGroup is a scenario with one group and nothing in it.
func emptyGroup(o *Options) {
	o.Scenario = &Scenario{Groups: []Group{{ID: "g1", Name: "web"}}}
}

// The whole hook life cycle works through the official SDK: create, list,
// show and update hooks; ADD holds the instance; the hanging list shows it;
// EXTEND moves the timeout by the extension; CONTINUE releases it and a
// second callback gets AS.7042; REMOVE holds it with the terminate hook and
// ABANDON completes the removal. The record names every call.
func TestSDKHookLifecycle(t *testing.T) {
	ts := newSDKSim(t, emptyGroup)
	c := ts.client(t)
	types := model.GetCreateLifeCycleHookOptionLifecycleHookTypeEnum()
	results := model.GetCreateLifeCycleHookOptionDefaultResultEnum()

	created, err := createHook(c, "g1", "boot", types.INSTANCE_LAUNCHING, results.ABANDON, 300)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if *created.LifecycleHookName != "boot" || created.LifecycleHookType.Value() != HookLaunch ||
		*created.DefaultTimeout != 300 || *created.NotificationTopicName != "hooks" || created.CreateTime == nil {
		t.Errorf("create answer: %+v", created)
	}
	if _, err := createHook(c, "g1", "drain", types.INSTANCE_TERMINATING, results.CONTINUE, 120); err != nil {
		t.Fatalf("create drain: %v", err)
	}
	list, err := c.ListLifeCycleHooks(&model.ListLifeCycleHooksRequest{ScalingGroupId: "g1"})
	if err != nil || len(*list.LifecycleHooks) != 2 || *(*list.LifecycleHooks)[1].LifecycleHookName != "drain" {
		t.Fatalf("list hooks: %v %+v", err, list)
	}
	upd := model.GetUpdateLifeCycleHookOptionDefaultResultEnum().CONTINUE
	updated, err := c.UpdateLifeCycleHook(&model.UpdateLifeCycleHookRequest{
		ScalingGroupId: "g1", LifecycleHookName: "boot",
		Body: &model.UpdateLifeCycleHookOption{DefaultTimeout: ptr(int32(600)), DefaultResult: &upd},
	})
	if err != nil || *updated.DefaultTimeout != 600 || updated.DefaultResult.Value() != ResultContinue {
		t.Fatalf("update: %v %+v", err, updated)
	}
	shown, err := c.ShowLifeCycleHook(&model.ShowLifeCycleHookRequest{ScalingGroupId: "g1", LifecycleHookName: "boot"})
	if err != nil || *shown.DefaultTimeout != 600 {
		t.Fatalf("show: %v %+v", err, shown)
	}

	add := model.GetBatchAddInstancesOptionActionEnum().ADD
	if _, err := c.BatchAddScalingInstances(&model.BatchAddScalingInstancesRequest{
		ScalingGroupId: "g1", Body: &model.BatchAddInstancesOption{InstancesId: []string{"i-1"}, Action: add},
	}); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if got := instanceStates(t, c, "g1"); got["i-1"] != StatePendingWait {
		t.Fatalf("after ADD: %v", got)
	}
	recs := hangingList(t, c, "g1", "i-1")
	if len(recs) != 1 || *recs[0].LifecycleHookName != "boot" || recs[0].LifecycleHookStatus.Value() != "HANGING" ||
		*recs[0].DefaultResult != ResultContinue {
		t.Fatalf("hanging after ADD: %+v", recs)
	}
	timeout, err := time.Parse(apiTime, *recs[0].Timeout)
	if want := ts.fake().Now().Add(600 * time.Second); err != nil || !timeout.Equal(want) {
		t.Errorf("timeout %v (%v), want %v", timeout, err, want)
	}

	key := *recs[0].LifecycleActionKey
	if err := callback(c, "g1", key, "", "", ResultExtend); err != nil {
		t.Fatalf("EXTEND: %v", err)
	}
	recs = hangingList(t, c, "g1", "i-1")
	if extended, _ := time.Parse(apiTime, *recs[0].Timeout); extended.Sub(timeout) != DefaultExtendBy {
		t.Errorf("EXTEND moved the timeout from %v to %v, want +%v", timeout, extended, DefaultExtendBy)
	}

	if err := callback(c, "g1", "", "i-1", "boot", ResultContinue); err != nil {
		t.Fatalf("CONTINUE: %v", err)
	}
	if recs := hangingList(t, c, "g1", ""); len(recs) != 0 {
		t.Errorf("still listed after CONTINUE: %+v", recs)
	}
	wantSDKError(t, callback(c, "g1", key, "", "", ResultContinue), http.StatusBadRequest, "AS.7042")
	if got := instanceStates(t, c, "g1"); got["i-1"] != StateInService {
		t.Fatalf("after CONTINUE: %v", got)
	}

	remove := model.GetBatchRemoveInstancesOptionActionEnum().REMOVE
	if _, err := c.BatchRemoveScalingInstances(&model.BatchRemoveScalingInstancesRequest{
		ScalingGroupId: "g1", Body: &model.BatchRemoveInstancesOption{InstancesId: []string{"i-1"}, Action: remove},
	}); err != nil {
		t.Fatalf("REMOVE: %v", err)
	}
	recs = hangingList(t, c, "g1", "")
	if len(recs) != 1 || *recs[0].LifecycleHookName != "drain" {
		t.Fatalf("hanging after REMOVE: %+v", recs)
	}
	if err := callback(c, "g1", *recs[0].LifecycleActionKey, "", "", ResultAbandon); err != nil {
		t.Fatalf("ABANDON: %v", err)
	}
	if got := instanceStates(t, c, "g1"); len(got) != 0 {
		t.Errorf("instances after the terminate hook was answered: %v", got)
	}

	var routes []Route
	for _, r := range ts.Requests() {
		routes = append(routes, r.Route)
	}
	want := []Route{RouteCreateHook, RouteCreateHook, RouteListHooks, RouteUpdateHook, RouteShowHook,
		RouteInstanceAction, RouteListInstances, RouteListHookInstances, RouteCallback, RouteListHookInstances,
		RouteCallback, RouteListHookInstances, RouteCallback, RouteListInstances,
		RouteInstanceAction, RouteListHookInstances, RouteCallback, RouteListInstances}
	if !slices.Equal(routes, want) {
		t.Errorf("recorded routes\n%v\nwant\n%v", routes, want)
	}
	cb := ts.RequestsTo(RouteCallback)
	if cb[1].InstanceID != "i-1" || cb[1].Hook != "boot" || cb[1].Result != ResultContinue || cb[1].Status != 204 {
		t.Errorf("CONTINUE record: %+v", cb[1])
	}
	if cb[2].Status != 400 || cb[2].ErrorCode != "AS.7042" {
		t.Errorf("second CONTINUE record: %+v", cb[2])
	}
}

// A hook that nobody answers applies its default_result when it times out:
// CONTINUE puts the instance in service, and the outcome says "timeout".
func TestSDKTimeoutAppliesDefaultResult(t *testing.T) {
	ts := newSDKSim(t, emptyGroup)
	c := ts.client(t)
	types := model.GetCreateLifeCycleHookOptionLifecycleHookTypeEnum()
	results := model.GetCreateLifeCycleHookOptionDefaultResultEnum()
	if _, err := createHook(c, "g1", "boot", types.INSTANCE_LAUNCHING, results.CONTINUE, 60); err != nil {
		t.Fatal(err)
	}
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	ts.fake().Advance(59 * time.Second)
	if recs := hangingList(t, c, "g1", "i-1"); len(recs) != 1 || recs[0].LifecycleHookStatus.Value() != "HANGING" {
		t.Fatalf("before the timeout: %+v", recs)
	}
	ts.fake().Advance(time.Second)
	if recs := hangingList(t, c, "g1", "i-1"); len(recs) != 0 {
		t.Errorf("after the timeout: %+v", recs)
	}
	if got := instanceStates(t, c, "g1"); got["i-1"] != StateInService {
		t.Errorf("after the timeout: %v", got)
	}
	out := ts.Outcomes()
	if len(out) != 1 || out[0].By != ByTimeout || out[0].Result != ResultContinue {
		t.Errorf("outcomes %+v", out)
	}
}

// Authentication follows the signing rules: the permanent AK/SK and
// unexpired temporary credentials with their security token work; a wrong
// SK, an unknown AK, a missing or expired security token get 401 AS.0006;
// a foreign project gets 400 AS.0008. Rotated-out credentials keep working
// until they expire.
func TestSDKAuthentication(t *testing.T) {
	ts := newSDKSim(t, func(o *Options) { o.CredentialLifetime = 10 * time.Minute })
	temp, _ := ts.securityKey(t)
	tc := temp.Credential
	ts.RotateCredentials()
	cases := []struct {
		name               string
		ak, sk, token, prj string
		advance            time.Duration
		wantStatus         int
		wantCode           string
	}{
		{"permanent", testAK, testSK, "", "", 0, 200, ""},
		{"wrong SK", testAK, "not-the-secret", "", "", 0, 401, "AS.0006"},
		{"unknown AK", "UNKNOWNACCESSKEY0000", testSK, "", "", 0, 401, "AS.0006"},
		{"foreign project", testAK, testSK, "", "0123456789abcdef0123456789abcdef", 0, 400, "AS.0008"},
		{"temporary (rotated out)", tc.Access, tc.Secret, tc.SecurityToken, "", 0, 200, ""},
		{"temporary without token", tc.Access, tc.Secret, "", "", 0, 401, "AS.0006"},
		{"temporary with wrong token", tc.Access, tc.Secret, "sim-sts-bogus", "", 0, 401, "AS.0006"},
		{"permanent with a token", testAK, testSK, tc.SecurityToken, "", 0, 401, "AS.0006"},
		// Last: it moves the clock past the credential's expiry (and stays
		// within the 15 minutes of X-Sdk-Date skew).
		{"temporary expired", tc.Access, tc.Secret, tc.SecurityToken, "", 11 * time.Minute, 401, "AS.0006"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts.fake().Advance(c.advance)
			prj := c.prj
			if prj == "" {
				prj = ts.ProjectID()
			}
			_, err := ts.asClient(t, c.ak, c.sk, c.token, prj).ListLifeCycleHooks(
				&model.ListLifeCycleHooksRequest{ScalingGroupId: DefaultGroupID})
			if c.wantStatus == 200 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantSDKError(t, err, c.wantStatus, c.wantCode)
		})
	}
}

// Throttling surfaces in the SDK as a service error with code APIG.0308 and
// status 429, and the bucket refills with the clock.
func TestSDKThrottle(t *testing.T) {
	ts := newSDKSim(t)
	c := ts.client(t)
	ts.SetThrottle(1, 2)
	list := func() error {
		_, err := c.ListLifeCycleHooks(&model.ListLifeCycleHooksRequest{ScalingGroupId: DefaultGroupID})
		return err
	}
	for i := range 2 {
		if err := list(); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	wantSDKError(t, list(), http.StatusTooManyRequests, "APIG.0308")
	ts.fake().Advance(time.Second)
	if err := list(); err != nil {
		t.Errorf("after a second: %v", err)
	}
	ts.SetThrottle(0, 0)
	for range 5 {
		if err := list(); err != nil {
			t.Fatalf("throttle off: %v", err)
		}
	}
}

// Errors use the documented codes and statuses, as the SDK reports them.
func TestSDKErrorCodes(t *testing.T) {
	ts := newSDKSim(t)
	c := ts.client(t)
	types := model.GetCreateLifeCycleHookOptionLifecycleHookTypeEnum()
	results := model.GetCreateLifeCycleHookOptionDefaultResultEnum()
	local := DefaultInstanceID
	cases := []struct {
		name       string
		call       func() error
		wantStatus int
		wantCode   string
	}{
		{"callback empty result", func() error { return callback(c, DefaultGroupID, "", local, DefaultLaunchHook, "") }, 400, "AS.7039"},
		{"callback bad result", func() error { return callback(c, DefaultGroupID, "", local, DefaultLaunchHook, "RETRY") }, 400, "AS.7034"},
		{"callback no object", func() error { return callback(c, DefaultGroupID, "", local, "", ResultContinue) }, 400, "AS.7040"},
		{"callback unknown key", func() error { return callback(c, DefaultGroupID, "no-such-key", "", "", ResultContinue) }, 400, "AS.7042"},
		{"callback hook not holding", func() error {
			return callback(c, DefaultGroupID, "", local, DefaultTerminateHook, ResultContinue)
		}, 400, "AS.7042"},
		{"callback unknown instance", func() error { return callback(c, DefaultGroupID, "", "i-x", DefaultLaunchHook, ResultContinue) }, 400, "AS.4006"},
		{"callback unknown group", func() error { return callback(c, "no-group", "", local, DefaultLaunchHook, ResultContinue) }, 400, "AS.2007"},
		{"hanging list unknown group", func() error {
			_, err := c.ListHookInstances(&model.ListHookInstancesRequest{ScalingGroupId: "no-group"})
			return err
		}, 400, "AS.2007"},
		{"show unknown hook", func() error {
			_, err := c.ShowLifeCycleHook(&model.ShowLifeCycleHookRequest{ScalingGroupId: DefaultGroupID, LifecycleHookName: "nope"})
			return err
		}, 404, "AS.0007"},
		{"create timeout too short", func() error {
			_, err := createHook(c, DefaultGroupID, "short", types.INSTANCE_LAUNCHING, results.ABANDON, 59)
			return err
		}, 400, "AS.0022"},
		{"create duplicate", func() error {
			_, err := createHook(c, DefaultGroupID, DefaultLaunchHook, types.INSTANCE_LAUNCHING, results.ABANDON, 60)
			return err
		}, 400, "AS.0022"},
		{"remove instance not in group", func() error {
			_, err := c.BatchRemoveScalingInstances(&model.BatchRemoveScalingInstancesRequest{ScalingGroupId: DefaultGroupID,
				Body: &model.BatchRemoveInstancesOption{InstancesId: []string{"i-x"}, Action: model.GetBatchRemoveInstancesOptionActionEnum().REMOVE}})
			return err
		}, 400, "AS.4006"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantSDKError(t, tc.call(), tc.wantStatus, tc.wantCode) })
	}

	t.Run("hook quota", func(t *testing.T) {
		for _, name := range []string{"h3", "h4", "h5"} {
			if _, err := createHook(c, DefaultGroupID, name, types.INSTANCE_LAUNCHING, results.ABANDON, 60); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
		}
		_, err := createHook(c, DefaultGroupID, "h6", types.INSTANCE_LAUNCHING, results.ABANDON, 60)
		wantSDKError(t, err, 400, "AS.7038")
	})
}

// Group discovery works through the SDK: list groups, then a group's
// instances, with paging and the life_cycle_state filter.
func TestSDKListGroupsAndInstances(t *testing.T) {
	ts := newSDKSim(t, func(o *Options) {
		o.Scenario = &Scenario{Groups: []Group{
			{ID: "g1", Name: "web"},
			{ID: "g2", Name: "worker", Hooks: []Hook{{Name: "boot", Type: HookLaunch}}, Instances: []Instance{{ID: "i-1"}, {ID: "i-2"}, {ID: "i-3", State: StatePendingWait}}},
		}}
	})
	c := ts.client(t)
	groups, err := c.ListScalingGroups(&model.ListScalingGroupsRequest{StartNumber: ptr(int32(1)), Limit: ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	if *groups.TotalNumber != 2 || len(*groups.ScalingGroups) != 1 || *(*groups.ScalingGroups)[0].ScalingGroupId != "g2" ||
		*(*groups.ScalingGroups)[0].CurrentInstanceNumber != 3 {
		t.Errorf("groups page: %+v", groups)
	}
	named, err := c.ListScalingGroups(&model.ListScalingGroupsRequest{ScalingGroupName: ptr("web")})
	if err != nil || len(*named.ScalingGroups) != 1 {
		t.Errorf("by name: %v %+v", err, named)
	}
	cases := []struct {
		name  string
		req   model.ListScalingInstancesRequest
		total int32
		ids   []string
	}{
		{"all", model.ListScalingInstancesRequest{}, 3, []string{"i-1", "i-2", "i-3"}},
		{"paged", model.ListScalingInstancesRequest{StartNumber: ptr(int32(1)), Limit: ptr(int32(1))}, 3, []string{"i-2"}},
		{"past the end", model.ListScalingInstancesRequest{StartNumber: ptr(int32(5))}, 3, nil},
		{"pending wait", model.ListScalingInstancesRequest{
			LifeCycleState: ptr(model.GetListScalingInstancesRequestLifeCycleStateEnum().PENDING_WAIT)}, 1, []string{"i-3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.ScalingGroupId = "g2"
			resp, err := c.ListScalingInstances(&req)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, in := range *resp.ScalingGroupInstances {
				ids = append(ids, *in.InstanceId)
			}
			if *resp.TotalNumber != tc.total || !slices.Equal(ids, tc.ids) {
				t.Errorf("total %d ids %v, want %d %v", *resp.TotalNumber, ids, tc.total, tc.ids)
			}
		})
	}
}
