// Package agent owns the lifecycle state machine: it finds out when Auto
// Scaling holds this instance in a lifecycle hook, runs the phase's checks,
// sends EXTEND while they are pending, and answers CONTINUE or ABANDON.
package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
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

// NewRunner builds the runner of a phase whose max_wait began counting at
// started (before a restart, for a resumed phase); the runner owns the
// budget. env is read before every script attempt: the hook names and
// deadline change while the phase runs.
type NewRunner func(phase string, started time.Time, env func() checks.Env) Runner

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
	// ClockOffset is how far AS's clock is ahead of ours, estimated from
	// its answers (asclient.Client.ClockOffset); ok is false until known.
	// nil: AS's clock is taken to be ours.
	ClockOffset func() (offset time.Duration, ok bool)
	// Observer is told of the engine's decisions, for metrics; nil: none.
	Observer Observer
	// ProjectSize counts the project's groups and instances, which share
	// its AS request limit (asclient.Client.ProjectSize); read with the
	// hook list. nil: the idle pace does not grow with the project.
	ProjectSize func(ctx context.Context) (asclient.ProjectSize, error)
	// Throttling returns how many AS answers were throttled so far and the
	// latest Retry-After (asclient.Client.Throttling); nil: never.
	Throttling func() (count uint64, notBefore time.Time)
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
	pace  *pacer

	// Owned by Run's goroutine.
	list         *hookList // what the group's hook list says
	start        time.Time // when Run began
	pollFailures int       // held-hook polls failed in a row

	// ctl carries control-socket requests to the engine's goroutine, which
	// alone changes state; stopped is closed when Run returns.
	ctl     chan ctlRequest
	stopped chan struct{}

	mu     sync.Mutex
	status control.Status
	runner Runner       // of the phase in progress, for status
	frame  summaryFrame // the status line around the live check count; see publish
	curEnv checks.Env   // what scripts see; see env
}

// NewEngine returns an engine for the instance id. It does nothing until Run.
func NewEngine(cfg *config.Config, id Identity, deps Deps) *Engine {
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	if deps.ClockOffset == nil {
		deps.ClockOffset = func() (time.Duration, bool) { return 0, false }
	}
	if deps.Beat == nil {
		deps.Beat = func() {}
	}
	if deps.Throttling == nil {
		deps.Throttling = func() (uint64, time.Time) { return 0, time.Time{} }
	}
	if deps.Signals == nil {
		deps.Signals = checks.NewSignalBoard(deps.Clock)
	}
	deps.Hooks = observeHooks(deps.Hooks, deps.Observer, deps.Clock, deps.ClockOffset)
	log := deps.Log.With().Str("instance_id", id.InstanceID).Str("scaling_group_id", id.GroupID).Logger()
	e := &Engine{
		cfg:     cfg,
		id:      id,
		deps:    deps,
		clock:   deps.Clock,
		log:     log,
		store:   newStateStore(statePath(cfg.StateDir)),
		retry:   backoff.Default(),
		ctl:     make(chan ctlRequest),
		stopped: make(chan struct{}),
		status:  control.Status{InstanceID: id.InstanceID, GroupID: id.GroupID, GroupFrom: id.GroupFrom, State: control.StateStarting, Summary: "starting"},
	}
	e.pace = newPacer(cfg.Poll, deps, log, e.setPace)
	e.list = newHookList(deps.Hooks, id.GroupID, log, e.pace, func() time.Duration {
		now := e.clock.Now()
		return e.pace.hold(now, e.jitter(e.pace.hooks(now)))
	})
	return e
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// Run drives the instance's lifecycle until ctx ends. It returns nil on a
// clean stop; a hook still pending stays held so a restarted agent resumes.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.stopped)
	e.state = e.loadState()
	e.start = e.clock.Now()
	for {
		now := e.clock.Now()
		e.list.maybeRefresh(ctx, now)
		wait, err := e.step(ctx, now)
		if err != nil || e.sleep(ctx, wait) != nil {
			return nil // stopped: a hook still pending stays held for the next start
		}
	}
}

// loadState reads the state file. It starts fresh when there is none, when
// it cannot be trusted or read, or when it is not this instance's: a file
// that names no instance is as foreign as one that names another.
func (e *Engine) loadState() *State {
	st, warn := e.store.load()
	if warn != nil {
		e.log.Warn().Err(warn).Msg("recovering from the held-hook list")
	}
	if st != nil && st.InstanceID != e.id.InstanceID {
		e.log.Warn().Str("state_instance_id", st.InstanceID).Msg("state file belongs to another instance (an image baked from a used instance?); starting fresh")
		st = nil
	}
	if st == nil {
		st = &State{Version: stateVersion}
	}
	st.InstanceID, st.GroupID = e.id.InstanceID, e.id.GroupID
	return st
}

// step polls AS once for holds of this instance and runs the phase that is
// held, if any. It returns how long to wait before the next step, and an
// error only when ctx ended.
func (e *Engine) step(ctx context.Context, now time.Time) (time.Duration, error) {
	launchPlausible := e.launchPlausible(now)
	if !launchPlausible && !e.list.terminate {
		e.list.count(ctx, now) // the hook-list read is paced by the project's size too
		e.setStatus(control.StateIdle, "idle: the group has no terminate hook; checking its hooks every "+e.pace.hooks(now).Round(time.Second).String())
		return e.list.next.Sub(now), ctx.Err()
	}
	// A throttled poll is not retried by the client: the pace, slowed by
	// the 429, says when to poll again, and no poll goes out before.
	if wait := e.pace.gate(now); wait > 0 {
		return wait, ctx.Err()
	}
	held, err := e.heldByPhase(asclient.Paced(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		e.pollFailures++
		if asclient.IsThrottled(err) {
			if e.pollFailures == 1 {
				e.log.Info().Err(err).Msg("AS throttled the poll; slowing down")
			}
			return e.pace.hold(now, e.pace.afterThrottle(e.pollInterval(launchPlausible))), nil
		}
		e.log.Warn().Err(err).Msg("cannot list held hooks; will retry")
		return max(e.retry.Delay(e.pollFailures-1), e.pollInterval(launchPlausible)), nil
	}
	e.pollFailures = 0
	e.list.count(ctx, e.clock.Now()) // after the poll, which matters more in a throttled project
	for _, phase := range []string{PhaseLaunch, PhaseTerminate} {
		if !e.needsRun(phase, held[phase]) {
			continue
		}
		if err := e.runPhase(ctx, phase, held[phase]); err != nil {
			return 0, err
		}
		if phase == PhaseLaunch && len(held[PhaseTerminate]) > 0 {
			return 0, nil // held for both: on to the other at once
		}
		// The phase is over and its answers sent: the next poll keeps
		// the pace rather than follow at once.
		return e.idle(e.launchPlausible(e.clock.Now())), nil
	}
	return e.idle(launchPlausible), nil
}

// launchPlausible reports whether a launch hook may still hold the
// instance: from start until the launch phase is done or the longest launch
// hook would have timed out, since the agent may start before AS puts the
// instance in PENDING_WAIT.
func (e *Engine) launchPlausible(now time.Time) bool {
	return e.list.launch && e.state.Phase(PhaseLaunch).stage() != stageDone && now.Before(e.start.Add(e.list.maxLaunch))
}

// idle sets the status for a step that found nothing to do and returns the
// wait until the next poll.
func (e *Engine) idle(launchPlausible bool) time.Duration {
	switch {
	case e.state.Phase(PhaseTerminate).stage() == stageDone:
		// The instance is on its way out. Stay quiet, but not deaf: an
		// instance removed without deletion may be added again.
		e.setStatus(control.StateDone, "terminate: done; the instance is leaving the group")
		if e.list.launch {
			// Removed without deletion and added back, the instance is
			// held by a launch hook that may last only minutes: watch
			// at the idle pace, as an instance in service does.
			return e.pollInterval(false)
		}
		now := e.clock.Now()
		return e.pace.hold(now, e.jitter(e.pace.hooks(now)))
	case launchPlausible:
		e.setStatus(control.StateIdle, "waiting for a launch hook to hold the instance")
	default:
		e.setStatus(control.StateIdle, "idle: watching for a terminate hook")
	}
	return e.pollInterval(launchPlausible)
}

// needsRun reports whether the held hooks of a phase need the phase run,
// and prepares its state for the run: a new hold of a finished phase (an
// instance removed without deletion and added again) starts it afresh, and
// a hook we never answered that AS lists as held again resumes it.
func (e *Engine) needsRun(name string, held []asclient.HeldHook) bool {
	if len(held) == 0 {
		return false
	}
	ps := e.state.Phase(name)
	if ps.stage() != stageDone {
		return true
	}
	switch hook, why := ps.holdAgain(held); why {
	case newHold:
		e.log.Info().Str("event", evPhaseAfresh).Str("phase", name).Str("hook", hook).Msg("a new hold of a finished phase; starting the phase afresh")
		e.state.startAfresh(name)
		return true
	case unansweredHold:
		e.log.Warn().Str("event", evPhaseResumed).Str("phase", name).Str("hook", hook).Msg("a hook we never answered holds the instance again; resuming the phase")
		ps.resume(hook)
		return true
	}
	return false // answered hooks AS still lists for a while
}

// pollInterval is the wait between two polls of the held-hook list, at
// the pacer's pace: the launch pace is exact unless throttling slowed it.
func (e *Engine) pollInterval(launchPlausible bool) time.Duration {
	now := e.clock.Now()
	if !launchPlausible {
		return e.pace.hold(now, e.jitter(e.pace.idle(now)))
	}
	d, slowed := e.pace.launch(now)
	if slowed {
		d = e.jitter(d)
	}
	return e.pace.hold(now, d)
}

// jitter spreads d by ±poll.jitter so a fleet does not poll in step.
func (e *Engine) jitter(d time.Duration) time.Duration {
	j := e.cfg.Poll.Jitter
	return time.Duration(float64(d) * (1 - j + 2*j*e.deps.Rand()))
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
		p, ok := e.list.phaseOf(h.HookName)
		if !ok && !refreshed {
			refreshed = true
			// Throttled, the list is read again at the pace, and the
			// hold is not left waiting for it: its phase is inferred below.
			if err := e.list.refresh(ctx); err != nil && !asclient.IsThrottled(err) {
				return nil, fmt.Errorf("learning the type of hook %s: %w", h.HookName, err)
			}
			p, ok = e.list.phaseOf(h.HookName)
		}
		if !ok {
			// A hook deleted while it holds the instance (AS keeps the
			// hold), or a list we may not read: it is a launch hook until
			// launch is done, else a terminate hook.
			p = PhaseLaunch
			if e.state.Phase(PhaseLaunch).stage() == stageDone {
				p = PhaseTerminate
			}
			e.log.Warn().Str("hook", h.HookName).Str("phase", p).Msg("a hook holds the instance but its type is unknown; answering it with the phase it must be")
		}
		out[p] = append(out[p], h)
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
