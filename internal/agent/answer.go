package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/config"
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

// stopGrace bounds how long a stop waits for results still being sent:
// well within the unit's TimeoutStopSec (150 s). A result not accepted by
// then stays recorded, and the next start resends it.
const stopGrace = 20 * time.Second

// decision is a result for hooks of the phase and why it was chosen.
type decision struct {
	result   config.Result
	reason   string
	override bool // an operator's (asagent complete)
}

// record writes d as the phase's result, before any callback carries it:
// every way a phase gets its answer (the checks, signal fail, complete,
// on_stop) goes through here, then finish sends it.
func (p *phaseRun) record(d decision) {
	p.st.Result, p.st.Reason = string(d.result), d.reason
	p.st.Override = p.st.Override || d.override
	level := zerolog.InfoLevel
	if d.result != config.Continue {
		level = zerolog.WarnLevel
	}
	p.event(level, evResultDecided, "").Bool("override", p.st.Override).Msg("phase decided")
	p.e.save()
}

// recordFor writes res as the answer of one hook alone (asagent complete
// --hook), before its callback; tend sends it. When it was the last hook
// waiting, the phase is decided the same way.
func (p *phaseRun) recordFor(hook string, res config.Result) {
	p.st.Hooks[hook].Result = string(res)
	p.event(zerolog.WarnLevel, evResultDecided, hook).Bool("override", true).Msg("operator override for one hook")
	for name := range p.held {
		if p.st.Hooks[name].Result == "" {
			p.e.save()
			return
		}
	}
	p.record(decision{result: res, reason: "operator override (asagent complete --hook)", override: true})
}

// sendOwn sends one hook its own recorded result, for at most one round;
// on failure tend tries again after a backoff.
func (p *phaseRun) sendOwn(ctx context.Context, hook string) error {
	res := asclient.Result(p.st.Hooks[hook].Result)
	err := p.e.callback(ctx, p.callbackFor(hook, res), p.st.Hooks[hook].Timeout, extendRound)
	if err != nil && !noLongerHeld(err) && ctx.Err() == nil {
		p.event(zerolog.ErrorLevel, evResultFailed, hook).Err(err).Msg("result not accepted yet; will try again")
		p.extendAfter[hook] = p.e.clock.Now().Add(p.e.retry.Delay(p.extendFails[hook]))
		p.extendFails[hook]++
		return err
	}
	p.delivered(sent{hook, res, err}, ctx.Err() != nil)
	return err
}

// sent is what one callback carrying a result came to.
type sent struct {
	hook string
	res  asclient.Result
	err  error
}

// finish sends each hook of the phase its recorded result, all hooks at
// once, so one hook whose callback is refused never delays another. It
// waits for every answer, but a stop cuts it short after stopGrace: what
// was not accepted stays recorded for the next start to resend.
func (p *phaseRun) finish(ctx context.Context) {
	p.publish(nil) // "sending CONTINUE"
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, func() { p.e.clock.AfterFunc(stopGrace, cancel) })()
	results := make(chan sent)
	pending := 0
	for _, name := range p.byDeadline() {
		if res := asclient.Result(p.st.resultFor(name)); res != "" {
			pending++
			cb, timeout := p.callbackFor(name, res), p.st.Hooks[name].Timeout
			go func() { results <- sent{name, res, p.e.callback(sendCtx, cb, timeout, 0)} }()
		}
	}
	for pending > 0 {
		p.e.deps.Beat()
		t := p.e.clock.NewTimer(beatEvery)
		select {
		case r := <-results:
			pending--
			p.delivered(r, sendCtx.Err() != nil)
		case <-t.Chan():
		}
		t.Stop()
	}
	if !p.allAnswered() {
		p.log.Info().Msg("stopped before every result was accepted; the next start resends them")
		return
	}
	p.st.Done, p.st.Finished = true, p.e.clock.Now()
	p.e.save()
	p.event(zerolog.InfoLevel, evHoldReleased, "").Msg("phase finished: no hook of the phase waits for us")
	p.e.setRunner(nil)
	p.publish(nil)
}

// delivered records what a callback carrying a result came to. cut says
// the send was cut short by a stop: the result stays recorded, unsent.
func (p *phaseRun) delivered(r sent, cut bool) {
	hs := p.st.Hooks[r.hook]
	switch {
	case r.err == nil:
		hs.Sent, hs.SentAt = string(r.res), p.e.clock.Now()
		p.event(zerolog.InfoLevel, evResultSent, r.hook).Msg("answered the hook")
	case noLongerHeld(r.err):
		p.notHeld(r.hook, "result refused")
	case cut:
		p.log.Warn().Err(r.err).Str("hook", r.hook).Str("result", string(r.res)).Msg("stopping before AS accepted the result")
		return
	default:
		hs.Outcome = outcomeMissed
		p.event(zerolog.ErrorLevel, evResultFailed, r.hook).Err(r.err).Msg("could not answer the hook before its timeout; AS applies its default result")
	}
	delete(p.held, r.hook)
	p.e.save()
}

// allAnswered reports whether no held hook still waits for our answer.
func (p *phaseRun) allAnswered() bool {
	for name := range p.held {
		if !p.st.Hooks[name].answered() {
			return false
		}
	}
	return true
}

// callbackFor names the hook by its action key when known, else by the
// instance ID and hook name.
func (p *phaseRun) callbackFor(hook string, res asclient.Result) asclient.Callback {
	return asclient.Callback{
		GroupID:    p.e.id.GroupID,
		ActionKey:  p.st.Hooks[hook].ActionKey,
		InstanceID: p.e.id.InstanceID,
		HookName:   hook,
		Result:     res,
	}
}

// callback sends cb for a hook that times out at timeout. Every error but
// "no longer held" is retried with backoff until callbackSafety before the
// timeout (an auth or permission error may be fixed, an agency bound or a
// policy changed, while the hook still waits), or for at most round when
// round > 0. It only calls AS: the caller records what it came to, so it
// may run on any goroutine.
func (e *Engine) callback(ctx context.Context, cb asclient.Callback, timeout time.Time, round time.Duration) error {
	deadline := timeout.Add(-callbackSafety)
	if !deadline.After(e.clock.Now()) {
		// Past our own safety line, but AS may not have timed the hook out
		// yet: one bounded attempt is better than none.
		deadline = e.clock.Now().Add(e.cfg.Cloud.RequestTimeout.D())
	}
	if round > 0 {
		deadline = earlier(deadline, e.clock.Now().Add(round))
	}
	log := e.log.With().Str("hook", cb.HookName).Str("result", string(cb.Result)).Logger()
	lastKind := ""
	for attempt := 0; ; attempt++ {
		cctx, cancel := clockwork.WithDeadline(ctx, e.clock, deadline)
		err := e.deps.Hooks.Callback(cctx, cb)
		cancel()
		code, unknown := asclient.IsUnknownRefusal(err)
		if unknown {
			err = e.explainRefusal(ctx, cb.HookName, code, err)
		}
		// A refusal of a hook that still holds is not transient: within a
		// round (an EXTEND) it is not retried at once; the caller's backoff
		// paces the next try.
		if err == nil || noLongerHeld(err) || ctx.Err() != nil || (unknown && round > 0) {
			return err
		}
		delay := e.retry.Delay(attempt)
		if !e.clock.Now().Add(delay).Before(deadline) {
			return err
		}
		if kind := errorKind(err); kind != lastKind {
			lastKind = kind
			log.Warn().Err(err).Msg("callback failing; retrying until the hook's deadline")
		}
		if backoff.Sleep(ctx, e.clock, delay) != nil {
			return err
		}
	}
}

// errNotListed marks a refusal that AS explains by no longer listing the
// hook as held.
var errNotListed = errors.New("AS no longer lists the hook as held")

// noLongerHeld reports an answer meaning the hook no longer holds the
// instance: AS.7042, or a refusal explained by the held-hook list.
func noLongerHeld(err error) bool {
	return asclient.IsNoLongerHeld(err) || errors.Is(err, errNotListed)
}

// explainRefusal asks AS whether a hook whose callback was refused with a
// code we do not know (an EXTEND cap, another code for "not held") still
// holds the instance. If the list no longer shows it, the refusal means
// "no longer held"; if it does, or the list cannot be read, the refusal
// stays an error that callback retries with backoff, logging the code once.
func (e *Engine) explainRefusal(ctx context.Context, hook, code string, refusal error) error {
	lctx, cancel := clockwork.WithTimeout(ctx, e.clock, repollBound)
	defer cancel()
	held, err := e.deps.Hooks.HeldHooks(lctx, e.id.GroupID, e.id.InstanceID)
	if err != nil {
		return refusal
	}
	for _, h := range held {
		if h.HookName == hook {
			return refusal
		}
	}
	return fmt.Errorf("%w (the callback was refused with %s): %w", errNotListed, code, refusal)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
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
