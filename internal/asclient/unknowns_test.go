package asclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// setUnknowns makes the simulator play u.
func (e *env) setUnknowns(t *testing.T, u sim.Unknowns) {
	t.Helper()
	if err := e.sim.SetUnknowns(u); err != nil {
		t.Fatal(err)
	}
}

// A 4xx the client does not know (an EXTEND cap, another code for "not
// held") is its own kind, carrying the code, and is not retried: the
// caller decides from the held list. The known "not held" code stays
// KindNoLongerHeld.
func TestUnknownRefusals(t *testing.T) {
	ctx := context.Background()
	g, inst := sim.DefaultGroupID, sim.DefaultInstanceID
	cases := []struct {
		name     string
		unknowns sim.Unknowns
		// answerFirst sends CONTINUE before the call under test.
		answerFirst bool
		result      Result
		wantCode    string
		wantHeld    bool // whether the hook still holds the instance afterwards
	}{
		{"EXTEND refused", sim.Unknowns{ExtendRefusalCode: "AS.7045"}, false, Extend, "AS.7045", true},
		{"other not-held code", sim.Unknowns{NotHeldCode: "AS.9999"}, true, Continue, "AS.9999", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			e.setUnknowns(t, tc.unknowns)
			cb := Callback{GroupID: g, InstanceID: inst, HookName: sim.DefaultLaunchHook}
			if tc.answerFirst {
				cb.Result = Continue
				if err := e.c.Callback(ctx, cb); err != nil {
					t.Fatal(err)
				}
			}
			before := len(e.sim.RequestsTo(sim.RouteCallback))
			cb.Result = tc.result
			err := e.c.Callback(ctx, cb)
			code, ok := IsUnknownRefusal(err)
			if !ok || code != tc.wantCode || IsNoLongerHeld(err) {
				t.Fatalf("Callback = %v, want an unknown refusal with %s", err, tc.wantCode)
			}
			if n := len(e.sim.RequestsTo(sim.RouteCallback)) - before; n != 1 {
				t.Errorf("%d requests, want 1: an unknown refusal is not retried", n)
			}
			if !strings.Contains(err.Error(), tc.wantCode) {
				t.Errorf("message %q lacks the code", err)
			}
			held, err := e.c.HeldHooks(ctx, g, inst)
			if err != nil || (len(held) == 1) != tc.wantHeld {
				t.Errorf("held after the refusal = %+v, %v; want held %v", held, err, tc.wantHeld)
			}
		})
	}
	t.Run("AS.7042 stays no longer held", func(t *testing.T) {
		e := newEnv(t, envConfig{})
		cb := Callback{GroupID: g, InstanceID: inst, HookName: sim.DefaultLaunchHook, Result: Continue}
		_ = e.c.Callback(ctx, cb)
		if err := e.c.Callback(ctx, cb); !IsNoLongerHeld(err) {
			t.Fatalf("second CONTINUE = %v, want no longer held", err)
		}
	})
}

// A callback whose answer is lost on the way was applied: the client
// retries it, and the retry meets "no longer held" with Attempts > 1,
// which is how the caller tells it from a hook answered by someone else.
func TestLostAnswerRetried(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.setUnknowns(t, sim.Unknowns{LostAnswers: 1, LostAnswerResults: []string{"CONTINUE"}})
	var err error
	runDriven(t, e.clock, func() {
		err = e.c.Callback(context.Background(), Callback{GroupID: sim.DefaultGroupID, InstanceID: sim.DefaultInstanceID,
			HookName: sim.DefaultLaunchHook, Result: Continue})
	})
	var ae *Error
	if !IsNoLongerHeld(err) || !errors.As(err, &ae) || ae.Attempts != 2 {
		t.Fatalf("Callback = %v, want no longer held on the second attempt", err)
	}
	outcomes := e.sim.Outcomes()
	if len(outcomes) != 1 || outcomes[0].Result != "CONTINUE" || outcomes[0].By != sim.ByCallback {
		t.Errorf("outcomes = %+v, want the one CONTINUE", outcomes)
	}
}

// Both spellings of the gateway's codes mean the same: APIGW.0308 is
// throttling, waited out like APIG.0308, and APIGW.0301 an auth failure.
func TestGatewayCodePrefixes(t *testing.T) {
	for _, prefix := range []string{sim.GatewayAPIG, sim.GatewayAPIGW} {
		t.Run(prefix, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			e.setUnknowns(t, sim.Unknowns{GatewayCodes: prefix})
			e.sim.SetThrottle(0.25, 1)
			for range 3 {
				var err error
				runDriven(t, e.clock, func() { _, err = e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID) })
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
				if reqs[i-1].ErrorCode != prefix+".0308" {
					t.Errorf("throttled with %q, want %s.0308", reqs[i-1].ErrorCode, prefix)
				}
				if gap := reqs[i].Time.Sub(reqs[i-1].Time); gap < DefaultThrottleDelay {
					t.Errorf("retried %v after a 429, want at least %v", gap, DefaultThrottleDelay)
				}
			}
			if throttled == 0 {
				t.Fatal("nothing was throttled: the test tested nothing")
			}
		})
	}
	e := newEnv(t, envConfig{simOpts: func(o *sim.Options) { o.SecretKey = "a-different-secret-key" }})
	e.setUnknowns(t, sim.Unknowns{GatewayCodes: sim.GatewayAPIGW})
	_, err := e.c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindAuth || ae.Code != "APIGW.0301" {
		t.Fatalf("HeldHooks with a wrong key behind an APIGW gateway = %v, want an auth error APIGW.0301", err)
	}
}

// The client learns AS's clock from the Date headers: the offset is known
// after the first answer, exact when the clocks differ by whole seconds,
// zero when they agree, unmoved by one odd answer, and a large one is
// warned about once.
func TestClockOffsetEstimate(t *testing.T) {
	for _, offset := range []time.Duration{0, -90 * time.Second, 47 * time.Minute} {
		t.Run(offset.String(), func(t *testing.T) {
			var odd atomic.Bool
			e := newEnv(t, envConfig{wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if odd.Load() {
						// A proxy with a stopped clock answers once.
						w = dateWriter{w, "Mon, 02 Jan 2006 15:04:05 GMT"}
					}
					h.ServeHTTP(w, r)
				})
			}})
			if _, ok := e.c.ClockOffset(); ok {
				t.Fatal("an offset before any answer")
			}
			e.setUnknowns(t, sim.Unknowns{ClockOffset: offset})
			ctx := context.Background()
			for i := range 5 {
				odd.Store(i == 2)
				if _, err := e.c.ListHooks(ctx, sim.DefaultGroupID); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				e.clock.Advance(1500 * time.Millisecond) // Date resolution is one second
			}
			got, ok := e.c.ClockOffset()
			if !ok || got < offset-time.Second || got > offset+time.Second {
				t.Fatalf("ClockOffset = %v, %v; want %v within the Date header's second", got, ok, offset)
			}
			if now := e.c.ASNow(); now.Sub(e.clock.Now()) != got {
				t.Errorf("ASNow is %v from the clock, want the offset %v", now.Sub(e.clock.Now()), got)
			}
			warnings := strings.Count(e.logs.String(), "clock is off from AS's")
			if want := map[bool]int{true: 1, false: 0}[offset > ClockWarnOffset || offset < -ClockWarnOffset]; warnings != want {
				t.Errorf("%d clock warnings, want %d", warnings, want)
			}
		})
	}
}

// With the instance's clock more than 15 minutes off AS's, the first
// request is refused for its signature date; the refusal's Date header
// gives AS's time, the request is signed again by it at once, and later
// requests are signed right from the start.
func TestSignsByASClock(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.setUnknowns(t, sim.Unknowns{ClockOffset: -40 * time.Minute})
	ctx := context.Background()
	for range 2 {
		if _, err := e.c.HeldHooks(ctx, sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
			t.Fatalf("HeldHooks with the clock 40 minutes ahead of AS's: %v", err)
		}
	}
	var statuses []int
	for _, r := range e.asRequests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{401, 200, 200}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v: one refusal, then signed by AS's clock", statuses, want)
	}
	if !strings.Contains(e.logs.String(), "signing again by AS's clock") {
		t.Error("the re-signing is not logged")
	}
}

// A redirect is not success: the SDK would read a 302 as an empty answer
// ("no hooks hold this instance", "the callback went through"), so every
// call reports it as an error that names it and what to check.
func TestRedirectIsAnError(t *testing.T) {
	e := newEnv(t, envConfig{wrap: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://captive.portal.example/login", http.StatusFound)
		})
	}})
	ctx := context.Background()
	calls := map[string]func() error{
		"HeldHooks": func() error { _, err := e.c.HeldHooks(ctx, "g", "i"); return err },
		"ListHooks": func() error { _, err := e.c.ListHooks(ctx, "g"); return err },
		"Callback": func() error {
			return e.c.Callback(ctx, Callback{GroupID: "g", InstanceID: "i", HookName: "h", Result: Continue})
		},
		"ListGroups": func() error { _, err := e.c.ListGroups(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != http.StatusFound || ae.Retryable() {
			t.Errorf("%s = %v, want a final error with status 302", name, err)
			continue
		}
		for _, want := range []string{"HTTP 302", "captive.portal.example", "cloud.proxy"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: message %q lacks %q", name, err, want)
			}
		}
	}
}

// An answer larger than MaxAnswerSize is refused with a clear error,
// whether its size is announced or not, and whatever its status; a large
// answer within the cap is read.
func TestAnswerSizeCap(t *testing.T) {
	big := `{"instance_hanging_info":[` + strings.Repeat(`{"lifecycle_hook_status":"CONTINUE"},`, MaxAnswerSize/35) + `{}]}`
	within := `{"instance_hanging_info":[` + strings.Repeat(`{"lifecycle_hook_status":"CONTINUE"},`, MaxAnswerSize/40) + `{}]}`
	cases := []struct {
		name    string
		status  int
		body    string
		chunked bool
		wantErr bool
	}{
		{"announced", 200, big, false, true},
		{"chunked", 200, big, true, true},
		{"error status", 500, big, true, true},
		{"within the cap", 200, within, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{wrap: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if !tc.chunked {
						w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				})
			}})
			_, err := e.c.HeldHooks(context.Background(), "g", "i")
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("HeldHooks of a %d-byte answer: %v", len(tc.body), err)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Retryable() || !strings.Contains(err.Error(), "more than the 4 MiB") {
				t.Fatalf("HeldHooks of a %d-byte answer = %v, want a final error naming the cap", len(tc.body), err)
			}
		})
	}
}

// dateWriter replaces the Date header of an answer.
type dateWriter struct {
	http.ResponseWriter
	date string
}

func (d dateWriter) WriteHeader(status int) {
	d.Header().Set("Date", d.date)
	d.ResponseWriter.WriteHeader(status)
}
