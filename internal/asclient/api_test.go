package asclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
)

// The agent's view of a held instance matches AS: the held hook with its
// key and deadline, the hook's definition, and callbacks by action key or by
// instance and hook name; answered hooks drop out of HeldHooks even if AS
// still lists them, and answering twice says "no longer held".
func TestHooksAndCallbacks(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	g, inst := sim.DefaultGroupID, sim.DefaultInstanceID

	held, err := e.c.HeldHooks(ctx, g, inst)
	if err != nil {
		t.Fatalf("HeldHooks: %v", err)
	}
	if len(held) != 1 || held[0].HookName != sim.DefaultLaunchHook || held[0].ActionKey == "" ||
		held[0].InstanceID != inst || held[0].GroupID != g || held[0].DefaultResult != "ABANDON" {
		t.Fatalf("HeldHooks = %+v, want the launch hook", held)
	}
	if dl, err := held[0].Deadline(); err != nil || !dl.Equal(testStart.Add(time.Hour)) {
		t.Fatalf("Deadline = %v, %v; want %v", dl, err, testStart.Add(time.Hour))
	}

	hook, err := e.c.ShowHook(ctx, g, sim.DefaultLaunchHook)
	if err != nil {
		t.Fatalf("ShowHook: %v", err)
	}
	if want := (Hook{Name: sim.DefaultLaunchHook, Type: HookLaunch, DefaultResult: "ABANDON", DefaultTimeout: time.Hour}); hook != want {
		t.Fatalf("ShowHook = %+v, want %+v", hook, want)
	}
	hooks, err := e.c.ListHooks(ctx, g)
	if err != nil || len(hooks) != 2 {
		t.Fatalf("ListHooks = %+v, %v; want the launch and terminate hooks", hooks, err)
	}
	if _, err := e.c.ShowHook(ctx, g, "no-such-hook"); !IsNotFound(err) {
		t.Fatalf("ShowHook(no-such-hook) = %v, want not found", err)
	}

	if err := e.c.Callback(ctx, Callback{GroupID: g, ActionKey: held[0].ActionKey, Result: Continue}); err != nil {
		t.Fatalf("Callback CONTINUE: %v", err)
	}
	if held, err := e.c.HeldHooks(ctx, g, inst); err != nil || len(held) != 0 {
		t.Fatalf("HeldHooks after CONTINUE = %+v, %v; want none", held, err)
	}
	err = e.c.Callback(ctx, Callback{GroupID: g, ActionKey: held[0].ActionKey, Result: Continue})
	if !IsNoLongerHeld(err) {
		t.Fatalf("second Callback = %v, want no longer held (AS.7042)", err)
	}

	// Terminate: answer by instance ID and hook name, EXTEND first.
	if err := e.sim.RemoveInstances(g, inst); err != nil {
		t.Fatal(err)
	}
	held, err = e.c.HeldHooks(ctx, g, inst)
	if err != nil || len(held) != 1 || held[0].HookName != sim.DefaultTerminateHook {
		t.Fatalf("HeldHooks after scale-in = %+v, %v; want the terminate hook", held, err)
	}
	before, _ := held[0].Deadline()
	cb := Callback{GroupID: g, InstanceID: inst, HookName: sim.DefaultTerminateHook, Result: Extend}
	if err := e.c.Callback(ctx, cb); err != nil {
		t.Fatalf("Callback EXTEND: %v", err)
	}
	held, _ = e.c.HeldHooks(ctx, g, inst)
	if after, err := held[0].Deadline(); err != nil || after.Sub(before) != sim.DefaultExtendBy {
		t.Fatalf("deadline after EXTEND = %v (%v), want %v later than %v", after, err, sim.DefaultExtendBy, before)
	}
	cb.Result = Abandon
	if err := e.c.Callback(ctx, cb); err != nil {
		t.Fatalf("Callback ABANDON: %v", err)
	}
	var results []string
	for _, r := range e.sim.RequestsTo(sim.RouteCallback) {
		results = append(results, r.Result)
	}
	if want := []string{"CONTINUE", "CONTINUE", "EXTEND", "ABANDON"}; !slices.Equal(results, want) {
		t.Errorf("callbacks the simulator saw = %v, want %v", results, want)
	}
	if err := e.c.Callback(ctx, Callback{GroupID: g, Result: Continue}); err == nil {
		t.Error("Callback naming no hook: no error")
	}
	if err := e.c.Callback(ctx, Callback{GroupID: g, ActionKey: "k", Result: "MAYBE"}); err == nil {
		t.Error("Callback with result MAYBE: no error")
	}
}

// Temporary credentials rotate while the agent runs for two simulated days:
// every request still succeeds, the renewed keys are used without a
// restart, and no secret reaches the logs.
func TestCredentialsRotateMidRun(t *testing.T) {
	e := newEnv(t, envConfig{temporary: true})
	ctx := context.Background()
	for i := range 48 {
		if i == 10 {
			e.sim.RotateCredentials()
		}
		if _, err := e.c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
			t.Fatalf("hour %d: HeldHooks: %v", i, err)
		}
		e.clock.Advance(time.Hour)
	}
	for _, r := range e.asRequests() {
		if r.Status != http.StatusOK {
			t.Fatalf("AS answered %d %s at %v: credentials were used past their life", r.Status, r.ErrorCode, r.Time)
		}
	}
	distinct := slices.Compact(e.wire.accessKeys())
	if len(distinct) < 2 {
		t.Fatalf("one access key for two days of requests (%v): credentials were never renewed", distinct)
	}
	if n := len(e.sim.RequestsTo(sim.RouteSecurityKey)); n > 4 {
		t.Errorf("%d securitykey fetches in 48 h, want a handful (they are cached)", n)
	}
	assertNoSecrets(t, e.logs.String(), e.creds.secrets())
	e.wire.onlyHost(t, strings.TrimPrefix(e.srv.URL, "http://"))
}

// A 401 with temporary credentials (expired or revoked behind the agent's
// back) invalidates them and retries once with new ones, so the caller sees
// success; with static credentials it fails at once with advice and is not
// retried.
func TestAuthFailure(t *testing.T) {
	t.Run("temporary credentials renewed", func(t *testing.T) {
		e := newEnv(t, envConfig{temporary: true})
		old, err := e.md.SecurityKey(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(old.ExpiresAt.Sub(e.clock.Now()) + time.Minute) // AS now refuses them
		e.creds.stale = &old
		if _, err := e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
			t.Fatalf("HeldHooks with refused credentials: %v", err)
		}
		var statuses []int
		for _, r := range e.asRequests() {
			statuses = append(statuses, r.Status)
		}
		if want := []int{401, 200}; !slices.Equal(statuses, want) {
			t.Fatalf("AS statuses = %v, want %v", statuses, want)
		}
		if len(e.creds.invalidated) != 1 || e.creds.invalidated[0].AccessKey != old.AccessKey {
			t.Fatalf("invalidated %v, want exactly the refused credentials", e.creds.invalidated)
		}
		if aks := e.wire.accessKeys(); aks[1] == old.AccessKey {
			t.Fatalf("the retry used the refused key again")
		}
		assertNoSecrets(t, e.logs.String(), e.creds.secrets())
	})
	t.Run("static credentials refused", func(t *testing.T) {
		e := newEnv(t, envConfig{simOpts: func(o *sim.Options) { o.SecretKey = "a-different-secret-key" }})
		_, err := e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
		if !IsAuth(err) || IsRetryable(err) {
			t.Fatalf("HeldHooks = %v, want a final auth error", err)
		}
		if !strings.Contains(err.Error(), "secret key") {
			t.Errorf("error %q does not say what to check", err)
		}
		if n := len(e.asRequests()); n != 1 {
			t.Errorf("%d requests, want 1: a refused static key is not retried", n)
		}
		assertNoSecrets(t, err.Error()+e.logs.String(), []string{testSK})
	})
	t.Run("no agency", func(t *testing.T) {
		e := newEnv(t, envConfig{temporary: true})
		e.sim.SetAgency(false)
		_, err := e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
		if !IsAuth(err) || !errors.Is(err, metadata.ErrNoAgency) {
			t.Fatalf("HeldHooks without an agency = %v, want ErrNoAgency as an auth error", err)
		}
		if n := len(e.asRequests()); n != 0 {
			t.Errorf("%d AS requests without credentials, want 0", n)
		}
	})
}

// Failing calls are retried with capped exponential backoff and jitter: the
// gaps between attempts, measured on the simulator's (fake) clock, lie in
// the policy's bounds for each attempt.
func TestRetryBackoff(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.sim.SetFault(sim.RouteListHookInstances, sim.Fault{FirstN: 5})
	var err error
	runDriven(t, e.clock, func() {
		_, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
	})
	if err != nil {
		t.Fatalf("HeldHooks: %v", err)
	}
	reqs := e.sim.RequestsTo(sim.RouteListHookInstances)
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want 5 failures and a success", len(reqs))
	}
	for i := 1; i < len(reqs); i++ {
		gap := reqs[i].Time.Sub(reqs[i-1].Time)
		lo, hi := testPolicy.Bounds(i - 1)
		if gap < lo || gap > hi+clockStep {
			t.Errorf("gap before attempt %d = %v, want %v..%v", i+1, gap, lo, hi)
		}
	}
}

// Throttled calls (429 APIG.0308) wait at least the throttle delay before
// trying again, and all of them get through in the end.
func TestThrottlingBacksOff(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.sim.SetThrottle(0.25, 2)
	for range 4 {
		var err error
		runDriven(t, e.clock, func() {
			_, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
		})
		if err != nil {
			t.Fatalf("HeldHooks under throttling: %v", err)
		}
	}
	reqs := e.asRequests()
	throttled := 0
	for i := 1; i < len(reqs); i++ {
		if reqs[i-1].Status != http.StatusTooManyRequests {
			continue
		}
		throttled++
		if reqs[i-1].ErrorCode != "APIG.0308" {
			t.Errorf("throttled answer code = %q", reqs[i-1].ErrorCode)
		}
		if gap := reqs[i].Time.Sub(reqs[i-1].Time); gap < DefaultThrottleDelay || gap > testPolicy.Max+clockStep {
			t.Errorf("retry %v after a 429, want %v..%v", gap, DefaultThrottleDelay, testPolicy.Max)
		}
	}
	if throttled == 0 {
		t.Fatalf("no request was throttled: the test did not test anything (%d requests)", len(reqs))
	}
}

// Retries stop before the deadline: when the next wait would end after it,
// the call returns the last error (marked GaveUp) instead of sleeping past it.
func TestRetryStopsAtDeadline(t *testing.T) {
	e := newEnv(t, envConfig{opts: func(o *Options) { o.RetryBudget = 20 * time.Second }})
	e.sim.SetFault(sim.RouteListHookInstances, sim.Fault{ErrorRate: 1, Status: http.StatusServiceUnavailable})
	var err error
	runDriven(t, e.clock, func() {
		_, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
	})
	var ae *Error
	if !errors.As(err, &ae) || !ae.Retryable() || !ae.GaveUp || ae.Attempts < 3 || ae.Status != 503 {
		t.Fatalf("HeldHooks = %#v, want a retryable 503 given up after several attempts", err)
	}
	if now := e.clock.Now(); now.After(testStart.Add(20 * time.Second)) {
		t.Errorf("returned at %v, after the deadline %v", now, testStart.Add(20*time.Second))
	}
	if n := len(e.sim.RequestsTo(sim.RouteListHookInstances)); n != ae.Attempts {
		t.Errorf("Attempts = %d, simulator saw %d", ae.Attempts, n)
	}
}

// A call that gets no answer is cut off by our own per-call timeout (not
// the SDK's 120 s) and retried; dropped connections and garbled answers
// are retried too, and the call works once the fault is gone.
func TestTransportFaultsRetried(t *testing.T) {
	cases := []struct {
		name  string
		fault sim.Fault
		hang  bool
	}{
		{"dropped connection", sim.Fault{DropRate: 1}, false},
		{"garbled answer", sim.Fault{MalformedRate: 1}, false},
		// The simulator's Latency waits on the fake clock, which the test
		// drives: a handler that never answers stands in for it.
		{"no answer", sim.Fault{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hang atomic.Bool
			hang.Store(tc.hang)
			e := newEnv(t, envConfig{
				opts: func(o *Options) {
					o.CallTimeout = 200 * time.Millisecond
					o.RetryBudget = 5 * time.Second
				},
				wrap: func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if hang.Load() {
							<-r.Context().Done()
							return
						}
						h.ServeHTTP(w, r)
					})
				},
			})
			e.sim.SetFault(sim.RouteListHooks, tc.fault)
			var err error
			runDriven(t, e.clock, func() { _, err = e.c.ListHooks(context.Background(), sim.DefaultGroupID) })
			var ae *Error
			if !errors.As(err, &ae) || !ae.Retryable() || ae.Attempts < 2 {
				t.Fatalf("ListHooks = %v, want a retryable error after retries", err)
			}
			if tc.hang && !strings.Contains(err.Error(), "per-call timeout") {
				t.Errorf("error %q does not name the per-call timeout", err)
			}
			e.sim.SetFault(sim.RouteListHooks, sim.Fault{})
			hang.Store(false)
			if _, err := e.c.ListHooks(context.Background(), sim.DefaultGroupID); err != nil {
				t.Fatalf("ListHooks once the fault is gone: %v", err)
			}
		})
	}
}

func assertNoSecrets(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("secret %.4s... appears in logs or errors", s)
		}
	}
}

// BenchmarkHeldHooks measures one poll of the hanging list against the
// simulator on loopback: building the per-call SDK client, signing, the
// round trip and decoding.
func BenchmarkHeldHooks(b *testing.B) {
	s, err := sim.New(sim.Options{AccessKey: testAK, SecretKey: testSK})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st, err := metadata.NewStatic(metadata.Credentials{AccessKey: testAK, SecretKey: testSK})
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Options{Endpoint: srv.URL, ProjectID: s.ProjectID(), Credentials: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
			b.Fatal(err)
		}
	}
}
