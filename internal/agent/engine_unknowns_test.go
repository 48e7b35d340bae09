package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/sim"
)

// The engine against the cloud's unknowns, as the simulator plays them
// (docs/cloud-assumptions.md).

// A code for "not held" the client does not know: the agent asks the
// held-hook list, sees the hook gone, and records it as no longer held at
// once instead of retrying until the hook's deadline.
func TestUnknownNotHeldCodeIsExplainedByTheList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Unknowns.NotHeldCode = "AS.9999"
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
		h.start()
		h.waitFor(time.Minute, "the phase to start", func() bool { return h.engine.Status().Phase != nil })
		// Someone else answers, then the checks pass before the agent's
		// next re-read of the list: its own CONTINUE meets the unknown code.
		err := h.client.Callback(context.Background(), asclient.Callback{GroupID: h.group, InstanceID: h.local, HookName: sim.DefaultLaunchHook, Result: asclient.Continue})
		if err != nil {
			t.Fatal(err)
		}
		touch(t, h.dir+"/ready")
		h.waitFor(time.Minute, "the phase to end", func() bool { return len(h.engine.Status().History) == 1 })
		h.stop()
		hs := readState(t, h).Phases[PhaseLaunch].Hooks[sim.DefaultLaunchHook]
		if hs.Sent != "" || !strings.HasPrefix(hs.Outcome, "no longer held") {
			t.Errorf("hook state = %+v, want no longer held", hs)
		}
		refused := 0
		for _, r := range h.callbacks() {
			if r.Status == 400 {
				refused++
			}
		}
		if refused != 1 {
			t.Errorf("%d refused callbacks, want 1: the list explains the first", refused)
		}
	})
}

// EXTENDs capped with an unknown code while the hook still holds: the
// agent retries with backoff (not in a loop), and when the checks pass the
// CONTINUE goes out at once, never waiting behind the failing EXTEND, with
// or without slow calls.
func TestCappedExtendNeverHoldsUpTheResult(t *testing.T) {
	for _, latency := range []time.Duration{0, 3 * time.Second} {
		t.Run(fmt.Sprint("latency ", latency), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { cappedExtend(t, latency) })
		})
	}
}

func cappedExtend(t *testing.T, latency time.Duration) {
	sc := sim.DefaultScenario()
	sc.Unknowns.ExtendRefusalCode, sc.Unknowns.ExtendCap = "AS.7050", 1
	h := newHarness(t, sc)
	h.sim.SetFault(sim.RouteCallback, sim.Fault{Latency: latency})
	h.cfg.Launch.MaxWait = h.cfg.Launch.MaxWait * 3
	h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
	h.start()
	// The first EXTEND (at 50 min) moves the timeout to 2 h; the second,
	// due at 1 h 50, is refused; the checks can pass from 1 h 55.
	time.Sleep(time.Hour + 55*time.Minute)
	touch(t, h.dir+"/ready")
	passed := time.Now()
	h.waitFor(time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
	answered := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]
	h.stop()
	if answered.Result != "CONTINUE" || answered.By != sim.ByCallback {
		t.Fatalf("outcome = %+v, want CONTINUE by the agent", answered)
	}
	// One check interval (5 s) to notice, one EXTEND round (20 s) at most.
	took := answered.Time.Sub(passed)
	t.Logf("CONTINUE %s after the checks could pass (call latency %s)", took, latency)
	if took > 30*time.Second {
		t.Errorf("CONTINUE %s after the checks could pass", took)
	}
	refused := 0
	for _, r := range h.callbacks() {
		if r.Result == "EXTEND" && r.Status == 400 {
			refused++
		}
	}
	// Five minutes of refusals with backoff (0.5 s doubling to 30 s).
	if refused < 2 || refused > 40 {
		t.Errorf("%d refused EXTENDs in 5 minutes, want a few retries with backoff", refused)
	}
	h.checkCallPattern()
}

// A launch hold that appears only after the instance sat PENDING for a
// while (the agent starts first): the agent keeps polling fast and answers.
func TestHoldAfterPendingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Unknowns.HoldDelay = 90 * time.Second
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.start()
		h.waitFor(10*time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want CONTINUE by the agent", o)
		}
		h.checkCallPattern()
	})
}

// AS's clock 15 minutes ahead of the instance's (first boot, before NTP):
// the agent reads the offset from AS's answers and EXTENDs on AS's time, so
// the hook never times out while the checks take 70 minutes.
func TestClockBehindASStillExtendsInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Unknowns.ClockOffset = 15 * time.Minute
		h := newHarness(t, sc)
		h.cfg.Launch.MaxWait = h.cfg.Launch.MaxWait * 2
		h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
		h.startWithOffset(h.client, h.client.ClockOffset)
		time.Sleep(70 * time.Minute)
		touch(t, h.dir+"/ready")
		h.waitFor(time.Minute, "the outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want CONTINUE by the agent, not the hook's timeout", o)
		}
		if got := h.engine.Status().ASClockOffset; got != "15m0s" {
			t.Errorf("status shows the AS clock offset %q, want 15m0s", got)
		}
		h.checkCallPattern()
	})
}

// A CONTINUE that AS applies but whose answer is lost: the retry meets
// "not held" and the agent records that, sending nothing else. (The
// simulator cannot tie that retry to a hook: its action key is spent.)
func TestLostAnswerIsNotAnsweredTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Unknowns.LostAnswers, sc.Unknowns.LostAnswerResults = 1, []string{"CONTINUE"}
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.start()
		h.waitFor(time.Minute, "the phase to end", func() bool { return len(h.engine.Status().History) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want the lost CONTINUE applied", o)
		}
		for _, r := range h.callbacks() {
			if r.Result != "CONTINUE" {
				t.Errorf("a %s after the lost CONTINUE", r.Result)
			}
		}
		if hs := readState(t, h).Phases[PhaseLaunch].Hooks[sim.DefaultLaunchHook]; !hs.answered() {
			t.Errorf("hook state = %+v, want it recorded as answered or no longer held", hs)
		}
	})
}
