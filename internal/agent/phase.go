package agent

import (
	"context"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// phaseRun is one phase in progress: its config, state, hooks and logger.
// Its methods run on the engine's goroutine, which alone changes state.
type phaseRun struct {
	e      *Engine
	name   string
	cfg    config.Phase
	st     *PhaseState
	held   map[string]asclient.HeldHook // hooks still HANGING, by name
	log    zerolog.Logger
	budget time.Time // when max_wait is spent
	// extendAfter holds back a new EXTEND of a hook until this time, after
	// one that failed or did not move the timeout, so a misbehaving API is
	// not hammered.
	extendAfter map[string]time.Time
	extendFails map[string]int // EXTENDs failed in a row, by hook
}

// runPhase answers the hooks of one phase: it runs the checks while
// extending the hooks, then sends the result. It returns errStopped if ctx
// ends first, leaving the hooks held.
func (e *Engine) runPhase(ctx context.Context, name string, held []asclient.HeldHook) error {
	p := &phaseRun{
		e:           e,
		name:        name,
		cfg:         e.phaseConfig(name),
		st:          e.state.Phase(name),
		held:        map[string]asclient.HeldHook{},
		log:         e.log.With().Str("phase", name).Logger(),
		extendAfter: map[string]time.Time{},
		extendFails: map[string]int{},
	}
	if p.st.Started.IsZero() {
		p.st.Started = e.clock.Now()
	}
	p.budget = p.st.Started.Add(p.cfg.MaxWait.D())
	p.updateHeld(held)
	e.save()

	if p.st.stage() == stageChecking {
		p.event(zerolog.InfoLevel, evPhaseStarted, "").Strs("hooks", p.hookNames()).Time("budget_ends", p.budget).Msg("running the phase's checks")
		if err := p.decide(ctx); err != nil {
			return err
		}
	} else {
		p.event(zerolog.InfoLevel, evPhaseResumed, "").Msg("resuming: the result was decided before a restart; sending it")
	}
	p.finish(ctx)
	return nil
}

func (e *Engine) phaseConfig(name string) config.Phase {
	if name == PhaseLaunch {
		return e.cfg.Launch
	}
	return e.cfg.Terminate
}

func (p *phaseRun) hookNames() []string { return sortedKeys(p.held) }

// byDeadline lists the held hooks, the one that times out first first.
func (p *phaseRun) byDeadline() []string {
	names := p.hookNames()
	sort.SliceStable(names, func(i, j int) bool {
		return p.st.Hooks[names[i]].Timeout.Before(p.st.Hooks[names[j]].Timeout)
	})
	return names
}

// checkRun is the phase's checks running in their own goroutine.
type checkRun struct {
	runner   Runner
	verdicts chan checks.Verdict // receives the one verdict
	cancel   context.CancelFunc
	done     chan struct{}
}

// startChecks starts the phase's checks. The script environment must be in
// place before the first script starts, so it is published first.
func (p *phaseRun) startChecks(ctx context.Context) *checkRun {
	p.publish(nil)
	runCtx, cancel := context.WithCancel(ctx)
	c := &checkRun{
		runner:   p.e.deps.NewRunner(p.name, p.st.Started, p.e.env),
		verdicts: make(chan checks.Verdict, 1),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	p.e.setRunner(c.runner)
	go func() {
		defer close(c.done)
		c.verdicts <- c.runner.Run(runCtx)
	}()
	return c
}

// stop stops every check and waits for them.
func (c *checkRun) stop() {
	c.cancel()
	<-c.done
}

// decide runs the checks until the phase has a result, extending the hooks
// meanwhile, and records the result before anything is sent. The checks own
// max_wait: their verdict at the budget (at once, for a phase resumed past
// it) is the phase's failure. It returns
// with no result when no hook of the phase holds the instance any more,
// and errStopped when ctx ends with the phase pending.
func (p *phaseRun) decide(ctx context.Context) error {
	run := p.startChecks(ctx)
	defer run.stop()
	// Re-read the held hooks now and then, to notice a hook answered by
	// someone else or a new hook of the phase; idle pace keeps it cheap.
	poll := p.e.clock.NewTicker(p.e.pollInterval(false))
	defer poll.Stop()
	for {
		p.e.deps.Beat()
		p.publish(run.runner)
		// Wake for the next EXTEND, and at least every beatEvery.
		wake := p.e.clock.NewTimer(p.untilNextExtend(beatEvery))
		over := false
		select {
		case <-ctx.Done():
		case v := <-run.verdicts:
			over = p.onVerdict(ctx, v)
		case <-wake.Chan():
			over = p.tend(ctx, false)
		case <-poll.Chan():
			over = p.onPoll(ctx)
		case req := <-p.e.ctl:
			over = p.handle(ctx, req)
		}
		wake.Stop()
		if ctx.Err() != nil {
			// Stopping: a verdict now may be the Pending of a cancelled
			// run, never a reason to answer.
			return p.stopPending()
		}
		if over {
			return nil
		}
	}
}

// onVerdict records the result of the checks' verdict.
func (p *phaseRun) onVerdict(ctx context.Context, v checks.Verdict) bool {
	if ctx.Err() != nil {
		return false
	}
	res, decided := v.Result(p.cfg.OnFailure)
	if !decided {
		// The runner stopped without a verdict although we did not stop
		// it: fail safe, never CONTINUE on it.
		res, v.Reason = p.cfg.OnFailure, "the checks stopped without a verdict: "+v.Reason
	}
	p.record(decision{result: res, reason: v.Reason})
	return true
}

// onPoll re-reads the held hooks and reports whether none is left. The
// re-read is bounded by the next EXTEND, so a slow AS cannot make the agent
// miss it: the re-read can wait, the EXTEND cannot.
func (p *phaseRun) onPoll(ctx context.Context) bool {
	bound := max(p.untilNextExtend(repollBound), time.Second)
	if !p.repoll(ctx, bound) || len(p.held) > 0 {
		return false
	}
	p.log.Info().Msg("no hook of the phase holds the instance any more; stopping its checks")
	return true
}

// stopPending handles a stop request while the phase is pending: by
// default the hooks stay held and a restarted agent resumes; with on_stop:
// on_failure the phase's on_failure result is decided (and finish sends it).
func (p *phaseRun) stopPending() error {
	if p.cfg.OnStop == config.StopOnFailure {
		p.record(decision{result: p.cfg.OnFailure, reason: "the agent was stopped with the phase pending (on_stop: on_failure)"})
		return nil
	}
	p.event(zerolog.InfoLevel, evPhaseStopped, "").Msg("stopping with the phase pending; the hooks stay held and a restart resumes")
	return errStopped
}
