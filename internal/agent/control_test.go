package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/control"
	"github.com/asagent/asagent/internal/sim"
)

// recordFirstHooks passes calls to the real client and checks, at every
// callback that carries a result, that the state file already holds that
// result for the hook: the contract that lets a restart resend it and
// never decide again.
type recordFirstHooks struct {
	Hooks
	state stateStore
	mu    sync.Mutex
	bad   []string
}

func (r *recordFirstHooks) Callback(ctx context.Context, cb asclient.Callback) error {
	if cb.Result != asclient.Extend {
		st, err := r.state.load()
		got := ""
		if err == nil {
			got = st.Phase(PhaseLaunch).resultFor(cb.HookName) // every hook of these tests is a launch hook
		}
		if got != string(cb.Result) {
			r.mu.Lock()
			r.bad = append(r.bad, fmt.Sprintf("%s sent to %s with %q recorded (%v)", cb.Result, cb.HookName, got, err))
			r.mu.Unlock()
		}
	}
	return r.Hooks.Callback(ctx, cb)
}

func (r *recordFirstHooks) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Error("result sent before it was recorded: " + b)
	}
}

// controlHarness starts an engine whose launch check never passes, through
// recordFirstHooks, and waits for the phase to run.
func controlHarness(t *testing.T, sc *sim.Scenario) (*harness, *recordFirstHooks) {
	h := newHarness(t, sc)
	h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
	rec := &recordFirstHooks{Hooks: h.client, state: newStateStore(statePath(h.cfg.StateDir))}
	h.startWith(rec)
	h.waitFor(time.Minute, "the launch phase", func() bool { return h.engine.Status().Phase != nil })
	return h, rec
}

// Each way a control request ends a phase answers every hook once, with the
// result it recorded first, and says why in the state.
func TestControlRequestsAnswerThePhase(t *testing.T) {
	cases := []struct {
		name     string
		do       func(e *Engine) error
		want     string
		reason   string
		override bool
	}{
		{"signal fail", func(e *Engine) error { return e.Signal(context.Background(), control.SignalFail) },
			"ABANDON", "the application signalled fail", false},
		{"complete CONTINUE", func(e *Engine) error { return e.Complete(context.Background(), "CONTINUE", "") },
			"CONTINUE", "operator override (asagent complete)", true},
		{"complete --hook", func(e *Engine) error { return e.Complete(context.Background(), "CONTINUE", sim.DefaultLaunchHook) },
			"CONTINUE", "operator override (asagent complete --hook)", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, rec := controlHarness(t, nil)
				if err := tc.do(h.engine); err != nil {
					t.Fatal(err)
				}
				h.waitFor(time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
				h.stop()
				if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != tc.want || o.By != sim.ByCallback {
					t.Errorf("outcome = %+v, want %s by the agent", o, tc.want)
				}
				ps := readState(t, h).Phases[PhaseLaunch]
				if ps.Result != tc.want || ps.Reason != tc.reason || ps.Override != tc.override || !ps.Done {
					t.Errorf("state = %+v, want %s (%q), override %v, done", ps, tc.want, tc.reason, tc.override)
				}
				rec.check(t)
				h.checkCallPattern()
			})
		})
	}
}

// complete --hook answers that hook alone, at once; the other hook keeps
// waiting and later gets the phase's own result (here from signal fail).
func TestCompleteOneHookOfTwo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Groups[0].Hooks = append(sc.Groups[0].Hooks, sim.Hook{Name: "second-launch", Type: sim.HookLaunch, DefaultResult: "ABANDON", DefaultTimeout: 3600})
		h, rec := controlHarness(t, sc)
		if err := h.engine.Complete(context.Background(), "CONTINUE", "second-launch"); err != nil {
			t.Fatal(err)
		}
		if n := len(h.outcomes()); n != 1 {
			t.Errorf("%d outcomes right after complete --hook, want the one hook answered", n)
		}
		if ps := readState(t, h).Phases[PhaseLaunch]; ps.Result != "" || ps.Hooks["second-launch"].Sent != "CONTINUE" {
			t.Errorf("state = %+v, want the hook answered and the phase still undecided", ps)
		}
		if err := h.engine.Signal(context.Background(), control.SignalFail); err != nil {
			t.Fatal(err)
		}
		h.waitFor(10*time.Minute, "both outcomes", func() bool { return len(h.outcomes()) == 2 })
		h.stop()
		for hook, want := range map[string]string{sim.DefaultLaunchHook: "ABANDON", "second-launch": "CONTINUE"} {
			if o := h.outcomes()["INSTANCE_LAUNCHING/"+hook]; o.Result != want || o.By != sim.ByCallback {
				t.Errorf("%s: %+v, want %s by the agent", hook, o, want)
			}
		}
		rec.check(t)
		h.checkCallPattern()
	})
}

// signal extend sends an EXTEND at once, long before the margin, and the
// phase goes on; complete for a hook that does not hold the instance is
// refused with a message for the user.
func TestControlExtendAndUnknownHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, rec := controlHarness(t, nil)
		if err := h.engine.Signal(context.Background(), control.SignalExtend); err != nil {
			t.Fatal(err)
		}
		extends := 0
		for _, r := range h.callbacks() {
			if r.Result == "EXTEND" && r.Status < 300 {
				extends++
			}
		}
		if extends != 1 {
			t.Errorf("%d EXTENDs accepted after signal extend, want 1", extends)
		}
		var ue *control.UserError
		if err := h.engine.Complete(context.Background(), "CONTINUE", "no-such-hook"); !errors.As(err, &ue) {
			t.Errorf("complete --hook no-such-hook: %v, want a refusal naming the hook", err)
		}
		touch(t, h.dir+"/ready")
		h.waitFor(10*time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" {
			t.Errorf("outcome = %+v, want CONTINUE after the checks passed", o)
		}
		rec.check(t)
		h.checkCallPattern()
	})
}
