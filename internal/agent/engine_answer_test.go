package agent

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/sim"
)

// refusingHooks passes calls to the real client but fails every callback
// carrying a result for one hook, as a gateway that keeps resetting would.
type refusingHooks struct {
	Hooks
	hook string
}

func (r refusingHooks) Callback(ctx context.Context, cb asclient.Callback) error {
	if cb.HookName == r.hook && cb.Result != asclient.Extend {
		return errors.New("connection reset by peer")
	}
	return r.Hooks.Callback(ctx, cb)
}

// Once the result is known it goes to every hook at once: a hook whose
// callback keeps failing (and times out first) does not delay the other.
func TestRefusedHookDoesNotDelayAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Groups[0].Hooks = append(sc.Groups[0].Hooks, sim.Hook{Name: "second-launch", Type: sim.HookLaunch, DefaultResult: "ABANDON", DefaultTimeout: 3600})
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.startWith(refusingHooks{Hooks: h.client, hook: sim.DefaultLaunchHook})
		h.waitFor(time.Minute, "the phase's result", func() bool { return h.engine.Status().Phase != nil && h.engine.Status().Phase.Result != "" })
		decided := time.Now()
		h.waitFor(time.Minute, "the second hook's outcome", func() bool { return h.outcomes()["INSTANCE_LAUNCHING/second-launch"].Result != "" })
		if waited := time.Since(decided); waited > 5*time.Second {
			t.Errorf("the second hook was answered %s after the result was decided", waited)
		}
		if o := h.outcomes()["INSTANCE_LAUNCHING/second-launch"]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("second hook: %+v, want CONTINUE by the agent", o)
		}
		h.stop()
		h.checkCallPattern()
	})
}

// A stop while a result is being refused over and over ends within
// stopGrace, well inside the unit's TimeoutStopSec; the recorded result is
// sent by the next start, without running the checks again.
func TestStopWhileResultRefusedEndsAndNextStartResends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `echo run >> "`+h.dir+`/runs"`)
		h.sim.SetFault(sim.RouteCallback, sim.Fault{ErrorRate: 1, Status: 503})
		h.start()
		h.waitFor(time.Minute, "the result", func() bool { return h.engine.Status().Phase != nil && h.engine.Status().Phase.Result != "" })
		time.Sleep(time.Minute) // a minute of refusals
		stopAt := time.Now()
		h.stop()
		if took := time.Since(stopAt); took > stopGrace+time.Second {
			t.Errorf("the stop took %s with a result being refused, want at most %s", took, stopGrace)
		}
		if n := len(h.outcomes()); n != 0 {
			t.Fatalf("%d outcomes while every callback was refused", n)
		}
		h.sim.SetFault(sim.RouteCallback, sim.Fault{})
		h.start()
		h.waitFor(time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want CONTINUE by the agent", o)
		}
		if runs := lines(t, h.dir+"/runs"); runs != 1 {
			t.Errorf("the check ran %d times, want once: the restart resends the recorded result", runs)
		}
		h.checkCallPattern()
	})
}

// After a full life (launch, terminate) the instance is added back: both
// phases start afresh, the agent returns to its idle pace, and a second
// scale-in with a hook shorter than the slow watch is answered.
func TestAddedBackStartsANewLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		for i := range sc.Groups[0].Hooks {
			if sc.Groups[0].Hooks[i].Type == sim.HookTerminate {
				sc.Groups[0].Hooks[i].DefaultTimeout = 120 // shorter than poll.hooks_interval (5 min)
			}
		}
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.script(PhaseTerminate, "10-drain", `true`)
		h.start()
		for life := 1; life <= 2; life++ {
			h.scaleIn(10*time.Minute, 2*life-1)
			if life == 1 {
				if err := h.sim.AddInstances(h.group, h.local); err != nil {
					t.Fatal(err)
				}
			}
		}
		h.stop()
		for i, o := range h.sim.Outcomes() {
			if o.Result != "CONTINUE" || o.By != sim.ByCallback {
				t.Errorf("outcome %d = %+v, want CONTINUE by the agent", i, o)
			}
		}
	})
}

// A result refused until the hook's deadline ends the phase as missed; AS
// lists the hook a little longer, until it applies the default, and that
// must not reopen the phase in a loop: the agent goes back to its idle pace.
func TestMissedResultDoesNotReopenThePhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.startWith(refusingHooks{Hooks: h.client, hook: sim.DefaultLaunchHook})
		h.waitFor(2*time.Hour, "the hook's timeout", func() bool { return len(h.outcomes()) == 1 })
		polls := len(h.sim.RequestsTo(sim.RouteListHookInstances))
		time.Sleep(10 * time.Minute)
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.By != sim.ByTimeout {
			t.Errorf("outcome = %+v, want the hook's timeout (every result was refused)", o)
		}
		hs := readState(t, h).Phases[PhaseLaunch].Hooks[sim.DefaultLaunchHook]
		if hs.Outcome != outcomeMissed {
			t.Errorf("hook state = %+v, want the deadline recorded as missed", hs)
		}
		// Idle pace: a poll every 25 s, so about 24 in 10 minutes.
		if n := len(h.sim.RequestsTo(sim.RouteListHookInstances)) - polls; n > 40 {
			t.Errorf("%d polls in the 10 minutes after the phase ended, want the idle pace", n)
		}
	})
}

// After terminate, an instance removed without deletion and added back is
// held by a launch hook that may last only 5 minutes: the agent, which
// reads the hook list only every 10 minutes here, still sees the hold in
// time because it keeps watching for holds at the idle pace.
func TestAddedBackSeenBeforeAShortLaunchHookTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		for i := range sc.Groups[0].Hooks {
			if sc.Groups[0].Hooks[i].Type == sim.HookLaunch {
				sc.Groups[0].Hooks[i].DefaultTimeout = 300
			}
		}
		h := newHarness(t, sc)
		h.cfg.Poll.HooksInterval = h.cfg.Poll.HooksInterval * 2
		h.script(PhaseLaunch, "10-ready", `true`)
		h.script(PhaseTerminate, "10-drain", `true`)
		h.start()
		h.scaleIn(10*time.Minute, 1)
		time.Sleep(time.Minute)
		if err := h.sim.AddInstances(h.group, h.local); err != nil {
			t.Fatal(err)
		}
		h.waitFor(10*time.Minute, "the second launch", func() bool { return len(h.sim.Outcomes()) == 3 })
		h.stop()
		if o := h.sim.Outcomes()[2]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("second launch = %+v, want CONTINUE by the agent before the 5-minute hook times out", o)
		}
	})
}
