package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/control"
)

// Outcomes recorded for a hook that ended without our callback.
const (
	outcomeNotHeld = "no longer held: answered elsewhere or timed out to its default result"
	outcomeMissed  = "deadline passed before AS accepted our result"
)

// callbackSafety is how long before a hook's timeout the agent stops
// retrying a callback: a call still in flight at the timeout would race AS
// applying the default result.
const callbackSafety = 2 * time.Second

// phaseRun is one phase in progress: its config, state, hooks and logger.
type phaseRun struct {
	name   string
	cfg    config.Phase
	st     *PhaseState
	held   map[string]asclient.HeldHook // hooks still HANGING, by name
	log    zerolog.Logger
	budget time.Time // when max_wait is spent
	// extendAfter holds back a new EXTEND of a hook until this time, after
	// one that did not move the timeout, so a misbehaving API is not hammered.
	extendAfter map[string]time.Time
}

// runPhase answers the hooks of one phase: it runs the checks while
// extending the hooks, then sends the result. It returns errStopped if ctx
// ends first, leaving the hooks held.
func (e *Engine) runPhase(ctx context.Context, name string, held []asclient.HeldHook) error {
	p := &phaseRun{
		name:        name,
		cfg:         e.phaseConfig(name),
		st:          e.state.Phase(name),
		held:        map[string]asclient.HeldHook{},
		log:         e.log.With().Str("phase", name).Logger(),
		extendAfter: map[string]time.Time{},
	}
	if p.st.Started.IsZero() {
		p.st.Started = e.clock.Now()
	}
	p.budget = p.st.Started.Add(p.cfg.MaxWait.D())
	e.updateHeld(p, held)
	e.save()

	if p.st.Result == "" {
		p.log.Info().Strs("hooks", p.hookNames()).Time("budget_ends", p.budget).Msg("lifecycle hook holds the instance; running the phase's checks")
		if err := e.decide(ctx, p); err != nil {
			return err
		}
	} else {
		p.log.Info().Str("result", p.st.Result).Msg("resuming: the result was decided before a restart; sending it")
	}
	e.finish(ctx, p)
	return nil
}

func (e *Engine) phaseConfig(name string) config.Phase {
	if name == PhaseLaunch {
		return e.cfg.Launch
	}
	return e.cfg.Terminate
}

func (p *phaseRun) hookNames() []string {
	names := make([]string, 0, len(p.held))
	for n := range p.held {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// byDeadline lists the held hooks, the one that times out first first.
func (p *phaseRun) byDeadline() []string {
	names := p.hookNames()
	sort.SliceStable(names, func(i, j int) bool {
		return p.st.Hooks[names[i]].Timeout.Before(p.st.Hooks[names[j]].Timeout)
	})
	return names
}

// updateHeld takes a fresh list of this phase's held hooks: it records new
// hooks and timeouts, and notes the hooks that no longer hold the instance.
func (e *Engine) updateHeld(p *phaseRun, held []asclient.HeldHook) {
	now := map[string]bool{}
	for _, h := range held {
		now[h.HookName] = true
		hs := p.st.Hooks[h.HookName]
		if hs == nil {
			hs = &HookState{}
			p.st.Hooks[h.HookName] = hs
		}
		if hs.Sent != "" || hs.Outcome != "" {
			continue // answered: AS may list it a little longer
		}
		hs.ActionKey = h.ActionKey
		deadline, err := h.Deadline()
		switch {
		case err == nil:
			hs.Timeout = deadline
		case hs.Timeout.IsZero():
			// An unreadable timeout is an unknown deadline, not none: treat
			// it as due now so the agent extends once at once. Since the
			// re-read timeout then does not move, further EXTENDs are held
			// back (see extendDue) rather than sent in a loop.
			p.log.Error().Err(err).Str("hook", h.HookName).Msg("unreadable hook timeout; extending at once to be safe")
			hs.Timeout = e.clock.Now()
		default:
			p.log.Error().Err(err).Str("hook", h.HookName).Time("kept", hs.Timeout).Msg("unreadable hook timeout; keeping the last one read")
		}
		p.held[h.HookName] = h
	}
	for name := range p.held {
		if !now[name] {
			delete(p.held, name)
			if hs := p.st.Hooks[name]; hs.Sent == "" && hs.Outcome == "" {
				hs.Outcome = outcomeNotHeld
				p.log.Warn().Str("hook", name).Msg("the hook stopped holding the instance before we answered: " + outcomeNotHeld)
			}
		}
	}
}

// decide runs the checks until the phase has a result, extending the hooks
// meanwhile, and records the result in the state before anything is sent.
func (e *Engine) decide(ctx context.Context, p *phaseRun) error {
	if !e.clock.Now().Before(p.budget) {
		// Resumed after the budget ran out while the agent was down.
		e.setResult(p, p.cfg.OnFailure, fmt.Sprintf("max_wait (%s) spent with checks still pending", p.cfg.MaxWait))
		return nil
	}
	runCtx, stopChecks := context.WithCancel(ctx)
	e.publish(p, nil) // the script environment must be in place first
	runner := e.deps.NewRunner(p.name, p.st.Started, e.env)
	e.setRunner(runner)
	verdicts := make(chan checks.Verdict, 1)
	go func() { verdicts <- runner.Run(runCtx) }()
	defer func() {
		stopChecks()
		<-verdicts // the runner has stopped every check before we go on
	}()

	// Re-read the held hooks now and then, to notice a hook answered by
	// someone else or a new hook of the phase; idle pace keeps it cheap.
	poll := e.clock.NewTicker(e.jitter(e.cfg.Poll.IdleInterval.D()))
	defer poll.Stop()
	for {
		if ctx.Err() != nil {
			return e.stopPending(p)
		}
		e.deps.Beat()
		e.publish(p, runner)
		if e.clock.Now().After(p.budget) || e.clock.Now().Equal(p.budget) {
			e.setResult(p, p.cfg.OnFailure, fmt.Sprintf("max_wait (%s) spent with checks still pending", p.cfg.MaxWait))
			return nil
		}
		// Wake for the next EXTEND (never after the budget), and at least
		// every beatEvery for the heartbeat.
		wake := e.clock.NewTimer(min(e.nextExtend(p).Sub(e.clock.Now()), beatEvery))
		select {
		case <-ctx.Done():
			wake.Stop()
			return e.stopPending(p)
		case v := <-verdicts:
			wake.Stop()
			verdicts <- v // for the deferred wait
			if ctx.Err() != nil {
				// Stopping: the runner's verdict may be the Pending of a
				// cancelled run, never a reason to answer.
				return e.stopPending(p)
			}
			res, decided := v.Result(p.cfg.OnFailure)
			if !decided {
				// The runner stopped without a verdict although we did not
				// stop it: fail safe, never CONTINUE on it.
				res, v.Reason = p.cfg.OnFailure, "the checks stopped without a verdict: "+v.Reason
			}
			e.setResult(p, res, v.Reason)
			return nil
		case <-wake.Chan():
			e.extendDue(ctx, p, false)
		case <-poll.Chan():
			wake.Stop()
			// Bounded by the next EXTEND, so a slow AS cannot make the
			// agent miss it: the re-read can wait, the EXTEND cannot.
			bound := min(repollBound, max(e.nextExtend(p).Sub(e.clock.Now()), time.Second))
			if e.repoll(ctx, p, bound) && len(p.held) == 0 {
				p.log.Info().Msg("no hook of the phase holds the instance any more; stopping its checks")
				p.st.Done, p.st.Finished = true, e.clock.Now()
				e.save()
				return nil
			}
		case req := <-e.ctl:
			wake.Stop()
			if done := e.handle(ctx, p, req); done {
				return nil
			}
		}
	}
}

// stopPending handles a stop request while the phase is pending: by
// default the hooks stay held and a restarted agent resumes; with on_stop:
// on_failure the phase's on_failure result is decided (and finish sends it).
func (e *Engine) stopPending(p *phaseRun) error {
	if p.cfg.OnStop == config.StopOnFailure {
		e.setResult(p, p.cfg.OnFailure, "the agent was stopped with the phase pending (on_stop: on_failure)")
		return nil
	}
	p.log.Info().Msg("stopping with the phase pending; the hooks stay held and a restart resumes")
	return errStopped
}

// nextExtend is when the first hook needs an EXTEND: its timeout less the
// margin. Hooks whose timeout lies beyond the phase's budget need none: the
// phase ends before they would time out.
func (e *Engine) nextExtend(p *phaseRun) time.Time {
	next := p.budget
	margin := e.cfg.Extend.Margin.D()
	for name := range p.held {
		due := p.st.Hooks[name].Timeout.Add(-margin)
		if due.Before(p.budget) {
			due = later(due, p.extendAfter[name])
			if due.Before(next) {
				next = due
			}
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// extendDue sends EXTEND to every hook that is due (all of them when force),
// then re-reads the timeouts: AS, not arithmetic, says how far they moved.
func (e *Engine) extendDue(ctx context.Context, p *phaseRun, force bool) {
	now := e.clock.Now()
	margin := e.cfg.Extend.Margin.D()
	sent := map[string]time.Time{}
	tried := false
	for _, name := range p.byDeadline() {
		hs := p.st.Hooks[name]
		due := hs.Timeout.Add(-margin)
		if !force && (now.Before(due) || !due.Before(p.budget) || now.Before(p.extendAfter[name])) {
			continue
		}
		tried = true
		err := e.callback(ctx, p, name, asclient.Extend, hs.Timeout)
		switch {
		case err == nil:
			hs.Extends++
			sent[name] = hs.Timeout
			p.log.Info().Str("hook", name).Int("extends", hs.Extends).Msg("sent EXTEND")
		case asclient.IsNoLongerHeld(err):
			delete(p.held, name)
			hs.Outcome = outcomeNotHeld
			p.log.Warn().Str("hook", name).Msg("EXTEND refused: " + outcomeNotHeld)
		default:
			p.log.Error().Err(err).Str("hook", name).Msg("EXTEND failed; will try again")
			p.extendAfter[name] = now.Add(e.cfg.Poll.LaunchInterval.D())
		}
	}
	if len(sent) == 0 {
		if tried {
			e.save()
		}
		return
	}
	// The re-read may take at most half the margin: the next EXTEND (an
	// EXTEND from now at the earliest) keeps the other half.
	e.repoll(ctx, p, min(repollBound, margin/2))
	for name, before := range sent {
		hs, stillHeld := p.st.Hooks[name], p.held[name].HookName != ""
		if stillHeld && !hs.Timeout.After(before) {
			p.log.Warn().Str("hook", name).Time("timeout", hs.Timeout).Msg("EXTEND was accepted but the timeout did not move")
			p.extendAfter[name] = now.Add(margin / 2)
		}
	}
	e.save()
}

// repoll re-reads the phase's held hooks. It reports false when AS could not
// be asked (the phase goes on with what it knew).
func (e *Engine) repoll(ctx context.Context, p *phaseRun, bound time.Duration) bool {
	rctx, cancel := clockwork.WithTimeout(ctx, e.clock, bound)
	defer cancel()
	held, err := e.heldByPhase(rctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn().Err(err).Msg("cannot re-read held hooks")
		}
		return false
	}
	e.updateHeld(p, held[p.name])
	e.save()
	return true
}

// setResult records the phase's result before any callback carries it.
func (e *Engine) setResult(p *phaseRun, res config.Result, reason string) {
	p.st.Result, p.st.Reason = string(res), reason
	ev := p.log.Info()
	if res != config.Continue {
		ev = p.log.Warn()
	}
	ev.Str("result", string(res)).Str("reason", reason).Msg("phase decided")
	e.save()
}

// finish sends the decided result to every hook of the phase that has none.
// It runs on its own bounded context: a stop request must not cut off a
// result that is due.
func (e *Engine) finish(ctx context.Context, p *phaseRun) {
	res := asclient.Result(p.st.Result)
	for _, name := range p.byDeadline() {
		hs := p.st.Hooks[name]
		if hs.Sent != "" || hs.Outcome != "" {
			continue
		}
		err := e.callback(context.WithoutCancel(ctx), p, name, res, hs.Timeout)
		switch {
		case err == nil:
			hs.Sent, hs.SentAt = string(res), e.clock.Now()
			p.log.Info().Str("hook", name).Str("result", string(res)).Msg("answered the hook")
		case asclient.IsNoLongerHeld(err):
			hs.Outcome = outcomeNotHeld
			p.log.Warn().Str("hook", name).Msg("result refused: " + outcomeNotHeld)
		default:
			hs.Outcome = outcomeMissed
			p.log.Error().Err(err).Str("hook", name).Str("result", string(res)).Msg("could not answer the hook before its timeout; AS applies its default result")
		}
		delete(p.held, name)
		e.save()
	}
	p.st.Done, p.st.Finished = true, e.clock.Now()
	e.save()
	e.setRunner(nil)
	e.publish(p, nil)
}

// callChunk bounds one round of a callback's retries, so the engine's
// goroutine beats between rounds even when AS is down for a long time.
// repollBound bounds a re-read of the held hooks during a phase.
const (
	callChunk   = 2 * time.Minute
	repollBound = 30 * time.Second
)

// callback sends one result for one hook. Every error but "no longer held"
// is retried, in rounds with backoff, until callbackSafety before the hook's
// timeout: an auth or permission error may be fixed (an agency bound, a
// policy changed) while the hook still waits. The action key is used when
// known, else the instance ID and hook name.
func (e *Engine) callback(ctx context.Context, p *phaseRun, hook string, res asclient.Result, timeout time.Time) error {
	deadline := timeout.Add(-callbackSafety)
	if !deadline.After(e.clock.Now()) {
		// Past our own safety line, but AS may not have timed the hook out
		// yet: one bounded attempt is better than none.
		deadline = e.clock.Now().Add(e.cfg.Cloud.RequestTimeout.D())
	}
	cb := asclient.Callback{
		GroupID:    e.id.GroupID,
		ActionKey:  p.st.Hooks[hook].ActionKey,
		InstanceID: e.id.InstanceID,
		HookName:   hook,
		Result:     res,
	}
	lastKind := ""
	for round := 0; ; round++ {
		e.deps.Beat()
		end := deadline
		if r := e.clock.Now().Add(callChunk); r.Before(end) {
			end = r
		}
		cctx, cancel := clockwork.WithDeadline(ctx, e.clock, end)
		err := e.deps.Hooks.Callback(cctx, cb)
		cancel()
		if err == nil || asclient.IsNoLongerHeld(err) || ctx.Err() != nil {
			return err
		}
		delay := e.retry.Delay(round)
		if !e.clock.Now().Add(delay).Before(deadline) {
			return err
		}
		if kind := errorKind(err); kind != lastKind {
			lastKind = kind
			p.log.Warn().Err(err).Str("hook", hook).Str("result", string(res)).Msg("callback failing; retrying until the hook's deadline")
		}
		if backoff.Sleep(ctx, e.clock, delay) != nil {
			return err
		}
	}
}

// errorKind names an error's class, so a retry loop logs each new kind of
// failure once instead of every attempt.
func errorKind(err error) string {
	var ae *asclient.Error
	if errors.As(err, &ae) {
		return ae.Kind.String() + "/" + ae.Code
	}
	return "other"
}

// env is what scripts see about the phase now. It is called from the
// checks' goroutines, so it reads the snapshot publish keeps under e.mu.
func (e *Engine) env() checks.Env {
	e.mu.Lock()
	defer e.mu.Unlock()
	env := e.curEnv
	env.HookNames = append([]string(nil), env.HookNames...)
	return env
}

// scriptEnv computes the script environment from the engine's goroutine.
func (e *Engine) scriptEnv(p *phaseRun) checks.Env {
	env := checks.Env{Phase: p.name, InstanceID: e.id.InstanceID, GroupID: e.id.GroupID}
	for _, n := range p.hookNames() {
		env.HookNames = append(env.HookNames, n)
		if t := p.st.Hooks[n].Timeout; env.Deadline.IsZero() || t.Before(env.Deadline) {
			env.Deadline = t
		}
	}
	return env
}

// summary is the one-line status: "launch: waiting on 2/3 checks, hook expires 14:05".
func summary(p *phaseRun, cs *checks.PhaseStatus) string {
	var b strings.Builder
	b.WriteString(p.name + ": ")
	switch {
	case p.st.Done:
		fmt.Fprintf(&b, "done, %s", p.st.Result)
		if p.st.Result == "" {
			b.WriteString("no longer held")
		}
		return b.String()
	case p.st.Result != "":
		fmt.Fprintf(&b, "sending %s", p.st.Result)
	case cs != nil:
		total := cs.Passed + cs.Failed + cs.Pending
		fmt.Fprintf(&b, "%d/%d checks passed", cs.Passed, total)
	default:
		b.WriteString("starting checks")
	}
	var first time.Time
	for _, n := range p.hookNames() {
		if t := p.st.Hooks[n].Timeout; first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() {
		fmt.Fprintf(&b, ", hook expires %s", first.Local().Format("15:04:05"))
	}
	return b.String()
}

// publish refreshes the status snapshot served on the control socket.
func (e *Engine) publish(p *phaseRun, runner Runner) {
	ph := &control.Phase{Name: p.name, Started: p.st.Started, Budget: p.budget, Result: p.st.Result, Reason: p.st.Reason, Finished: p.st.Finished}
	for _, name := range sortedKeys(p.st.Hooks) {
		hs := p.st.Hooks[name]
		ph.Hooks = append(ph.Hooks, control.Hook{Name: name, Timeout: hs.Timeout, Extends: hs.Extends, Sent: hs.Sent, Outcome: hs.Outcome})
	}
	var cs *checks.PhaseStatus
	if runner != nil {
		s := runner.Status()
		cs = &s
		ph.Checks = checkStatuses(s)
	}
	line := summary(p, cs)
	env := e.scriptEnv(p)
	e.mu.Lock()
	e.curEnv = env
	changed := e.status.Summary != line
	e.status.State, e.status.Summary, e.status.Updated = p.name, line, e.clock.Now()
	if p.st.Done {
		e.status.State = "idle"
		e.status.Phase = nil
		e.status.History = append(e.status.History, *ph)
	} else {
		e.status.Phase = ph
	}
	e.mu.Unlock()
	if changed && e.deps.Notify != nil {
		e.deps.Notify(line)
	}
}

func checkStatuses(s checks.PhaseStatus) []control.Check {
	out := make([]control.Check, 0, len(s.Checks))
	for _, c := range s.Checks {
		out = append(out, control.Check{Name: c.Name, Type: string(c.Type), State: string(c.State), Attempts: c.Attempts,
			Duration: c.LastDuration, LastOutput: c.LastOutput, LastError: c.LastError})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
