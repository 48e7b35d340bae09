package agent

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// Observer is told what the engine decides, for metrics (Deps.Observer;
// nil: nothing is told). Its methods are called on the engine's goroutine:
// they must return quickly and never call back into the engine.
type Observer interface {
	// Event is called once for each decision the engine logs as an event
	// about a phase (docs/events.md), whatever the log level.
	Event(ev Event)
	// Polled is called whenever AS answered a list of the hooks holding
	// the instance or of the group's hooks: the agent can reach AS.
	Polled(at time.Time)
	// NearestDeadline is called whenever the phase's status is published,
	// with the timeout of the held hook that times out first; zero when no
	// hook holds the instance.
	NearestDeadline(at time.Time)
	// SetClockOffset is called after each answered list, with the
	// estimated offset of AS's clock from this instance's (positive: AS is
	// ahead) once it is known.
	SetClockOffset(d time.Duration)
}

// Event is one decision as an Observer sees it: the fields of its log line.
type Event struct {
	Name     string    // hold_seen, extend_sent, result_sent, hold_released, ...
	Phase    string    // launch or terminate
	Hook     string    // the hook, for an event about one hook
	Deadline time.Time // the hook's timeout as AS last listed it, with Hook
	Result   string    // CONTINUE or ABANDON once one is recorded for the hook or phase
	// For hold_released: how long the phase took (from the first hold seen,
	// before any restart) and how it ended (one of the Ended constants).
	Duration time.Duration
	How      string
}

// How a phase ended, as Event.How says for hold_released. A hook that
// ended without our answer names the phase's end, whatever the others did:
// it is what an operator is paged for.
const (
	EndedPassed    = "passed"             // the checks passed: CONTINUE
	EndedFailed    = "failed"             // on_failure: a check failed, max_wait was spent, the application signalled fail, or on_stop
	EndedOverride  = "override"           // an operator's asagent complete
	EndedTimeout   = "timeout"            // a hook timed out before AS accepted our result
	EndedElsewhere = "answered_elsewhere" // a hook stopped holding before our answer: answered by someone else, or timed out to its default result
)

// observer returns the engine's Observer, or one that does nothing.
func (e *Engine) observer() Observer {
	if e.deps.Observer == nil {
		return nopObserver{}
	}
	return e.deps.Observer
}

type nopObserver struct{}

func (nopObserver) Event(Event)                  {}
func (nopObserver) Polled(time.Time)             {}
func (nopObserver) NearestDeadline(time.Time)    {}
func (nopObserver) SetClockOffset(time.Duration) {}

// observe tells the observer of event name, with the fields event put in
// its log line.
func (p *phaseRun) observe(name, hook string) {
	ev := Event{Name: name, Phase: p.name, Hook: hook, Result: p.st.resultFor(hook)}
	if hs := p.st.Hooks[hook]; hs != nil {
		ev.Deadline = hs.Timeout
	}
	if name == evHoldReleased {
		ev.Duration, ev.How = p.st.Finished.Sub(p.st.Started), p.ended()
	}
	p.e.observer().Event(ev)
}

// ended says how a finished phase ended (an Ended constant), from its
// state: the hooks' outcomes, the override flag, and the result, which for
// a result equal to on_failure is told apart by the checks' own verdict (a
// terminate phase fails into CONTINUE by default). A phase resumed after a
// restart has no verdict at hand: CONTINUE counts as passed.
func (p *phaseRun) ended() string {
	elsewhere := false
	for _, hs := range p.st.Hooks {
		switch hs.Outcome {
		case outcomeMissed:
			return EndedTimeout
		case outcomeNotHeld:
			elsewhere = true
		}
	}
	switch {
	case elsewhere || p.st.Result == "":
		return EndedElsewhere
	case p.st.Override:
		return EndedOverride
	case p.st.Result != string(config.Continue):
		return EndedFailed
	}
	p.e.mu.Lock()
	r := p.e.runner
	p.e.mu.Unlock()
	if r != nil && r.Status().State != checks.Passed {
		return EndedFailed
	}
	return EndedPassed
}

// observedHooks tells the observer of every list AS answered.
type observedHooks struct {
	Hooks
	obs    Observer
	clock  clockwork.Clock
	offset func() (time.Duration, bool)
}

// observeHooks wraps h so that obs learns of each list AS answered; with no
// observer it is h itself.
func observeHooks(h Hooks, obs Observer, clock clockwork.Clock, offset func() (time.Duration, bool)) Hooks {
	if obs == nil || h == nil {
		return h
	}
	return observedHooks{Hooks: h, obs: obs, clock: clock, offset: offset}
}

// polled tells the observer that AS answered, and AS's clock offset as
// the answers so far estimate it.
func (o observedHooks) polled() {
	o.obs.Polled(o.clock.Now())
	if off, ok := o.offset(); ok {
		o.obs.SetClockOffset(off)
	}
}

func (o observedHooks) HeldHooks(ctx context.Context, groupID, instanceID string) ([]asclient.HeldHook, error) {
	held, err := o.Hooks.HeldHooks(ctx, groupID, instanceID)
	if err == nil {
		o.polled()
	}
	return held, err
}

func (o observedHooks) ListHooks(ctx context.Context, groupID string) ([]asclient.Hook, error) {
	hooks, err := o.Hooks.ListHooks(ctx, groupID)
	if err == nil {
		o.polled()
	}
	return hooks, err
}
