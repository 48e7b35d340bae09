package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
)

// When max_wait is spent with checks still pending, the phase fails with
// on_failure, and nothing is extended after that.
func TestBudgetSpentSendsOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Launch.MaxWait = config.Duration(90 * time.Minute)
		h.cfg.Launch.OnFailure = config.Continue // prove on_failure is what is sent
		h.script(PhaseLaunch, "10-never", `exit 1`)
		h.start()
		h.waitFor(3*time.Hour, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]
		if o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want on_failure CONTINUE by callback", o)
		}
		st := readState(t, h)
		if r := st.Phases[PhaseLaunch]; r.Result != "CONTINUE" || !strings.Contains(r.Reason, "max_wait") {
			t.Errorf("state = %+v, want the reason to name max_wait", r)
		}
		h.checkCallPattern()
	})
}

// Two launch hooks hold the instance together: one run of the checks, and
// each hook gets exactly one CONTINUE.
func TestTwoLaunchHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Groups[0].Hooks = append(sc.Groups[0].Hooks, sim.Hook{Name: "second-launch", Type: sim.HookLaunch, DefaultResult: "ABANDON", DefaultTimeout: 600})
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-count", `echo run >> "`+h.dir+`/runs"; [ "$ASAGENT_ATTEMPT" -ge 2 ] && [ "$ASAGENT_HOOK_NAMES" = "launch-hook,second-launch" ]`)
		h.start()
		h.waitFor(10*time.Minute, "both outcomes", func() bool { return len(h.outcomes()) == 2 })
		h.stop()
		for _, hook := range []string{sim.DefaultLaunchHook, "second-launch"} {
			if o := h.outcomes()["INSTANCE_LAUNCHING/"+hook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
				t.Errorf("%s: %+v", hook, o)
			}
		}
		if runs := lines(t, h.dir+"/runs"); runs != 2 {
			t.Errorf("the check ran %d times, want 2 (one run of the phase for both hooks)", runs)
		}
		h.checkCallPattern()
	})
}

// After launch, a scale-in holds the instance with the terminate hook: the
// drain steps run in order, one after the other, then CONTINUE.
func TestSequentialDrainAfterLaunch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `true`)
		order := h.dir + "/order"
		h.script(PhaseTerminate, "10-stop-traffic", `echo stop >> "`+order+`"; [ "$ASAGENT_ATTEMPT" -ge 2 ]`)
		h.script(PhaseTerminate, "20-flush", `echo flush >> "`+order+`"; [ "$ASAGENT_PHASE" = terminate ]`)
		h.start()
		h.scaleIn(10*time.Minute, 1)
		h.stop()
		if o := h.outcomes()["INSTANCE_TERMINATING/"+sim.DefaultTerminateHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("terminate outcome = %+v", o)
		}
		data, _ := os.ReadFile(order)
		if got := strings.Fields(string(data)); strings.Join(got, ",") != "stop,stop,flush" {
			t.Errorf("drain order = %v, want stop,stop,flush", got)
		}
		h.checkCallPattern()
	})
}

// Someone else (an operator, another tool) answers the hook first: the
// agent records it, sends nothing contradicting, and does not crash.
func TestAnsweredElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-never", `exit 1`)
		h.start()
		h.waitFor(time.Minute, "the phase to start", func() bool { return h.engine.Status().Phase != nil })
		err := h.client.Callback(context.Background(), asclient.Callback{GroupID: h.group, InstanceID: h.local, HookName: sim.DefaultLaunchHook, Result: asclient.Abandon})
		if err != nil {
			t.Fatal(err)
		}
		h.waitFor(time.Hour, "the agent to notice", func() bool {
			return len(h.engine.Status().History) == 1
		})
		h.stop()
		st := readState(t, h).Phases[PhaseLaunch]
		if hs := st.Hooks[sim.DefaultLaunchHook]; hs.Sent != "" || !strings.HasPrefix(hs.Outcome, "no longer held") || !st.Done {
			t.Errorf("state = %+v %+v, want no result sent and the outcome recorded", st, hs)
		}
		ours := 0
		for _, r := range h.callbacks() {
			if r.Result != "EXTEND" {
				ours++
			}
		}
		if ours != 1 {
			t.Errorf("%d results sent in all, want only the other party's", ours)
		}
	})
}

// Restarted mid-phase (kill, then start again): the new agent resumes from
// the state file, keeps extending, and the hook is answered exactly once.
func TestRestartMidPhaseResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
		h.start()
		h.waitFor(2*time.Hour, "an EXTEND", func() bool { return len(h.callbacks()) > 0 })
		h.stop()
		first := readState(t, h).Phases[PhaseLaunch]
		if first.Result != "" || first.Hooks[sim.DefaultLaunchHook].Extends != 1 {
			t.Fatalf("state before restart = %+v", first)
		}
		time.Sleep(5 * time.Minute) // the agent is down for a while
		touch(t, h.dir+"/ready")
		h.start()
		h.waitFor(time.Hour, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v", o)
		}
		if st := readState(t, h).Phases[PhaseLaunch]; !st.Started.Equal(first.Started) {
			t.Errorf("the restart began a new phase (started %v, was %v)", st.Started, first.Started)
		}
		h.checkCallPattern()
	})
}

// A result decided before a crash is resent as it was, even if the checks
// would now decide otherwise: the agent never contradicts itself.
func TestDecidedResultSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `true`) // would pass now
		st := &State{InstanceID: h.local, GroupID: h.group}
		p := st.Phase(PhaseLaunch)
		p.Started, p.Result, p.Reason = time.Now(), "ABANDON", "decided before the crash"
		if err := newStateStore(statePath(h.cfg.StateDir)).save(st); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "ABANDON" {
			t.Errorf("outcome = %+v, want the ABANDON decided before the restart", o)
		}
	})
}

// Half the callbacks fail with 5xx and the API throttles: the agent still
// answers before the deadline, and exactly once.
func TestServerErrorsAndThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFault(sim.RouteCallback, sim.Fault{ErrorRate: 0.5, Seed: 7})
		h.sim.SetFault(sim.RouteListHookInstances, sim.Fault{ErrorRate: 0.3, Seed: 8})
		h.sim.SetThrottle(0.5, 2)
		h.script(PhaseLaunch, "10-ready", `[ "$ASAGENT_ATTEMPT" -ge 2 ]`)
		h.start()
		h.waitFor(time.Hour, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v", o)
		}
		failed := 0
		for _, r := range h.sim.Requests() {
			if r.Status >= 429 {
				failed++
			}
		}
		if failed == 0 {
			t.Error("no request failed: the faults were not exercised")
		}
		h.checkCallPattern()
	})
}

func readState(t *testing.T, h *harness) *State {
	t.Helper()
	st, warn := newStateStore(statePath(h.cfg.StateDir)).load()
	if warn != nil {
		t.Fatal(warn)
	}
	return st
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}
