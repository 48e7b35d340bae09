package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/control"
	"github.com/asagent/asagent/internal/sim"
)

// Stopping the agent while a phase is pending never answers the hooks,
// whatever the agent was doing at the moment (the runner's Pending verdict
// of a cancelled run must not turn into on_failure).
func TestStopWhilePendingNeverAnswers(t *testing.T) {
	for i := range 12 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.cfg.Launch.Interval = h.cfg.Launch.Interval / 5 // an attempt every second
				h.script(PhaseLaunch, "10-never", `exit 1`)
				h.start()
				time.Sleep(time.Duration(i)*700*time.Millisecond + time.Second)
				h.stop()
				for _, r := range h.callbacks() {
					if r.Result != "EXTEND" {
						t.Fatalf("stopping sent %s", r.Result)
					}
				}
				if st := readState(t, h).Phases[PhaseLaunch]; st.Result != "" {
					t.Errorf("stopping decided %q", st.Result)
				}
			})
		})
	}
}

// With on_stop: on_failure, stopping answers the pending phase with its
// on_failure result instead of leaving the hooks held.
func TestStopWithOnStopOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Launch.OnStop = "on_failure"
		h.script(PhaseLaunch, "10-never", `exit 1`)
		h.start()
		h.waitFor(time.Minute, "the phase", func() bool { return h.engine.Status().Phase != nil })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "ABANDON" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want ABANDON sent on stop", o)
		}
	})
}

// The agent may start before AS holds the instance (it boots while still
// PENDING): a launch hold that appears after the first empty answer is still
// seen and answered, even in a group without a terminate hook.
func TestLateLaunchHoldIsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := sim.DefaultScenario()
		sc.Groups[0].Hooks = sc.Groups[0].Hooks[:1] // launch hook only
		sc.Groups[0].Instances = nil                // not added yet
		h := newHarness(t, sc)
		h.script(PhaseLaunch, "10-ready", `true`)
		h.start()
		time.Sleep(45 * time.Second)
		if err := h.sim.AddInstances(h.group, h.local); err != nil {
			t.Fatal(err)
		}
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want CONTINUE by the agent", o)
		}
	})
}

// An instance removed without deletion and added again is held anew: the
// agent runs the launch phase again for the new hold instead of ignoring it
// as answered.
func TestNewHoldAfterReAddStartsAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Poll.HooksInterval = h.cfg.Poll.IdleInterval
		h.script(PhaseLaunch, "10-ready", `true`)
		h.script(PhaseTerminate, "10-drain", `true`)
		h.start()
		h.scaleIn(10*time.Minute, 1)
		if err := h.sim.AddInstances(h.group, h.local); err != nil {
			t.Fatal(err)
		}
		h.waitFor(10*time.Minute, "the second launch", func() bool { return len(h.sim.Outcomes()) == 3 })
		h.stop()
		for i, o := range h.sim.Outcomes() {
			if o.Result != "CONTINUE" || o.By != sim.ByCallback {
				t.Errorf("outcome %d = %+v, want CONTINUE by the agent", i, o)
			}
		}
	})
}

// garblingHooks passes calls to the real client but makes every hook's
// timeout unreadable, as a changed API format would.
type garblingHooks struct{ Hooks }

func (g garblingHooks) HeldHooks(ctx context.Context, group, instance string) ([]asclient.HeldHook, error) {
	held, err := g.Hooks.HeldHooks(ctx, group, instance)
	for i := range held {
		held[i].TimeoutRaw = "next Tuesday"
	}
	return held, err
}

// An unreadable hook timeout is treated as due (one EXTEND at once), never as
// "no deadline", and never turns into a stream of EXTENDs.
func TestUnreadableTimeoutExtendsWithoutFlooding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Launch.MaxWait = h.cfg.Launch.MaxWait * 3
		h.script(PhaseLaunch, "10-ready", `[ -e "`+h.dir+`/ready" ]`)
		h.startWith(garblingHooks{h.client})
		time.Sleep(2 * time.Hour)
		touch(t, h.dir+"/ready")
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("outcome = %+v, want CONTINUE by the agent", o)
		}
		extends := 0
		for _, r := range h.callbacks() {
			if r.Result == "EXTEND" {
				extends++
			}
		}
		// At most one EXTEND per half margin (5 min) while the deadline is unknown.
		if extends < 1 || extends > 2*60/5+1 {
			t.Errorf("%d EXTENDs in two hours with an unreadable timeout", extends)
		}
		h.checkCallPattern()
	})
}

// Control requests to an engine that has stopped answer at once instead of
// hanging the caller.
func TestControlAfterStopAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "10-never", `exit 1`)
		h.start()
		h.waitFor(time.Minute, "the phase", func() bool { return h.engine.Status().Phase != nil })
		h.stop()
		ctx := context.Background()
		for _, err := range []error{
			h.engine.Complete(ctx, "CONTINUE", ""),
			h.engine.Signal(ctx, control.SignalFail),
			h.engine.Signal(ctx, control.SignalExtend),
		} {
			var ue *control.UserError
			if !errors.As(err, &ue) {
				t.Errorf("err = %v, want the engine-not-running refusal", err)
			}
		}
	})
}

// stallingHooks passes calls to the real client, but an EXTEND blocks until
// its context ends: the engine is busy inside a call when it is stopped.
type stallingHooks struct {
	Hooks
	stalled chan struct{}
}

func (s stallingHooks) Callback(ctx context.Context, cb asclient.Callback) error {
	if cb.Result != asclient.Extend {
		return s.Hooks.Callback(ctx, cb)
	}
	select {
	case s.stalled <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// Stopped while busy in an API call, with the checks' cancelled run racing
// to report: still no answer is sent.
func TestStopWhileBusyNeverAnswers(t *testing.T) {
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.cfg.Launch.Interval = h.cfg.Launch.Interval * 12 // fewer processes before the EXTEND
				h.script(PhaseLaunch, "10-never", `exit 1`)
				stalled := make(chan struct{}, 1)
				h.startWith(stallingHooks{Hooks: h.client, stalled: stalled})
				<-stalled // the EXTEND is in flight
				h.stop()
				for _, r := range h.callbacks() {
					t.Errorf("stopping sent %s", r.Result)
				}
			})
		})
	}
}
