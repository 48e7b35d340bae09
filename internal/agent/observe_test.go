package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/sim"
)

// recordingObserver keeps what the engine tells its Observer.
type recordingObserver struct {
	mu        sync.Mutex
	events    []Event
	polls     int
	deadlines []time.Time // each change of the nearest deadline
}

func (r *recordingObserver) Event(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recordingObserver) Polled(time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls++
}

func (r *recordingObserver) SetClockOffset(time.Duration) {}

func (r *recordingObserver) NearestDeadline(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.deadlines); n == 0 || !r.deadlines[n-1].Equal(at) {
		r.deadlines = append(r.deadlines, at)
	}
}

// released returns the hold_released events seen so far.
func (r *recordingObserver) released() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		if ev.Name == evHoldReleased {
			out = append(out, ev)
		}
	}
	return out
}

// The observer is told how each phase ended, from the phase's state: the
// checks passing or failing (a failed drain is CONTINUE, its on_failure, yet
// counted as failed), an operator's override, a hook answered by someone
// else. Its duration runs from the first hold seen; it hears of each
// successful poll, and of the nearest deadline until no hook holds.
func TestObserverSeesHowPhasesEnd(t *testing.T) {
	cases := []struct {
		name   string
		phase  string
		setup  func(h *harness) // scripts, before start
		act    func(t *testing.T, h *harness)
		result string
		how    string
	}{
		{"checks pass", PhaseLaunch, func(h *harness) { h.script(PhaseLaunch, "10-ready", `true`) }, nil, "CONTINUE", EndedPassed},
		{"launch check gives up", PhaseLaunch, func(h *harness) { h.script(PhaseLaunch, "10-ready", `exit 100`) }, nil, "ABANDON", EndedFailed},
		{"drain fails into CONTINUE", PhaseTerminate, func(h *harness) {
			h.script(PhaseLaunch, "10-ready", `true`)
			h.script(PhaseTerminate, "10-drain", `exit 100`)
		}, func(t *testing.T, h *harness) {
			h.waitFor(time.Minute, "launch", func() bool { return len(h.outcomes()) == 1 })
			if err := h.sim.RemoveInstances(h.group, h.local); err != nil {
				t.Fatal(err)
			}
		}, "CONTINUE", EndedFailed},
		{"override", PhaseLaunch, func(h *harness) { h.script(PhaseLaunch, "10-never", `exit 1`) }, func(t *testing.T, h *harness) {
			h.waitFor(time.Minute, "the phase", func() bool { return h.engine.Status().Phase != nil })
			if err := h.engine.Complete(context.Background(), "CONTINUE", ""); err != nil {
				t.Fatal(err)
			}
		}, "CONTINUE", EndedOverride},
		{"answered elsewhere", PhaseLaunch, func(h *harness) { h.script(PhaseLaunch, "10-never", `exit 1`) }, func(t *testing.T, h *harness) {
			h.waitFor(time.Minute, "the phase", func() bool { return h.engine.Status().Phase != nil })
			cb := asclient.Callback{GroupID: h.group, InstanceID: h.local, HookName: sim.DefaultLaunchHook, Result: asclient.Abandon}
			if err := h.client.Callback(context.Background(), cb); err != nil {
				t.Fatal(err)
			}
		}, "", EndedElsewhere},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				rec := &recordingObserver{}
				h.obs = rec
				tc.setup(h)
				start := time.Now()
				h.start()
				if tc.act != nil {
					tc.act(t, h)
				}
				first := func() (Event, bool) {
					for _, ev := range rec.released() {
						if ev.Phase == tc.phase {
							return ev, true
						}
					}
					return Event{}, false
				}
				h.waitFor(2*time.Hour, "hold_released", func() bool { _, ok := first(); return ok })
				// Let AS and the agent settle before looking: AS lists an
				// answered hook a little longer.
				h.waitFor(time.Hour, "the hook's outcome at AS", func() bool { return len(h.outcomes()) == map[string]int{PhaseLaunch: 1, PhaseTerminate: 2}[tc.phase] })
				time.Sleep(2 * time.Minute)
				h.stop()
				ev, _ := first()
				if ev.Result != tc.result || ev.How != tc.how {
					t.Errorf("hold_released: result %q how %q, want %q %q", ev.Result, ev.How, tc.result, tc.how)
				}
				if ev.Duration < 0 || ev.Duration > time.Since(start) {
					t.Errorf("duration %s, want between 0 and the %s the test ran", ev.Duration, time.Since(start))
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if rec.polls == 0 {
					t.Error("no successful poll reported")
				}
				if n := len(rec.deadlines); n < 2 || rec.deadlines[0].IsZero() || !rec.deadlines[n-1].IsZero() {
					t.Errorf("nearest deadlines %v: want a deadline while held, then none", rec.deadlines)
				}
			})
		})
	}
}

// How a finished phase ended, from its state alone: a hook that ended
// without our answer names it whatever the rest did (a result AS did not
// accept before the timeout first), then an override, then the result,
// told apart by the checks' verdict when it is on_failure's CONTINUE.
func TestEndedFromPhaseState(t *testing.T) {
	passed, failed := fixedRunner{checks.Passed}, fixedRunner{checks.Failed}
	cases := []struct {
		name     string
		result   string
		override bool
		outcomes []string
		runner   Runner
		want     string
	}{
		{"checks passed", "CONTINUE", false, []string{""}, passed, EndedPassed},
		{"resumed after a restart, CONTINUE", "CONTINUE", false, []string{""}, nil, EndedPassed},
		{"drain failed into CONTINUE", "CONTINUE", false, []string{""}, failed, EndedFailed},
		{"launch failed", "ABANDON", false, []string{""}, failed, EndedFailed},
		{"override", "ABANDON", true, []string{""}, nil, EndedOverride},
		{"no result, hook gone", "", false, []string{outcomeNotHeld}, nil, EndedElsewhere},
		{"one of two hooks gone", "CONTINUE", false, []string{"", outcomeNotHeld}, passed, EndedElsewhere},
		{"result not accepted before the timeout", "CONTINUE", false, []string{outcomeMissed}, passed, EndedTimeout},
		{"timeout beats elsewhere and override", "ABANDON", true, []string{outcomeNotHeld, outcomeMissed}, nil, EndedTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &PhaseState{Result: tc.result, Override: tc.override, Hooks: map[string]*HookState{}}
			for i, o := range tc.outcomes {
				st.Hooks[fmt.Sprint("hook-", i)] = &HookState{Outcome: o}
			}
			p := &phaseRun{e: &Engine{runner: tc.runner}, st: st}
			if got := p.ended(); got != tc.want {
				t.Errorf("ended() = %q, want %q", got, tc.want)
			}
		})
	}
}

// fixedRunner is a Runner whose checks have ended with a fixed state.
type fixedRunner struct{ state checks.State }

func (f fixedRunner) Run(context.Context) checks.Verdict { return checks.Verdict{State: f.state} }
func (f fixedRunner) Status() checks.PhaseStatus         { return checks.PhaseStatus{State: f.state} }
