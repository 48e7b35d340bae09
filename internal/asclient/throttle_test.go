package asclient

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// Consecutive throttled answers back a call off from ThrottleDelay,
// doubling, each wait lengthened by up to a half at random; every 429 is
// counted for the pacer.
func TestThrottledRetriesDouble(t *testing.T) {
	e := newEnv(t, envConfig{opts: func(o *Options) { o.RetryBudget = 10 * time.Minute }})
	e.sim.SetThrottle(1.0/40, 1) // one request every 40 s: several 429s in a row
	var err error
	for range 2 {
		runDriven(t, e.clock, func() {
			_, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
		})
		if err != nil {
			t.Fatalf("HeldHooks under throttling: %v", err)
		}
	}
	reqs := e.asRequests()
	inRow, throttled := 0, 0
	for i := 1; i < len(reqs); i++ {
		if reqs[i-1].Status != http.StatusTooManyRequests {
			inRow = 0
			continue
		}
		inRow++
		throttled++
		lo := DefaultThrottleDelay << min(inRow-1, 4)
		hi := lo + lo/2 + clockStep
		if gap := reqs[i].Time.Sub(reqs[i-1].Time); gap < lo || gap > hi {
			t.Errorf("retry %v after the %d. 429 in a row, want %v..%v", gap, inRow, lo, hi)
		}
	}
	if throttled < 3 {
		t.Fatalf("%d requests throttled: the test did not see 429s in a row", throttled)
	}
	if n, _ := e.c.Throttling(); n != uint64(throttled) {
		t.Errorf("Throttling counts %d, the simulator answered %d 429s", n, throttled)
	}
}

// A caller that paces itself (Paced) gets a throttled answer back at once,
// counted, instead of the client's retries; its other failures are still
// retried.
func TestPacedCallsAreNotRetriedWhenThrottled(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.sim.SetThrottle(1.0/3600, 1)
	ctx := Paced(context.Background())
	if _, err := e.c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
		t.Fatalf("first call, within the burst: %v", err)
	}
	_, err := e.c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID)
	if !IsThrottled(err) {
		t.Fatalf("second call = %v, want a throttled error", err)
	}
	if n := len(e.asRequests()); n != 2 {
		t.Errorf("%d requests, want 2: a paced call is not retried after a 429", n)
	}
	if n, _ := e.c.Throttling(); n != 1 {
		t.Errorf("Throttling counts %d, want 1", n)
	}

	e.sim.SetThrottle(0, 0)
	e.sim.SetFault(sim.RouteListHookInstances, sim.Fault{FirstN: 1})
	runDriven(t, e.clock, func() { _, err = e.c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID) })
	if err != nil {
		t.Errorf("a paced call after a 5xx = %v, want it retried", err)
	}
}

// A 429 with Retry-After makes the client wait that long before retrying,
// reports it on the error of a paced call, and tells the pacer not to call
// before then.
func TestRetryAfterHonoured(t *testing.T) {
	first := true
	e := newEnv(t, envConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if first {
				first = false
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "7")
				w.Header().Set("Date", testStart.Format(http.TimeFormat))
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	var err error
	runDriven(t, e.clock, func() {
		_, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
	})
	if err != nil {
		t.Fatalf("HeldHooks: %v", err)
	}
	reqs := e.asRequests() // the throttled attempt never reached the simulator
	if len(reqs) != 1 || reqs[0].Time.Sub(testStart) < 7*time.Second {
		t.Fatalf("retried at %v, want 7s after the 429 (requests %+v)", reqs[0].Time.Sub(testStart), reqs)
	}
	if _, notBefore := e.c.Throttling(); !notBefore.Equal(testStart.Add(7 * time.Second)) {
		t.Errorf("Throttling notBefore = %v, want 7s after the 429", notBefore)
	}

	first = true
	_, err = e.c.HeldHooks(Paced(context.Background()), sim.DefaultGroupID, sim.DefaultInstanceID)
	var ae *Error
	if !errors.As(err, &ae) || ae.RetryAfter != 7*time.Second {
		t.Errorf("paced call = %#v, want a throttled error with RetryAfter 7s", err)
	}
}

// Retry-After is a number of seconds or an HTTP date (against the answer's
// Date); anything else, or a time past, is none; a long one is capped.
func TestParseRetryAfter(t *testing.T) {
	date := "Sun, 01 Mar 2026 12:00:00 GMT"
	cases := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"86400", MaxRetryAfter},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},
		{"Sun, 01 Mar 2026 14:00:00 GMT", MaxRetryAfter},
		{"soon", 0},
		{"1.5", 0},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.value, date); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
	if got := parseRetryAfter("Sun, 01 Mar 2026 12:00:30 GMT", ""); got != 0 {
		t.Errorf("an HTTP date without the answer's Date = %v, want 0 (no clock to read it against)", got)
	}
}

// The project's size is the sum of current_instance_number over its
// groups; credentials whose plain listing lacks the agent's own group
// count the groups of the enterprise projects they may see as well, each
// once.
func TestProjectSize(t *testing.T) {
	groups := []sim.Group{
		{ID: "g-1", Instances: []sim.Instance{{ID: "i-1"}, {ID: "i-2"}, {ID: "i-3"}}},
		{ID: "g-2", EnterpriseProjectID: "ep-1", Instances: []sim.Instance{{ID: "i-4"}, {ID: "i-5"}}},
	}
	cases := []struct {
		name     string
		scoped   bool
		own      string
		want     ProjectSize
		listings int
	}{
		{"plain listing", false, "g-2", ProjectSize{Groups: 2, Instances: 5}, 1},
		{"enterprise-project credentials, own group listed", true, "g-1", ProjectSize{Groups: 1, Instances: 3}, 1},
		{"enterprise-project credentials", true, "g-2", ProjectSize{Groups: 2, Instances: 5}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{scenario: &sim.Scenario{Groups: groups, Unknowns: sim.Unknowns{EnterpriseProjectScoped: tc.scoped}}})
			got, err := e.c.ProjectSize(context.Background(), tc.own)
			if err != nil || got != tc.want {
				t.Fatalf("ProjectSize = %+v, %v; want %+v", got, err, tc.want)
			}
			if n := len(e.sim.RequestsTo(sim.RouteListGroups)); n != tc.listings {
				t.Errorf("%d group listings, want %d", n, tc.listings)
			}
		})
	}
}
