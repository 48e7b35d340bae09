package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// checkLoop is one check of a phase and the goroutine that runs its
// attempts. Its fields after prober are guarded by the phase's mu.
type checkLoop struct {
	key    string
	spec   spec
	prober prober
	log    zerolog.Logger

	st     CheckStatus
	active bool               // its goroutine runs
	cancel context.CancelFunc // stops its goroutine
	done   chan struct{}      // closed when its goroutine has exited; nil before it starts
	prev   <-chan struct{}    // the done of the loop it replaced, awaited before the first attempt
}

// newCheckLoop builds the loop of spec s; the caller holds p.mu.
func (p *Phase) newCheckLoop(key string, s spec) *checkLoop {
	c := &checkLoop{
		key:  key,
		spec: s,
		log:  p.log.With().Str("check", s.check.Name).Logger(),
		st: CheckStatus{
			Name:   s.check.Name,
			Type:   s.check.Type,
			Source: s.check.Source,
			State:  Pending,
		},
	}
	if s.refused != "" {
		c.st.State = Refused
		c.st.LastError = s.refused
		c.log.Warn().Str("reason", s.refused).Msg("drop-in refused")
	} else {
		c.prober = newProber(s, p.opts)
	}
	return c
}

// stop cancels the loop's goroutine, if any, and returns a channel that is
// closed once it has exited. The caller holds p.mu.
func (c *checkLoop) stop() <-chan struct{} {
	if c.cancel != nil {
		c.cancel()
	}
	if c.done == nil {
		return nil
	}
	return c.done
}

// reset makes the check pending again for a new run; the caller holds p.mu.
func (c *checkLoop) reset() {
	if c.spec.refused != "" {
		return
	}
	c.st = CheckStatus{Name: c.st.Name, Type: c.st.Type, Source: c.st.Source, State: Pending}
	c.done, c.cancel, c.active = nil, nil, false
}

// start runs c's goroutine; the caller holds p.mu.
func (p *Phase) start(c *checkLoop) {
	ctx, cancel := context.WithCancel(p.runCtx)
	c.cancel = cancel
	c.done = make(chan struct{})
	c.active = true
	p.wg.Go(func() {
		defer func() {
			cancel()
			p.mu.Lock()
			c.active = false
			close(c.done)
			p.mu.Unlock()
			p.kick()
		}()
		p.loop(ctx, c)
	})
}

// loop runs one check's attempts until it passes, fails, is refused, or ctx
// ends.
func (p *Phase) loop(ctx context.Context, c *checkLoop) {
	if c.prev != nil {
		// The check this one replaced may still be killing its process; a
		// check never runs twice at once.
		select {
		case <-c.prev:
		case <-ctx.Done():
			return
		}
	}
	chk := c.spec.check
	if d := chk.InitialDelay.D(); d > 0 && !p.sleep(ctx, d, nil) {
		return
	}
	var s streak
	for n := 1; ; n++ {
		var wake <-chan struct{}
		if w, ok := c.prober.(waker); ok {
			wake = w.wake()
		}
		out := p.attempt(ctx, c, n)
		if ctx.Err() != nil {
			return
		}
		if st, why := s.judge(out, chk.SuccessThreshold, chk.FailureThreshold); st != Pending {
			p.settle(c, st, why)
			return
		}
		if !p.sleep(ctx, chk.Interval.D(), wake) {
			return
		}
	}
}

// streak is a check's run of passes or failures in a row.
type streak struct{ passes, fails int }

// judge counts an attempt's outcome into the streak and maps it to the
// check's state: Passed after successes passes in a row, Failed when it gave
// up or after failures attempts in a row did not pass (0: never), Refused
// for a drop-in that may no longer run, and Pending to try again. why says
// what ended the check.
func (s *streak) judge(out outcome, successes, failures int) (st State, why string) {
	switch out.kind {
	case pass:
		s.passes, s.fails = s.passes+1, 0
		if s.passes >= successes {
			return Passed, ""
		}
	case giveUp:
		return Failed, errString(out.err)
	case refuse:
		return Refused, errString(out.err)
	default:
		s.passes, s.fails = 0, s.fails+1
		if failures > 0 && s.fails >= failures {
			if s.fails == 1 {
				return Failed, "1 attempt did not pass; last: " + errString(out.err)
			}
			return Failed, fmt.Sprintf("%s in a row did not pass; last: %s", plural(s.fails, "attempt"), errString(out.err))
		}
	}
	return Pending, ""
}

// sleep waits d on the phase's clock, or until wake is closed; false when
// ctx ended first.
func (p *Phase) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt runs attempt n of c and records it in c's status.
func (p *Phase) attempt(ctx context.Context, c *checkLoop, n int) outcome {
	env := Env{}
	if p.opts.Env != nil {
		env = p.opts.Env()
	}
	if env.Phase == "" {
		env.Phase = p.name
	}
	p.mu.Lock()
	c.st.Running = true
	c.st.Attempts = n
	c.st.LastAttempt = p.clock.Now()
	p.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, c.spec.check.Timeout.D())
	start := time.Now()
	out := c.prober.probe(actx, attempt{n: n, env: env, log: c.log.With().Int("attempt", n).Logger(), grace: p.opts.KillGrace})
	took := time.Since(start)
	cancel()

	p.mu.Lock()
	c.st.Running = false
	c.st.LastDuration = took
	c.st.LastOutput = out.output
	c.st.OutputBytes = out.outputBytes
	c.st.LastError = errString(out.err)
	p.mu.Unlock()
	if ctx.Err() == nil {
		c.log.Debug().Int("attempt", n).Stringer("took", took).Bool("passed", out.kind == pass).Str("err", errString(out.err)).Msg("attempt")
		if p.opts.Attempts != nil {
			p.opts.Attempts.Attempt(p.name, c.spec.check.Name, out.name(actx), took)
		}
	}
	return out
}

// name is what the attempt came to, as an AttemptObserver is told; actx is
// the attempt's own context, whose deadline is its timeout.
func (o outcome) name(actx context.Context) string {
	switch {
	case o.kind == pass:
		return AttemptPassed
	case o.kind == giveUp:
		return AttemptGaveUp
	case o.kind == refuse:
		return AttemptRefused
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return AttemptTimeout
	}
	return AttemptFailed
}

// settle records a check's final state for this run.
func (p *Phase) settle(c *checkLoop, s State, why string) {
	p.mu.Lock()
	c.st.State = s
	if why != "" {
		c.st.LastError = why
	}
	attempts := c.st.Attempts
	p.mu.Unlock()
	switch s {
	case Passed:
		c.log.Info().Str("event", "check_passed").Int("attempts", attempts).Msg("check passed")
	case Refused:
		c.log.Warn().Str("event", "check_refused").Str("reason", why).Msg("drop-in refused")
	default:
		c.log.Warn().Str("event", "check_failed").Int("attempts", attempts).Str("reason", why).Msg("check failed")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
