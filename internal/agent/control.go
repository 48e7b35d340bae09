package agent

import (
	"context"
	"fmt"
	"time"

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
	st.History = append([]control.PhaseProgress(nil), st.History...)
	e.mu.Unlock()
	if off, ok := e.deps.ClockOffset(); ok {
		st.ASClockOffset = off.Round(time.Second).String()
	}
	if runner != nil && st.Phase != nil {
		e.live(&st, runner.Status()) // live, not as of the last publish
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
// phase is over: decided, or no hook left to answer.
func (p *phaseRun) handle(ctx context.Context, req ctlRequest) (over bool) {
	switch {
	case req.signal == control.SignalFail:
		p.record(decision{result: p.cfg.OnFailure, reason: "the application signalled fail"})
		req.reply <- nil
		return true
	case req.signal == control.SignalExtend:
		p.extendDue(ctx, true)
		req.reply <- nil
		return len(p.held) == 0
	case req.hook == "":
		p.record(decision{result: config.Result(req.result), reason: "operator override (asagent complete)", override: true})
		req.reply <- nil
		return true
	}
	if _, held := p.held[req.hook]; !held || p.st.Hooks[req.hook].answered() {
		req.reply <- &control.UserError{Msg: fmt.Sprintf("hook %q does not hold this instance in the %s phase", req.hook, p.name)}
		return false
	}
	p.recordFor(req.hook, config.Result(req.result))
	if p.st.stage() == stageAnswering {
		req.reply <- nil // the last hook waiting: finish sends it with the phase's result
		return true
	}
	err := p.sendOwn(ctx, req.hook)
	switch {
	case noLongerHeld(err):
		err = nil // recorded as no longer held; status shows it
	case err != nil:
		err = fmt.Errorf("result recorded, not accepted by AS yet; the agent keeps sending it: %w", err)
	}
	req.reply <- err
	return len(p.held) == 0
}

var _ control.Handler = (*Engine)(nil)
var _ Runner = (*checks.Phase)(nil)
