package agent

import (
	"context"
	"fmt"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/control"
)

// ctlRequest is a control-socket request for the engine's goroutine.
type ctlRequest struct {
	signal string // control.SignalFail or control.SignalExtend; "" for complete
	result string // complete: CONTINUE or ABANDON
	hook   string // complete: one hook, or "" for all
	reply  chan error
}

// Status implements control.Handler.
func (e *Engine) Status() control.Status {
	e.mu.Lock()
	st := e.status
	runner := e.runner
	if st.Phase != nil {
		ph := *st.Phase
		st.Phase = &ph
	}
	st.History = append([]control.Phase(nil), st.History...)
	e.mu.Unlock()
	if runner != nil && st.Phase != nil {
		st.Phase.Checks = checkStatuses(runner.Status()) // live, not as of the last publish
	}
	return st
}

// Signal implements control.Handler: ready and drained pass signal checks
// (and are remembered for a phase that has not started yet); fail and extend
// act on the phase in progress.
func (e *Engine) Signal(ctx context.Context, name string) error {
	switch name {
	case control.SignalReady, control.SignalDrained:
		return e.deps.Signals.Raise(name)
	case control.SignalFail, control.SignalExtend:
		return e.request(ctx, ctlRequest{signal: name})
	}
	return &control.UserError{Msg: fmt.Sprintf("unknown signal %q: want ready, drained, fail or extend", name)}
}

// Complete implements control.Handler: an operator's override, recorded in
// the state as such.
func (e *Engine) Complete(ctx context.Context, result, hook string) error {
	if result != string(config.Continue) && result != string(config.Abandon) {
		return &control.UserError{Msg: fmt.Sprintf("result %q: want CONTINUE or ABANDON", result)}
	}
	return e.request(ctx, ctlRequest{result: result, hook: hook})
}

// errNotRunning answers control requests when the engine is not running.
var errNotRunning = &control.UserError{Msg: "the agent's engine is not running"}

// request hands req to the engine's goroutine and waits for its answer, as
// long as the caller waits and the engine runs. The engine takes requests
// between its steps; one that is busy with a slow API call answers later.
func (e *Engine) request(ctx context.Context, req ctlRequest) error {
	req.reply = make(chan error, 1)
	select {
	case e.ctl <- req:
	case <-e.stopped:
		return errNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-e.stopped:
		return errNotRunning
	case <-ctx.Done():
		// The engine will still act on it; the caller just stopped waiting.
		return fmt.Errorf("no answer yet (the agent is busy with an API call); the request stands: %w", ctx.Err())
	}
}

// handle acts on a control request during a phase. It reports whether the
// phase now has its result.
func (e *Engine) handle(ctx context.Context, p *phaseRun, req ctlRequest) (decided bool) {
	switch {
	case req.signal == control.SignalFail:
		e.setResult(p, p.cfg.OnFailure, "the application signalled fail")
		req.reply <- nil
		return true
	case req.signal == control.SignalExtend:
		e.extendDue(ctx, p, true)
		req.reply <- nil
		return false
	case req.hook == "":
		p.st.Override = true
		e.setResult(p, config.Result(req.result), "operator override (asagent complete)")
		req.reply <- nil
		return true
	}
	hs, held := p.st.Hooks[req.hook], p.held[req.hook].HookName != ""
	if !held {
		req.reply <- &control.UserError{Msg: fmt.Sprintf("hook %q does not hold this instance in the %s phase", req.hook, p.name)}
		return false
	}
	p.log.Warn().Str("hook", req.hook).Str("result", req.result).Msg("operator override for one hook")
	err := e.callback(context.WithoutCancel(ctx), p, req.hook, asclient.Result(req.result), hs.Timeout)
	if err == nil || asclient.IsNoLongerHeld(err) {
		hs.Sent, hs.SentAt = req.result, e.clock.Now()
		if err != nil {
			hs.Sent, hs.Outcome = "", outcomeNotHeld
		}
		delete(p.held, req.hook)
		e.save()
	}
	req.reply <- err
	if len(p.held) == 0 {
		p.st.Override = true
		p.st.Result, p.st.Reason = req.result, "operator override (asagent complete --hook)"
		e.save()
		return true
	}
	return false
}

func (e *Engine) setRunner(r Runner) {
	e.mu.Lock()
	e.runner = r
	e.mu.Unlock()
}

// setStatus sets the agent-level state and summary outside a phase.
func (e *Engine) setStatus(state, line string) {
	e.mu.Lock()
	changed := e.status.Summary != line
	e.status.State, e.status.Summary, e.status.Updated = state, line, e.clock.Now()
	e.status.Phase = nil
	e.mu.Unlock()
	if changed && e.deps.Notify != nil {
		e.deps.Notify(line)
	}
}

var _ control.Handler = (*Engine)(nil)
var _ Runner = (*checks.Phase)(nil)
