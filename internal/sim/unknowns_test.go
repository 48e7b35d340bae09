package sim

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// withUnknowns is an option that sets the unknowns on the default scenario.
func withUnknowns(u Unknowns) func(*Options) {
	return func(o *Options) {
		sc := o.Scenario
		if sc == nil {
			sc = DefaultScenario()
		}
		sc.Unknowns = u
		o.Scenario = sc
	}
}

// A scenario file sets every unknown under `unknowns:`, and a bad value is
// refused with the key it came from.
func TestParseUnknowns(t *testing.T) {
	sc, err := ParseScenario([]byte(`
unknowns:
  not_held_code: AS.9999
  extend_refusal_code: AS.7045
  extend_cap: 2
  lost_answers: 1
  lost_answer_results: [CONTINUE]
  hold_delay: 30s
  token_put_status: 403
  clock_offset: -90s
  gateway_codes: APIGW
  enterprise_project_scoped: true
groups:
  - id: g1
    enterprise_project_id: ep-1
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Unknowns{
		NotHeldCode: "AS.9999", ExtendRefusalCode: "AS.7045", ExtendCap: 2,
		LostAnswers: 1, LostAnswerResults: []string{"CONTINUE"}, HoldDelay: 30 * time.Second,
		TokenPutStatus: 403, ClockOffset: -90 * time.Second, GatewayCodes: "APIGW", EnterpriseProjectScoped: true,
	}
	got := sc.Unknowns
	if !slices.Equal(got.LostAnswerResults, want.LostAnswerResults) {
		t.Errorf("lost_answer_results = %v", got.LostAnswerResults)
	}
	got.LostAnswerResults, want.LostAnswerResults = nil, nil
	if !reflect.DeepEqual(got, want) || sc.Groups[0].EnterpriseProjectID != "ep-1" {
		t.Errorf("unknowns = %+v, enterprise project %q; want %+v, ep-1", got, sc.Groups[0].EnterpriseProjectID, want)
	}

	bad := []struct{ yaml, want string }{
		{"unknowns: {not_held_code: 'AS 7042'}", "unknowns.not_held_code"},
		{"unknowns: {extend_refusal_code: 'x/y'}", "unknowns.extend_refusal_code"},
		{"unknowns: {extend_cap: -1}", "unknowns.extend_cap"},
		{"unknowns: {lost_answers: -1}", "unknowns.lost_answers"},
		{"unknowns: {lost_answer_results: [RETRY]}", "unknowns.lost_answer_results"},
		{"unknowns: {hold_delay: -1s}", "unknowns.hold_delay"},
		{"unknowns: {token_put_status: 200}", "unknowns.token_put_status"},
		{"unknowns: {gateway_codes: APIX}", "unknowns.gateway_codes"},
		{"unknowns: {no_such: 1}", "field no_such not found"},
		{"groups: [{id: g, enterprise_project_id: 'a/b'}]", "enterprise_project_id"},
	}
	for _, tc := range bad {
		if _, err := ParseScenario([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.yaml, err, tc.want)
		}
	}
	if err := newTestSim(t).SetUnknowns(Unknowns{ExtendCap: -1}); err == nil {
		t.Error("SetUnknowns with a negative cap: no error")
	}
}

// The code for "no longer held" is what the scenario says, for a hook
// already answered and for an unknown action key alike; an instance that
// is not in the group still gets AS.4006.
func TestNotHeldCode(t *testing.T) {
	ts := newSDKSim(t, withUnknowns(Unknowns{NotHeldCode: "AS.9999"}))
	c := ts.client(t)
	g, local := DefaultGroupID, DefaultInstanceID
	if err := callback(c, g, "", local, DefaultLaunchHook, ResultContinue); err != nil {
		t.Fatal(err)
	}
	wantSDKError(t, callback(c, g, "", local, DefaultLaunchHook, ResultContinue), http.StatusBadRequest, "AS.9999")
	wantSDKError(t, callback(c, g, "no-such-key", "", "", ResultContinue), http.StatusBadRequest, "AS.9999")
	wantSDKError(t, callback(c, g, "", "i-x", DefaultLaunchHook, ResultContinue), http.StatusBadRequest, "AS.4006")
}

// EXTEND is refused with the configured code once a hold has had its cap
// of EXTENDs (at once with a cap of 0); the hook stays HANGING with its
// timeout unchanged and still takes CONTINUE.
func TestExtendRefused(t *testing.T) {
	for _, limit := range []int{0, 2} {
		t.Run(fmt.Sprintf("cap %d", limit), func(t *testing.T) {
			ts := newSDKSim(t, withUnknowns(Unknowns{ExtendRefusalCode: "AS.7045", ExtendCap: limit}))
			c := ts.client(t)
			g, local := DefaultGroupID, DefaultInstanceID
			for i := range limit {
				if err := callback(c, g, "", local, DefaultLaunchHook, ResultExtend); err != nil {
					t.Fatalf("EXTEND %d of %d allowed: %v", i+1, limit, err)
				}
			}
			before, _ := ts.Instance(g, local)
			wantSDKError(t, callback(c, g, "", local, DefaultLaunchHook, ResultExtend), http.StatusBadRequest, "AS.7045")
			after, _ := ts.Instance(g, local)
			if h := after.Hooks[0]; h.Status != statusHanging || !h.Timeout.Equal(before.Hooks[0].Timeout) || h.Extends != limit {
				t.Errorf("after the refused EXTEND: %+v, want HANGING, timeout %v, %d extends", h, before.Hooks[0].Timeout, limit)
			}
			if err := callback(c, g, "", local, DefaultLaunchHook, ResultContinue); err != nil {
				t.Errorf("CONTINUE after a refused EXTEND: %v", err)
			}
		})
	}
}

// A lost answer is applied (the state changes) but the connection closes
// without an answer; only the configured results and count are lost, and a
// retry of the lost callback then meets "no longer held".
func TestLostAnswers(t *testing.T) {
	ts := newSDKSim(t, withUnknowns(Unknowns{LostAnswers: 1, LostAnswerResults: []string{ResultContinue}}))
	c := ts.client(t)
	g, local := DefaultGroupID, DefaultInstanceID
	if err := callback(c, g, "", local, DefaultLaunchHook, ResultExtend); err != nil {
		t.Fatalf("EXTEND (not a lost result): %v", err)
	}
	err := callback(c, g, "", local, DefaultLaunchHook, ResultContinue)
	if se := (*sdkerr.ServiceResponseError)(nil); err == nil || errors.As(err, &se) {
		t.Fatalf("CONTINUE with its answer lost = %v, want a transport error", err)
	}
	if st, _ := ts.Instance(g, local); st.LifeCycleState != StateInService {
		t.Fatalf("the lost CONTINUE was not applied: %+v", st)
	}
	reqs := ts.RequestsTo(RouteCallback)
	if last := reqs[len(reqs)-1]; last.Status != 0 || last.Fault != faultLost || last.Result != ResultContinue {
		t.Errorf("request record = %+v, want a dropped CONTINUE marked %q", last, faultLost)
	}
	wantSDKError(t, callback(c, g, "", local, DefaultLaunchHook, ResultContinue), http.StatusBadRequest, "AS.7042")

	// SetUnknowns arms it again, for any result.
	if err := ts.SetUnknowns(Unknowns{LostAnswers: 1}); err != nil {
		t.Fatal(err)
	}
	if err := ts.RemoveInstances(g, local); err != nil {
		t.Fatal(err)
	}
	if err := callback(c, g, "", local, DefaultTerminateHook, ResultExtend); err == nil {
		t.Error("EXTEND after SetUnknowns(LostAnswers: 1): its answer was not lost")
	}
	if err := callback(c, g, "", local, DefaultTerminateHook, ResultExtend); err != nil {
		t.Errorf("the second EXTEND: %v (only one answer was to be lost)", err)
	}
}

// With a hold delay, a joining instance is PENDING and listed by no hook
// for the delay, then held in PENDING_WAIT with timeouts counted from the
// hold; the scenario's held instance waits the same way at the start.
func TestHoldDelay(t *testing.T) {
	ts := newSDKSim(t, twoHooks, withUnknowns(Unknowns{HoldDelay: 30 * time.Second}))
	c := ts.client(t)
	start := ts.fake().Now()
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	if states := instanceStates(t, c, "g1"); states["i-1"] != StatePending {
		t.Fatalf("just added: %v, want PENDING", states)
	}
	if recs := hangingList(t, c, "g1", "i-1"); len(recs) != 0 {
		t.Fatalf("hanging records during the delay: %d, want none", len(recs))
	}
	ts.fake().Advance(30 * time.Second)
	if states := instanceStates(t, c, "g1"); states["i-1"] != StatePendingWait {
		t.Fatalf("after the delay: %v, want PENDING_WAIT", states)
	}
	recs := hangingList(t, c, "g1", "i-1")
	if len(recs) != 2 || *recs[0].Timeout != formatTime(start.Add(30*time.Second+60*time.Second)) {
		t.Fatalf("hanging records after the delay: %+v, want two, l1 timing out 60 s after the hold", recs)
	}

	sc := DefaultScenario()
	sc.Unknowns.HoldDelay = time.Minute
	at := newTestSim(t, func(o *Options) { o.Scenario = sc })
	if st, _ := at.Instance(DefaultGroupID, DefaultInstanceID); st.LifeCycleState != StatePending || len(st.Hooks) != 0 {
		t.Fatalf("scenario instance at the start: %+v, want PENDING and unheld", st)
	}
	at.clock.Advance(time.Minute)
	if st, _ := at.Instance(DefaultGroupID, DefaultInstanceID); st.LifeCycleState != StatePendingWait ||
		!st.Hooks[0].Timeout.Equal(testStart.Add(time.Minute+time.Hour)) {
		t.Fatalf("scenario instance after the delay: %+v", st)
	}
}

// The token PUT answers the configured status, and reads without a token
// still work, as on a metadata service that knows no tokens.
func TestTokenPutStatus(t *testing.T) {
	for _, status := range []int{400, 403, 501} {
		ts := newTestSim(t, withUnknowns(Unknowns{TokenPutStatus: status}))
		if got, _, _ := ts.do(t, http.MethodPut, "/meta-data/latest/api/token", map[string]string{headerTokenTTL: "60"}); got != status {
			t.Errorf("token PUT = %d, want %d", got, status)
		}
		if got, body, _ := ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil); got != http.StatusOK {
			t.Errorf("GET without a token = %d %s, want 200", got, body)
		}
	}
}

// With a clock offset every timestamp and Date header is AS's time, hook
// timeouts apply by it, and a signature more than 15 minutes from it is
// refused although it matches the simulator's own clock.
func TestClockOffset(t *testing.T) {
	const offset = 10 * time.Minute
	ts := newSDKSim(t, withUnknowns(Unknowns{ClockOffset: offset}))
	c := ts.client(t)
	asNow := ts.fake().Now().Add(offset)
	recs := hangingList(t, c, DefaultGroupID, DefaultInstanceID)
	if want := formatTime(asNow.Add(time.Hour)); len(recs) != 1 || *recs[0].Timeout != want {
		t.Fatalf("hanging timeout = %v, want %s (AS's clock)", *recs[0].Timeout, want)
	}
	_, _, h := ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil)
	if d, err := http.ParseTime(h.Get("Date")); err != nil || !d.Equal(asNow) {
		t.Errorf("Date = %q, want %v", h.Get("Date"), asNow)
	}
	// AS's clock, not the simulator's, times the hook out: step it forward
	// to the timeout, with the simulator's clock standing still.
	if err := ts.SetUnknowns(Unknowns{ClockOffset: offset + time.Hour}); err != nil {
		t.Fatal(err)
	}
	if st, ok := ts.Instance(DefaultGroupID, DefaultInstanceID); ok {
		t.Errorf("hook still holding at AS's timeout: %+v", st)
	}
	_, err := c.ListLifeCycleHooks(&model.ListLifeCycleHooksRequest{ScalingGroupId: DefaultGroupID})
	wantSDKError(t, err, http.StatusUnauthorized, codeTokenInvalid)
}

// With APIGW codes the gateway spells its throttling, unknown-API and
// authentication errors APIGW.*, in its own error body.
func TestGatewayCodesAPIGW(t *testing.T) {
	ts := newSDKSim(t, withUnknowns(Unknowns{GatewayCodes: GatewayAPIGW}))
	c := ts.client(t)
	list := func(c interface {
		ListLifeCycleHooks(*model.ListLifeCycleHooksRequest) (*model.ListLifeCycleHooksResponse, error)
	}) error {
		_, err := c.ListLifeCycleHooks(&model.ListLifeCycleHooksRequest{ScalingGroupId: DefaultGroupID})
		return err
	}
	wantSDKError(t, list(ts.asClient(t, testAK, "a-wrong-secret-key", "", ts.ProjectID())), http.StatusUnauthorized, "APIGW.0301")
	ts.SetThrottle(1, 1)
	_ = list(c)
	wantSDKError(t, list(c), http.StatusTooManyRequests, "APIGW.0308")
	if status, body, _ := ts.do(t, http.MethodGet, asPrefix+DefaultProjectID+"/no_such_api", nil); status != 404 || !strings.Contains(body, `"error_code":"APIGW.0101"`) {
		t.Errorf("unknown API: %d %s, want 404 APIGW.0101", status, body)
	}
}

// Credentials scoped to enterprise projects see, without
// enterprise_project_id, only the default project's groups;
// all_granted_eps and a named project show the others. Unscoped
// credentials see every group either way.
func TestEnterpriseProjectScoped(t *testing.T) {
	scenario := func(scoped bool) func(*Options) {
		return func(o *Options) {
			o.Scenario = &Scenario{
				Groups:   []Group{{ID: "g-default"}, {ID: "g-ep", EnterpriseProjectID: "ep-1"}},
				Unknowns: Unknowns{EnterpriseProjectScoped: scoped},
			}
		}
	}
	cases := []struct {
		scoped bool
		ep     string
		want   []string
	}{
		{true, "", []string{"g-default"}},
		{true, allGrantedEPs, []string{"g-default", "g-ep"}},
		{true, "ep-1", []string{"g-ep"}},
		{false, "", []string{"g-default", "g-ep"}},
	}
	for _, tc := range cases {
		ts := newSDKSim(t, scenario(tc.scoped))
		req := &model.ListScalingGroupsRequest{}
		if tc.ep != "" {
			req.EnterpriseProjectId = &tc.ep
		}
		resp, err := ts.client(t).ListScalingGroups(req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range *resp.ScalingGroups {
			ids = append(ids, *g.ScalingGroupId)
			if want := map[string]string{"g-default": "0", "g-ep": "ep-1"}[*g.ScalingGroupId]; *g.EnterpriseProjectId != want {
				t.Errorf("%s: enterprise_project_id %q, want %q", *g.ScalingGroupId, *g.EnterpriseProjectId, want)
			}
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("scoped %v, enterprise_project_id %q: groups %v, want %v", tc.scoped, tc.ep, ids, tc.want)
		}
	}
}
