package agent

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
)

// Bounds of the API calls made while a phase is pending. Each is short, so
// a slow or failing AS never holds up a verdict or a due EXTEND for long:
// a failed EXTEND is tried again from the phase's loop, with backoff.
const (
	extendRound = 20 * time.Second // one EXTEND, the client's own retries included
	repollBound = 30 * time.Second // one re-read of the held hooks
)

// tend does what is due for the held hooks: send a hook its own recorded
// result (asagent complete --hook), and EXTEND the others before they time
// out. It reports whether no hook of the phase is left holding.
func (p *phaseRun) tend(ctx context.Context, force bool) bool {
	for _, name := range p.byDeadline() {
		if p.st.Hooks[name].Result != "" && !p.e.clock.Now().Before(p.extendAfter[name]) {
			_ = p.sendOwn(ctx, name) // logged; tried again from here after a backoff
		}
	}
	p.extendDue(ctx, force)
	return len(p.held) == 0
}

// nextExtend is when the first hook needs attention: its own result to
// send, or an EXTEND at its timeout less the margin. Hooks whose timeout lies
// beyond the phase's budget need no EXTEND: the phase ends before they would
// time out. ok is false when no hook needs anything.
func (p *phaseRun) nextExtend() (next time.Time, ok bool) {
	margin := p.e.cfg.Extend.Margin.D()
	for name := range p.held {
		due := p.st.Hooks[name].Timeout.Add(-margin)
		if p.st.Hooks[name].Result != "" {
			due = time.Time{} // now, or when the last failure allows
		} else if !due.Before(p.budget) {
			continue
		}
		if after := p.extendAfter[name]; after.After(due) {
			due = after
		}
		if !ok || due.Before(next) {
			next, ok = due, true
		}
	}
	return next, ok
}

// untilNextExtend is the wait until the next EXTEND, at most limit.
func (p *phaseRun) untilNextExtend(limit time.Duration) time.Duration {
	if next, ok := p.nextExtend(); ok {
		return min(next.Sub(p.e.clock.Now()), limit)
	}
	return limit
}

// extendDue sends EXTEND to every hook that is due (all of them when force),
// then re-reads the timeouts: AS, not arithmetic, says how far they moved.
func (p *phaseRun) extendDue(ctx context.Context, force bool) {
	now := p.e.clock.Now()
	margin := p.e.cfg.Extend.Margin.D()
	sent := map[string]time.Time{}
	tried := false
	for _, name := range p.byDeadline() {
		hs := p.st.Hooks[name]
		due := hs.Timeout.Add(-margin)
		if hs.Result != "" {
			continue // answered by its own result: never EXTEND after it
		}
		if !force && (now.Before(due) || !due.Before(p.budget) || now.Before(p.extendAfter[name])) {
			continue
		}
		tried = true
		err := p.e.callback(ctx, p.callbackFor(name, asclient.Extend), hs.Timeout, extendRound)
		switch {
		case err == nil:
			if p.extendFails[name] > 0 {
				p.log.Info().Str("hook", name).Int("failures", p.extendFails[name]).Msg("EXTEND accepted again")
			}
			hs.Extends++
			sent[name] = hs.Timeout
			p.extendFails[name] = 0
			p.event(zerolog.InfoLevel, evExtendSent, name).Int("extends", hs.Extends).Msg("sent EXTEND")
		case noLongerHeld(err):
			p.notHeld(name, "EXTEND refused")
		default:
			if p.extendFails[name] == 0 {
				p.event(zerolog.ErrorLevel, evExtendFailed, name).Err(err).Msg("EXTEND failed; will try again with backoff")
			}
			p.extendAfter[name] = p.e.clock.Now().Add(p.e.retry.Delay(p.extendFails[name]))
			p.extendFails[name]++
		}
	}
	if len(sent) == 0 {
		if tried {
			p.e.save()
		}
		return
	}
	// The re-read may take at most half the margin: the next EXTEND (an
	// EXTEND from now at the earliest) keeps the other half.
	p.repoll(ctx, min(repollBound, margin/2))
	for name, before := range sent {
		_, stillHeld := p.held[name]
		if hs := p.st.Hooks[name]; stillHeld && !hs.Timeout.After(before) {
			p.log.Warn().Str("hook", name).Time("timeout", hs.Timeout).Msg("EXTEND was accepted but the timeout did not move")
			p.extendAfter[name] = now.Add(margin / 2)
		}
	}
	p.e.save()
}

// notHeld records that a hook stopped holding the instance before we
// answered it.
func (p *phaseRun) notHeld(name, why string) {
	delete(p.held, name)
	p.st.Hooks[name].Outcome = outcomeNotHeld
	p.event(zerolog.WarnLevel, evAnsweredElsewhere, name).Msg(why + ": " + outcomeNotHeld)
}

// repoll re-reads the phase's held hooks. It reports false when AS could not
// be asked (the phase goes on with what it knew).
func (p *phaseRun) repoll(ctx context.Context, bound time.Duration) bool {
	rctx, cancel := clockwork.WithTimeout(ctx, p.e.clock, bound)
	defer cancel()
	held, err := p.e.heldByPhase(rctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn().Err(err).Msg("cannot re-read held hooks")
		}
		return false
	}
	p.updateHeld(held[p.name])
	p.e.save()
	return true
}

// updateHeld takes a fresh list of this phase's held hooks: it records new
// hooks and timeouts, and notes the hooks that no longer hold the instance.
func (p *phaseRun) updateHeld(held []asclient.HeldHook) {
	listed := map[string]bool{}
	for _, h := range held {
		listed[h.HookName] = true
		hs := p.st.Hooks[h.HookName]
		seen := hs == nil
		if seen {
			hs = &HookState{}
			p.st.Hooks[h.HookName] = hs
		}
		if hs.answered() {
			continue // AS may list it a little longer
		}
		hs.ActionKey = h.ActionKey
		p.readTimeout(h, hs)
		p.held[h.HookName] = h
		if seen {
			p.event(zerolog.InfoLevel, evHoldSeen, h.HookName).Msg("a lifecycle hook holds the instance")
		}
	}
	for name := range p.held {
		if !listed[name] && !p.st.Hooks[name].answered() {
			p.notHeld(name, "the hook stopped holding the instance before we answered")
		}
		if !listed[name] {
			delete(p.held, name)
		}
	}
}

// readTimeout records the hook's timeout as AS lists it, on this
// instance's clock: AS's timestamp less the estimated offset between the
// clocks. Converted once here, every comparison (EXTEND due, callback
// deadline) and the deadline scripts see are on the clock they run on, so
// an instance clock behind AS's (first boot, before NTP) does not EXTEND
// after the hook has timed out.
func (p *phaseRun) readTimeout(h asclient.HeldHook, hs *HookState) {
	deadline, err := h.Deadline()
	switch {
	case err == nil:
		off, _ := p.e.deps.ClockOffset()
		hs.Timeout = deadline.Add(-off)
	case hs.Timeout.IsZero():
		// An unreadable timeout is an unknown deadline, not none: treat it
		// as due now so the agent extends once at once. Since the re-read
		// timeout then does not move, further EXTENDs are held back (see
		// extendDue) rather than sent in a loop.
		p.log.Error().Err(err).Str("hook", h.HookName).Msg("unreadable hook timeout; extending at once to be safe")
		hs.Timeout = p.e.clock.Now()
	default:
		p.log.Error().Err(err).Str("hook", h.HookName).Time("kept", hs.Timeout).Msg("unreadable hook timeout; keeping the last one read")
	}
}
