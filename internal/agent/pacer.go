package agent

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
)

// Constants of the pace. Every agent of a project shares the project's AS
// request limit (poll.project_rate), and no agent sees the others: each
// learns how many instances the project has and takes its part.
const (
	// idleShare is the part of poll.project_rate that the project's idle
	// agents use together, polls and hook-list reads. A quarter keeps the
	// idle traffic under half the limit even while the agents' instance
	// counts lag a project that doubled since they last read it, and
	// leaves the rest to scale-out waves and callbacks.
	idleShare = 0.25
	// groupsPerPage is how many groups one page of the group listing holds
	// (asclient's page size): each page is one more call per read.
	groupsPerPage = 100
	// shortHookPolls: a terminate hook whose default_timeout holds fewer
	// of the agent's longest idle waits than this may time out into its
	// default result before the agent has even seen it.
	shortHookPolls = 3
	// throttleCut is how much each throttled answer cuts the agent's rate
	// (multiplicative decrease): by four, so that a wave of agents booting
	// into a spent limit spreads its retries over the minutes it needs in
	// two or three 429s each, where halving would take five or six.
	throttleCut = 4
	// maxThrottleFactor bounds the slow-down after throttled answers: the
	// rate falls to 1/16 at most, a launch poll every half minute, so that
	// a booting agent still sees its hold within a minute or so of a wave.
	maxThrottleFactor = 16
	// throttleRecovery is how long the agent's rate takes to climb back by
	// a full rate, linearly (additive increase): from a quarter, 11
	// minutes. A throttled project recovers slowly, without a new burst of
	// 429s; an idle wait is stretched by at most this much.
	throttleRecovery = 15 * time.Minute
	// paceLogChange is how much the idle pace must change for a new log line.
	paceLogChange = 0.2
)

// pacer sets how often the agent polls AS and reads the hook list. The
// idle pace is max(poll.idle_interval, N/budget), where N is the number of
// instances in the project and the budget the idle agents' share of
// poll.project_rate; the hook-list read (with the group listing that counts
// N) slows down in step. Each throttled answer cuts the rate (by
// throttleCut, down to 1/maxThrottleFactor) and holds every poll, read and
// count back for a while (gate); the rate then recovers slowly.
// Retry-After holds them back too. Callbacks are never paced: the engine
// sends them when due (the client retries a throttled one after a short
// back-off), and only polls wait, so callbacks come first in the agent's
// own use of its share. It is used from the engine's goroutine only.
type pacer struct {
	poll       config.Poll
	projectSz  func(ctx context.Context) (asclient.ProjectSize, error)
	throttling func() (uint64, time.Time)
	log        zerolog.Logger
	publish    func(pace, warning string) // into the status
	rand       func() float64

	size      asclient.ProjectSize
	sizeKnown bool
	sizeErr   string // the kind of the last failure to count, logged once
	// countDue is set when the instances are to be counted: after each
	// read of the hook list, and until a count has succeeded once.
	countDue bool
	logged   time.Duration // the idle pace last logged
	warned   string        // the short hooks last warned about

	seen      uint64    // throttled answers counted so far
	factor    float64   // the slow-down as of since (>= 1)
	since     time.Time // when factor was last raised
	notBefore time.Time // no poll before this (Retry-After, or the back-off after a 429)
}

func newPacer(poll config.Poll, deps Deps, log zerolog.Logger, publish func(pace, warning string)) *pacer {
	return &pacer{poll: poll, projectSz: deps.ProjectSize, throttling: deps.Throttling, rand: deps.Rand, log: log, publish: publish,
		factor: 1, countDue: true}
}

// observe takes in the throttled answers since the last look: each one
// cuts the rate by throttleCut.
func (p *pacer) observe(now time.Time) {
	n, notBefore := p.throttling()
	if notBefore.After(p.notBefore) {
		p.notBefore = notBefore
	}
	if n <= p.seen {
		return
	}
	cuts := min(n-p.seen, 8)
	p.seen = n
	p.factor = min(p.slowdown(now)*math.Pow(throttleCut, float64(cuts)), maxThrottleFactor)
	p.since = now
	// No poll, hook-list read or count goes out before the back-off has
	// passed, whichever of them was throttled: the throttle is the
	// project's, not the call's.
	if back := now.Add(p.afterThrottle(stretch(p.poll.LaunchInterval.D(), p.factor))); back.After(p.notBefore) {
		p.notBefore = back
	}
}

// slowdown is the factor the agent's rate is divided by now: the rate
// (1/factor) climbs back by a full rate every throttleRecovery.
func (p *pacer) slowdown(now time.Time) float64 {
	if p.factor <= 1 {
		return 1
	}
	rate := 1/p.factor + float64(now.Sub(p.since))/float64(throttleRecovery)
	return 1 / min(rate, 1)
}

// slowed is the wait for one interval d at the rate the agent has from
// now on: the rate climbs back while it waits, so the wait is the time it
// takes to earn d at that rate, not d times today's slowdown (which, for
// an idle interval of many minutes, would wait hours for a 429 long past).
// It is at most d plus throttleRecovery.
func (p *pacer) slowed(now time.Time, d time.Duration) time.Duration {
	f := p.slowdown(now)
	if f <= 1 {
		return d
	}
	r0, a, need := 1/f, 1/throttleRecovery.Seconds(), d.Seconds()
	full := (1 - r0) / a              // when the rate is whole again
	earned := r0*full + a*full*full/2 // what the climb earns until then
	if need >= earned {
		return seconds(full + need - earned)
	}
	return seconds((math.Sqrt(r0*r0+2*a*need) - r0) / a) // r0 t + a t^2/2 = need
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// scale is how much slower than configured the project's size makes the
// idle pace: 1 until the size is known or while the configured pace fits
// the budget.
func (p *pacer) scale() float64 {
	if !p.sizeKnown || p.size.Instances == 0 {
		return 1
	}
	perRead := 1 + float64((p.size.Groups+groupsPerPage-1)/groupsPerPage) // the hook list and the group pages
	perSecond := 1/p.poll.IdleInterval.D().Seconds() + perRead/p.poll.HooksInterval.D().Seconds()
	return max(1, float64(p.size.Instances)*perSecond/(idleShare*p.poll.ProjectRate))
}

// idle is the wait between two idle polls, before jitter and hold.
func (p *pacer) idle(now time.Time) time.Duration {
	p.observe(now)
	return p.slowed(now, stretch(p.poll.IdleInterval.D(), p.scale()))
}

// hooks is the wait between two reads of the hook list, before jitter
// and hold.
func (p *pacer) hooks(now time.Time) time.Duration {
	p.observe(now)
	return p.slowed(now, stretch(p.poll.HooksInterval.D(), p.scale()))
}

// launch is the wait between two polls while a launch hook may hold the
// instance, and whether throttling slowed it (it is then worth jittering):
// the interval times the slowdown, at most maxThrottleFactor times it. A
// wave of booting agents throttled together backs off this way as far as
// the wave needs, where the climbing rate of slowed would bring them
// back within a minute.
func (p *pacer) launch(now time.Time) (time.Duration, bool) {
	p.observe(now)
	f := p.slowdown(now)
	return stretch(p.poll.LaunchInterval.D(), f), f > 1
}

// afterThrottle is the wait after a throttled poll whose (slowed) pace was
// d: spread over half to one and a half times d, so that the agents
// throttled together do not come back together.
func (p *pacer) afterThrottle(d time.Duration) time.Duration {
	return stretch(d, 0.5+p.rand())
}

// hold keeps a wait (jittered) from ending before Retry-After, or the
// back-off after a 429, allows.
func (p *pacer) hold(now time.Time, d time.Duration) time.Duration {
	p.observe(now)
	return max(d, p.notBefore.Sub(now))
}

// gate is how long a poll, hook-list read or count due now must still wait
// for the back-off (0: it may go). Callbacks never wait for it.
func (p *pacer) gate(now time.Time) time.Duration { return p.hold(now, 0) }

func stretch(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

// learn counts the project's instances, logs the new pace when it
// changed, and checks the terminate hooks' timeouts against it. A failed
// count keeps the last one; a throttled first count is tried again as soon
// as the back-off allows, since until then the pace ignores the project's
// size.
func (p *pacer) learn(ctx context.Context, hooks []asclient.Hook) {
	if p.projectSz != nil {
		size, err := p.projectSz(ctx)
		switch {
		case err == nil:
			p.size, p.sizeKnown, p.sizeErr, p.countDue = size, true, "", false
		case ctx.Err() != nil:
			return
		case asclient.IsThrottled(err):
			p.countDue = !p.sizeKnown
		default:
			p.countDue = false
			if kind := errorKind(err); kind != p.sizeErr {
				p.sizeErr = kind
				p.log.Warn().Err(err).Msg("cannot count the project's instances; pacing the polls by what was known before")
			}
		}
	} else {
		p.countDue = false
	}
	idle := stretch(p.poll.IdleInterval.D(), p.scale())
	if d := float64(idle - p.logged); math.Abs(d) >= paceLogChange*float64(p.logged) {
		p.logged = idle
		p.log.Info().Int("project_instances", p.size.Instances).Float64("project_rate", p.poll.ProjectRate).
			Dur("idle_interval", idle).Msg("idle poll pace set from the project's size")
	}
	p.publish(p.describe(idle), p.checkShortHooks(hooks, idle))
}

// describe is the pace as `asagent status` shows it.
func (p *pacer) describe(idle time.Duration) string {
	if !p.sizeKnown {
		return fmt.Sprintf("idle polls every %s (the project's size is unknown)", idle.Round(time.Second))
	}
	return fmt.Sprintf("idle polls every %s: %d instances in the project share poll.project_rate %g/s",
		idle.Round(time.Second), p.size.Instances, p.poll.ProjectRate)
}

// checkShortHooks returns a warning naming each terminate hook whose
// default_timeout holds fewer than shortHookPolls of the longest idle wait,
// and logs it when the set of such hooks changes (not when only the
// numbers move).
func (p *pacer) checkShortHooks(hooks []asclient.Hook, idle time.Duration) string {
	longest := stretch(idle, 1+p.poll.Jitter)
	var lines, names []string
	for _, h := range hooks {
		if phaseOf(h.Type) != PhaseTerminate || h.DefaultTimeout <= 0 {
			continue
		}
		if polls := float64(h.DefaultTimeout) / float64(longest); polls < shortHookPolls {
			names = append(names, h.Name)
			lines = append(lines, fmt.Sprintf("terminate hook %s: default_timeout %s holds %.1f idle polls (one every %s at most)",
				h.Name, h.DefaultTimeout, polls, longest.Round(time.Second)))
		}
	}
	if len(lines) == 0 {
		p.warned = ""
		return ""
	}
	warning := strings.Join(lines, "; ") + fmt.Sprintf(": it may time out into its default result before the agent sees it; "+
		"give it a default_timeout of at least %s, or raise poll.project_rate if the project's AS limit is higher than %g/s",
		(shortHookPolls*longest).Round(time.Minute), p.poll.ProjectRate)
	if key := strings.Join(names, ","); key != p.warned {
		p.warned = key
		p.log.Warn().Int("project_instances", p.size.Instances).Dur("idle_interval", idle).Msg(warning)
	}
	return warning
}

// setPace publishes the pace and the short-hook warning in the status.
func (e *Engine) setPace(pace, warning string) {
	e.mu.Lock()
	e.status.Pace, e.status.PaceWarning = pace, warning
	e.mu.Unlock()
}
