package agent

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// A launch hook holds the instance at boot; when the readiness script
// passes, the agent answers CONTINUE and the instance goes into service.
func TestLaunchPassesThenContinue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-ready", `[ "$ASAGENT_ATTEMPT" -ge 3 ] && [ "$ASAGENT_PHASE" = launch ]`)
		h.start()
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()

		o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]
		if o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("launch outcome = %+v, want CONTINUE by callback", o)
		}
		if st, _ := h.sim.Instance(h.group, h.local); st.LifeCycleState != "INSERVICE" {
			t.Errorf("instance state = %s, want INSERVICE", st.LifeCycleState)
		}
		h.checkCallPattern()
	})
}

// A readiness script that gives up (exit 100) fails the phase at once and
// the agent answers ABANDON, launch's default on_failure.
func TestLaunchGiveUpThenAbandon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-broken", `exit 100`)
		h.start()
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]
		if o.Result != "ABANDON" || o.By != sim.ByCallback {
			t.Errorf("launch outcome = %+v, want ABANDON by callback", o)
		}
		h.checkCallPattern()
	})
}

// Readiness that takes hours: the agent extends about once per hook hour,
// the hook never times out, and CONTINUE follows the checks passing.
func TestSlowReadinessIsExtendedHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Launch.MaxWait = h.cfg.Launch.MaxWait * 10   // 10 h budget
		h.cfg.Launch.Interval = h.cfg.Launch.Interval * 60 // a check every 5 minutes
		ready := time.Now().Add(5*time.Hour + 17*time.Minute)
		h.script(PhaseLaunch, "10-slow", `[ -e "`+h.dir+`/ready" ]`)
		h.start()
		h.waitFor(6*time.Hour, "the ready time", func() bool { return !time.Now().Before(ready) })
		touch(t, h.dir+"/ready")
		h.waitFor(time.Hour, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()

		o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]
		if o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Fatalf("launch outcome = %+v, want CONTINUE by callback", o)
		}
		extends := 0
		for _, r := range h.callbacks() {
			if r.Result == "EXTEND" && r.Status < 300 {
				extends++
			}
		}
		// The hook starts with one hour; 5h17m more needs 5 or 6 EXTENDs
		// (the margin may make the last one early), never one per poll.
		if extends < 5 || extends > 6 {
			t.Errorf("%d EXTENDs for 5h17m of pending readiness, want 5 or 6", extends)
		}
		h.checkCallPattern()
	})
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := writeFile(path, ""); err != nil {
		t.Fatal(err)
	}
}
