package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// outsideScenario: one group with a launch and a terminate hook, and the
// local instance not in it yet, as `asagent sim --workdir` starts.
func outsideScenario() *Scenario {
	sc := DefaultScenario()
	sc.Groups[0].Instances = nil
	return sc
}

// control calls the control path and decodes its answer.
func (ts *testSim) control(t *testing.T, method, op string, body any) (int, ControlAnswer) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, ts.srv.URL+ControlPath+op, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans ControlAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatalf("%s %s: %v", method, op, err)
	}
	return resp.StatusCode, ans
}

// The control path plays a whole life of the local instance, as AS would
// on scaling actions, and again: scale-out holds it with the launch hook,
// an answer puts it in service, scale-in holds it with the terminate hook,
// an answer removes it, and scale-out adds it back. Its status lists every
// hold with its status and deadline and every callback with who sent it:
// the agent's signed ones and a third party's through `complete`.
func TestControlPathLifecycle(t *testing.T) {
	ts := newSDKSim(t, func(o *Options) { o.Scenario = outsideScenario() })
	api := ts.client(t)
	g, local := DefaultGroupID, DefaultInstanceID
	step := func(method, op string, body any, wantState string) LocalStatus {
		t.Helper()
		code, ans := ts.control(t, method, op, body)
		if code != http.StatusOK || ans.Error != "" || ans.Status.LifeCycleState != wantState {
			t.Fatalf("%s: %d %q, state %s; want 200 and %s", op, code, ans.Error, ans.Status.LifeCycleState, wantState)
		}
		return ans.Status
	}
	if st := step(http.MethodGet, ControlStatus, nil, StateRemoved); len(st.Holds) != 0 || st.GroupID != "" {
		t.Errorf("before any scaling: %+v", st)
	}
	st := step(http.MethodPost, ControlScaleOut, nil, StatePendingWait)
	if len(st.Holds) != 1 || st.Holds[0].Hook != DefaultLaunchHook || st.Holds[0].Status != statusHanging ||
		!st.Holds[0].Timeout.Equal(ts.now().Add(time.Hour)) || st.GroupID != g {
		t.Errorf("after scale-out: %+v", st)
	}
	if err := callback(api, g, "", local, DefaultLaunchHook, ResultExtend); err != nil {
		t.Fatal(err)
	}
	if err := callback(api, g, "", local, DefaultLaunchHook, ResultContinue); err != nil {
		t.Fatal(err)
	}
	step(http.MethodGet, ControlStatus, nil, StateInService)
	step(http.MethodPost, ControlScaleIn, nil, StateRemovingWait)
	step(http.MethodPost, ControlComplete, CompleteRequest{Result: "continue"}, StateRemoved)
	st = step(http.MethodPost, ControlScaleOut, nil, StatePendingWait)

	var holds []string
	for _, h := range st.Holds {
		holds = append(holds, h.Hook+" "+h.Status+" "+string(h.EndedBy))
	}
	if got, want := strings.Join(holds, "; "), "launch-hook CONTINUE callback; terminate-hook CONTINUE callback; launch-hook HANGING "; got != want {
		t.Errorf("holds = %q, want %q", got, want)
	}
	if st.Holds[0].Extends != 1 || !st.Holds[0].Timeout.Equal(st.Holds[0].Started.Add(2*time.Hour)) {
		t.Errorf("the extended hold: %+v", st.Holds[0])
	}
	var cbs []string
	for _, cb := range st.Callbacks {
		cbs = append(cbs, cb.Hook+" "+cb.Result+" "+string(cb.From))
		if !cb.Accepted() {
			t.Errorf("callback %+v not accepted", cb)
		}
	}
	want := "launch-hook EXTEND " + string(CallerPermanentKey) + "; launch-hook CONTINUE " + string(CallerPermanentKey) +
		"; terminate-hook CONTINUE " + string(CallerThirdParty)
	if got := strings.Join(cbs, "; "); got != want {
		t.Errorf("callbacks = %q\nwant        %q", got, want)
	}
	for _, r := range ts.Requests() {
		if strings.HasPrefix(r.Path, ControlPath) {
			t.Errorf("the request record lists the control path: %+v", r)
		}
	}
}

// A callback signed with the agency's temporary credentials (as the agent
// on an instance signs it) is told apart from one with the permanent key,
// and a refused callback is listed with its code.
func TestControlPathCallers(t *testing.T) {
	ts := newSDKSim(t)
	sk, _ := ts.securityKey(t)
	agencyAPI := ts.asClient(t, sk.Credential.Access, sk.Credential.Secret, sk.Credential.SecurityToken, ts.ProjectID())
	if err := callback(agencyAPI, DefaultGroupID, "", DefaultInstanceID, DefaultLaunchHook, ResultContinue); err != nil {
		t.Fatal(err)
	}
	_ = callback(ts.client(t), DefaultGroupID, "", DefaultInstanceID, DefaultLaunchHook, ResultContinue) // no longer held
	cbs := ts.Status().Callbacks
	if len(cbs) != 2 || cbs[0].From != CallerAgency || !cbs[0].Accepted() ||
		cbs[1].From != CallerPermanentKey || cbs[1].Accepted() || cbs[1].ErrorCode != codeNotHanging {
		t.Errorf("callbacks = %+v", cbs)
	}
}

// Scaling actions the instance's state does not allow are refused with
// 409 and say what to do; a request that makes no sense is 400.
func TestControlPathRefusals(t *testing.T) {
	cases := []struct {
		name     string
		scenario *Scenario
		method   string
		op       string
		body     any
		wantCode int
		wantErr  string
	}{
		{"scale-in of an instance in no group", outsideScenario(), http.MethodPost, ControlScaleIn, nil, http.StatusConflict, "is in no group; scale-out first"},
		{"scale-out of a held instance", nil, http.MethodPost, ControlScaleOut, nil, http.StatusConflict, "is PENDING_WAIT in group " + DefaultGroupID + "; scale-in first"},
		{"scale-in of a held instance", nil, http.MethodPost, ControlScaleIn, nil, http.StatusConflict, "only instances in service can be removed"},
		{"complete with no hold", outsideScenario(), http.MethodPost, ControlComplete, CompleteRequest{Result: "CONTINUE"}, http.StatusConflict, "no hook hold instance"},
		{"complete of another hook", nil, http.MethodPost, ControlComplete, CompleteRequest{Hook: "other", Result: "CONTINUE"}, http.StatusConflict, "hook other does not hold"},
		{"complete with a bad result", nil, http.MethodPost, ControlComplete, CompleteRequest{Result: "MAYBE"}, http.StatusBadRequest, `result "MAYBE"`},
		{"complete with a bad body", nil, http.MethodPost, ControlComplete, "x", http.StatusBadRequest, "not a complete request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSim(t, func(o *Options) { o.Scenario = tc.scenario })
			code, ans := ts.control(t, tc.method, tc.op, tc.body)
			if code != tc.wantCode || !strings.Contains(ans.Error, tc.wantErr) {
				t.Errorf("%d %q, want %d and %q", code, ans.Error, tc.wantCode, tc.wantErr)
			}
			if ans.Status.InstanceID != DefaultInstanceID {
				t.Errorf("a refusal still carries the status: %+v", ans.Status)
			}
		})
	}
}

// The control path is unsigned, so it answers only requests from
// loopback: anyone else gets 403 and changes nothing.
func TestControlPathLoopbackOnly(t *testing.T) {
	ts := newTestSim(t, func(o *Options) { o.Scenario = outsideScenario() })
	for _, remote := range []string{"192.0.2.7:40000", "[2001:db8::1]:40000", "169.254.169.254:80", "garbage"} {
		req := httptest.NewRequest(http.MethodPost, ControlPath+ControlScaleOut, nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		ts.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "only on loopback") {
			t.Errorf("from %s: %d %s", remote, rec.Code, rec.Body.String())
		}
	}
	if st := ts.Status(); st.LifeCycleState != StateRemoved {
		t.Errorf("a refused scale-out changed the state: %s", st.LifeCycleState)
	}
	req := httptest.NewRequest(http.MethodPost, ControlPath+ControlScaleOut, nil)
	req.RemoteAddr = "[::1]:40000"
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("from ::1: %d %s", rec.Code, rec.Body.String())
	}
}
