package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// FirstN fails exactly the first N requests on the route, with the chosen
// status, and the record says which answers were injected.
func TestFaultFirstN(t *testing.T) {
	cases := []struct {
		name       string
		fault      Fault
		wantStatus []int
	}{
		{"500 twice", Fault{FirstN: 2}, []int{500, 500, 200, 200}},
		{"503 once", Fault{FirstN: 1, Status: 503}, []int{503, 200, 200, 200}},
		{"cleared", Fault{}, []int{200, 200, 200, 200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSim(t)
			ts.SetFault(RouteMetaData, tc.fault)
			var got []int
			for range tc.wantStatus {
				status, _, _ := ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil)
				got = append(got, status)
			}
			if !slices.Equal(got, tc.wantStatus) {
				t.Errorf("statuses %v, want %v", got, tc.wantStatus)
			}
			for i, r := range ts.RequestsTo(RouteMetaData) {
				if injected := r.Fault == faultError; injected != (tc.wantStatus[i] != 200) {
					t.Errorf("request %d: fault %q with status %d", i, r.Fault, r.Status)
				}
			}
		})
	}
}

// An injected AS error answers the documented AS.0001 body without touching
// the state, so a client that retries finds the hook still HANGING.
func TestFaultErrorLeavesStateAlone(t *testing.T) {
	ts := newSDKSim(t)
	c := ts.client(t)
	ts.SetFault(RouteCallback, Fault{FirstN: 1})
	err := callback(c, DefaultGroupID, "", DefaultInstanceID, DefaultLaunchHook, ResultContinue)
	wantSDKError(t, err, http.StatusInternalServerError, "AS.0001")
	if st, _ := ts.Instance(DefaultGroupID, DefaultInstanceID); st.Hooks[0].Status != "HANGING" {
		t.Fatalf("the failed callback changed the state: %+v", st)
	}
	if err := callback(c, DefaultGroupID, "", DefaultInstanceID, DefaultLaunchHook, ResultContinue); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// Rates draw from the seed: the same seed gives the same sequence of
// faults, so a test that meets a fault meets it every run.
func TestFaultRatesAreDeterministic(t *testing.T) {
	pattern := func(seed int64) []int {
		ts := newTestSim(t)
		ts.SetFault(RouteUserData, Fault{ErrorRate: 0.5, Seed: seed})
		var out []int
		for range 32 {
			status, _, _ := ts.do(t, http.MethodGet, "/openstack/latest/user_data", nil)
			out = append(out, status)
		}
		return out
	}
	a, b := pattern(7), pattern(7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	if !slices.Contains(a, 500) || !slices.Contains(a, 404) {
		t.Errorf("rate 0.5 gave no mix of faults and answers: %v", a)
	}
}

// A dropped connection gives the client a transport error and no answer;
// the record says so with status 0.
func TestFaultDrop(t *testing.T) {
	ts := newTestSim(t)
	ts.SetFault(RouteSecurityKey, Fault{DropRate: 1})
	req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/openstack/latest/securitykey", nil)
	resp, err := ts.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer (%d), want a dropped connection", resp.StatusCode)
	}
	recs := ts.RequestsTo(RouteSecurityKey)
	if len(recs) != 1 || recs[0].Status != 0 || recs[0].Fault != faultDrop {
		t.Errorf("record %+v", recs)
	}
}

// A malformed answer is a 200 whose body is a cut-off copy of the real one:
// the request took effect, but the client cannot decode the answer.
func TestFaultMalformed(t *testing.T) {
	ts := newSDKSim(t)
	ts.SetFault(RouteListHookInstances, Fault{MalformedRate: 1})
	c := ts.client(t)
	_, err := c.ListHookInstances(&model.ListHookInstancesRequest{ScalingGroupId: DefaultGroupID})
	if err == nil {
		t.Fatal("the SDK decoded a malformed answer")
	}
	ts.SetFault(RouteMetaData, Fault{MalformedRate: 1})
	status, body, _ := ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil)
	if status != 200 || json.Valid([]byte(body)) || len(body) < 10 {
		t.Errorf("got %d %q, want 200 with a cut-off JSON body", status, body)
	}
}

// Latency waits on the simulator's clock: with a fake clock the answer
// comes only after the test advances the clock past it, so delays are
// tested without sleeping.
func TestFaultLatencyFollowsClock(t *testing.T) {
	ts := newTestSim(t)
	ts.SetFault(RouteMetaData, Fault{Latency: 10 * time.Second})
	done := make(chan int)
	go func() {
		resp, err := ts.srv.Client().Get(ts.srv.URL + "/openstack/latest/meta_data.json")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("the request never waited on the clock: %v", err)
	}
	if n := len(ts.RequestsTo(RouteMetaData)); n != 0 {
		t.Fatalf("answered before the latency passed (%d records)", n)
	}
	ts.clock.Advance(10 * time.Second)
	if status := <-done; status != 200 {
		t.Errorf("status %d after the latency", status)
	}
}
