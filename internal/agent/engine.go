// Package agent owns the lifecycle state machine: it finds out when Auto
// Scaling holds this instance in a lifecycle hook, runs the phase's checks,
// sends EXTEND while they are pending, and answers CONTINUE or ABANDON.
package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/control"
)

// The phases, named as config, logs, scripts and the state file name them.
const (
	PhaseLaunch    = checks.PhaseLaunch
	PhaseTerminate = checks.PhaseTerminate
)

// phaseOf maps an AS hook type to the phase that answers it.
func phaseOf(hookType string) string {
	switch hookType {
	case asclient.HookLaunch:
		return PhaseLaunch
	case asclient.HookTerminate:
		return PhaseTerminate
	}
	return ""
}

// Hooks is the subset of the AS API that the agent uses.
type Hooks interface {
	HeldHooks(ctx context.Context, groupID, instanceID string) ([]asclient.HeldHook, error)
	ListHooks(ctx context.Context, groupID string) ([]asclient.Hook, error)
	Callback(ctx context.Context, cb asclient.Callback) error
}

// Runner runs one phase's checks; *checks.Phase is one.
type Runner interface {
	// Run runs the checks until the phase passes or fails (or ctx ends,
	// which gives a Pending verdict).
	Run(ctx context.Context) checks.Verdict
	Status() checks.PhaseStatus
}

// NewRunner builds the runner of a phase with remaining of its budget. env
// is read before every script attempt: the hook names and deadline change
// while the phase runs.
type NewRunner func(phase string, remaining time.Duration, env func() checks.Env) Runner

// Identity is who this instance is, and where.
type Identity struct {
	InstanceID string
	GroupID    string
	GroupFrom  string // how the group was found: config, cache, discovered
}

// Deps are the engine's collaborators; tests pass doubles or the simulator.
type Deps struct {
	Hooks     Hooks
	NewRunner NewRunner
	Signals   *checks.SignalBoard
	Clock     clockwork.Clock // nil: the real clock
	Log       zerolog.Logger
	// Notify receives a one-line status whenever it changes (systemd's
	// STATUS=); nil: none.
	Notify func(status string)
	// Beat is called from the engine's own goroutine at least every
	// beatEvery while it is responsive (systemd's WATCHDOG=1); nil: none.
	Beat func()
	// Rand returns a number in [0,1) for poll jitter; nil: math/rand.
	Rand func() float64
}

// Engine is the lifecycle state machine for one instance.
type Engine struct {
	cfg   *config.Config
	id    Identity
	deps  Deps
	clock clockwork.Clock
	log   zerolog.Logger
	store stateStore
	state *State
	retry backoff.Policy

	// hookTypes caches each hook's type by name (a hook's type never changes).
	hookTypes map[string]string

	// ctl carries control-socket requests to the engine's goroutine, which
	// alone changes state.
	ctl chan ctlRequest

	mu     sync.Mutex
	status control.Status
	runner Runner     // of the phase in progress, for status
	curEnv checks.Env // what scripts see; see env
}

// NewEngine returns an engine for the instance id. It does nothing until Run.
func NewEngine(cfg *config.Config, id Identity, deps Deps) *Engine {
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	if deps.Beat == nil {
		deps.Beat = func() {}
	}
	if deps.Signals == nil {
		deps.Signals = checks.NewSignalBoard(deps.Clock)
	}
	log := deps.Log.With().Str("instance_id", id.InstanceID).Str("scaling_group_id", id.GroupID).Logger()
	return &Engine{
		cfg:       cfg,
		id:        id,
		deps:      deps,
		clock:     deps.Clock,
		log:       log,
		store:     stateStore{path: statePath(cfg.StateDir)},
		retry:     backoff.Default(),
		hookTypes: map[string]string{},
		ctl:       make(chan ctlRequest),
		status:    control.Status{InstanceID: id.InstanceID, GroupID: id.GroupID, GroupFrom: id.GroupFrom, State: "starting", Summary: "starting"},
	}
}

func statePath(dir string) string { return dir + "/state.json" }

// Run drives the instance's lifecycle until ctx ends. It returns nil on a
// clean stop; a hook still pending stays held so a restarted agent resumes.
func (e *Engine) Run(ctx context.Context) error {
	st, warn := e.store.load()
	if warn != nil {
		e.log.Warn().Err(warn).Msg("recovering from the held-hook list")
	}
	if st.InstanceID != "" && st.InstanceID != e.id.InstanceID {
		e.log.Warn().Str("state_instance_id", st.InstanceID).Msg("state file belongs to another instance (an image baked from a used instance?); starting fresh")
		st = &State{Version: stateVersion}
	}
	st.InstanceID, st.GroupID = e.id.InstanceID, e.id.GroupID
	e.state = st

	if e.terminated() {
		e.setStatus("done", "terminate: done; the instance is leaving the group")
		return e.idleUntilDone(ctx)
	}
	// A launch hook is plausible from start until AS shows none holds us or
	// the launch phase is done: poll fast until then.
	launchPlausible := !e.state.Phase(PhaseLaunch).Done
	hasTerminate := false
	nextHookList := time.Time{}
	failures := 0
	for {
		now := e.clock.Now()
		if !now.Before(nextHookList) {
			types, err := e.refreshHookTypes(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				e.log.Warn().Err(err).Msg("cannot list the group's lifecycle hooks; will retry")
				if e.sleep(ctx, e.retry.Delay(failures)) != nil {
					return nil
				}
				failures++
				continue
			}
			launchPlausible = launchPlausible && types[PhaseLaunch]
			hasTerminate = types[PhaseTerminate]
			nextHookList = now.Add(e.cfg.Poll.HooksInterval.D())
		}
		if !launchPlausible && !hasTerminate {
			e.setStatus("idle", "idle: the group has no terminate hook; checking its hooks every "+e.cfg.Poll.HooksInterval.String())
			if e.sleep(ctx, e.jitter(e.cfg.Poll.HooksInterval.D())) != nil {
				return nil
			}
			nextHookList = time.Time{}
			continue
		}

		held, err := e.heldByPhase(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn().Err(err).Msg("cannot list held hooks; will retry")
			wait := max(e.retry.Delay(failures), e.pollInterval(launchPlausible))
			failures++
			if e.sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		failures = 0
		switch {
		case len(held[PhaseLaunch]) > 0 && !e.state.Phase(PhaseLaunch).Done:
			if err := e.runPhase(ctx, PhaseLaunch, held[PhaseLaunch]); err != nil {
				return nil // ctx ended: leave the hooks held for the next start
			}
			launchPlausible = false
			continue
		case len(held[PhaseTerminate]) > 0:
			if err := e.runPhase(ctx, PhaseTerminate, held[PhaseTerminate]); err != nil {
				return nil
			}
			if e.terminated() {
				e.setStatus("done", "terminate: done; the instance is leaving the group")
				return e.idleUntilDone(ctx)
			}
			continue
		}
		launchPlausible = false
		if !hasTerminate {
			continue // back to reading the hook list, without polling
		}
		e.setStatus("idle", "idle: watching for a terminate hook")
		if e.sleep(ctx, e.pollInterval(false)) != nil {
			return nil
		}
	}
}

// terminated reports whether the terminate phase has been answered: the
// instance is on its way out and there is nothing left to do.
func (e *Engine) terminated() bool {
	p, ok := e.state.Phases[PhaseTerminate]
	return ok && p.Done
}

// idleUntilDone serves status (and refuses control requests) until ctx ends.
func (e *Engine) idleUntilDone(ctx context.Context) error {
	for {
		if e.sleep(ctx, time.Hour) != nil {
			return nil
		}
	}
}

// pollInterval is the wait between two polls of the held-hook list.
func (e *Engine) pollInterval(launchPlausible bool) time.Duration {
	if launchPlausible {
		return e.cfg.Poll.LaunchInterval.D()
	}
	return e.jitter(e.cfg.Poll.IdleInterval.D())
}

// jitter spreads d by ±poll.jitter so a fleet does not poll in step.
func (e *Engine) jitter(d time.Duration) time.Duration {
	j := e.cfg.Poll.Jitter
	return time.Duration(float64(d) * (1 - j + 2*j*e.deps.Rand()))
}

// refreshHookTypes reads the group's hook list and reports which phases
// have a hook.
func (e *Engine) refreshHookTypes(ctx context.Context) (map[string]bool, error) {
	hooks, err := e.deps.Hooks.ListHooks(ctx, e.id.GroupID)
	if err != nil {
		return nil, err
	}
	phases := map[string]bool{}
	for _, h := range hooks {
		e.hookTypes[h.Name] = h.Type
		phases[phaseOf(h.Type)] = true
	}
	return phases, nil
}

// heldByPhase lists the hooks holding this instance, by phase. A hook whose
// type is unknown (created since the last list) makes it read the list again.
func (e *Engine) heldByPhase(ctx context.Context) (map[string][]asclient.HeldHook, error) {
	held, err := e.deps.Hooks.HeldHooks(ctx, e.id.GroupID, e.id.InstanceID)
	if err != nil {
		return nil, err
	}
	out := map[string][]asclient.HeldHook{}
	refreshed := false
	for _, h := range held {
		typ, ok := e.hookTypes[h.HookName]
		if !ok && !refreshed {
			refreshed = true
			if _, err := e.refreshHookTypes(ctx); err != nil {
				return nil, fmt.Errorf("learning the type of hook %s: %w", h.HookName, err)
			}
			typ, ok = e.hookTypes[h.HookName]
		}
		if !ok {
			e.log.Warn().Str("hook", h.HookName).Msg("a hook holds the instance but is not in the group's hook list; ignoring it")
			continue
		}
		if p := phaseOf(typ); p != "" {
			out[p] = append(out[p], h)
		}
	}
	return out, nil
}

// beatEvery bounds the time between two heartbeats of a responsive engine.
// Every wait wakes at least this often; every blocking API call is bounded
// well below the watchdog timeout of the systemd unit (5 minutes).
const beatEvery = 30 * time.Second

// sleep waits d on the engine's clock, answering control requests (there is
// no phase to act on) meanwhile. It returns ctx.Err() when ctx ends.
func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	end := e.clock.Now().Add(d)
	for {
		e.deps.Beat()
		left := end.Sub(e.clock.Now())
		if left <= 0 {
			return nil
		}
		t := e.clock.NewTimer(min(left, beatEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.Chan():
		case req := <-e.ctl:
			t.Stop()
			req.reply <- &control.UserError{Msg: "no lifecycle hook holds this instance"}
		}
	}
}

// save writes the state; a failure is logged, not fatal: AS remains the
// source of truth and a restart relearns what is held.
func (e *Engine) save() {
	if err := e.store.save(e.state); err != nil {
		e.log.Error().Err(err).Msg("cannot write the state file; a restart would re-run the phase's checks")
	}
}

// errStopped means the engine's context ended in the middle of a phase.
var errStopped = errors.New("stopped")
