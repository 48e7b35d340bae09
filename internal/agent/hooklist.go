package agent

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
)

// hookList is what the agent knows of its group's lifecycle hooks: which
// phases have hooks, how long launch hooks last, and each hook's type (a
// hook's type never changes). It is re-read every poll.hooks_interval.
type hookList struct {
	api     Hooks
	groupID string
	log     zerolog.Logger
	retry   backoff.Policy
	pace    *pacer               // paces the reads; counts the project's instances after each
	every   func() time.Duration // the wait after a good read: paced, and jittered so a fleet does not read in step
	hooks   []asclient.Hook      // as last read

	known             bool // read at least once
	launch, terminate bool // the group has hooks of the phase
	maxLaunch         time.Duration
	types             map[string]string // hook name → AS hook type

	readAt   time.Time // the last good read
	next     time.Time // when to read it again
	failures int       // reads failed in a row
	lastErr  string    // the kind of the last failure, logged once
	// heldBack is the last read's 429 until the next scheduled read: a
	// read asked for meanwhile (a hook of unknown type) is refused with
	// it rather than sent into the throttle again.
	heldBack error
}

func newHookList(api Hooks, groupID string, log zerolog.Logger, pace *pacer, every func() time.Duration) *hookList {
	return &hookList{api: api, groupID: groupID, log: log, retry: backoff.Default(), pace: pace, every: every, types: map[string]string{}}
}

// maybeRefresh reads the list again when it is due, unless the pacer
// holds calls back after a 429. Without the list the agent still answers
// holds: until it can read it, it assumes both kinds of hook may exist.
func (l *hookList) maybeRefresh(ctx context.Context, now time.Time) {
	if now.Before(l.next) || l.pace.gate(now) > 0 {
		return
	}
	l.read(asclient.Paced(ctx), now) // throttled: not retried, read again at the pace
}

// count has the pacer count the project's instances when that is due:
// after each read of the list (one group listing per read), and until it
// first succeeds. The engine asks after a poll went through, or when it
// has nothing to poll for. The next read is then paced by the new count.
func (l *hookList) count(ctx context.Context, now time.Time) {
	if !l.pace.countDue || l.pace.gate(now) > 0 || ctx.Err() != nil {
		return
	}
	l.pace.learn(asclient.Paced(ctx), l.hooks)
	if !l.readAt.IsZero() && l.failures == 0 {
		l.next = l.readAt.Add(l.every())
	}
}

// read reads the list and sets when to read it next.
func (l *hookList) read(ctx context.Context, now time.Time) {
	l.heldBack = nil
	err := l.refresh(ctx)
	switch {
	case err == nil:
		l.failures, l.lastErr = 0, ""
		l.pace.countDue = true
		l.readAt, l.next = now, now.Add(l.every())
	case ctx.Err() != nil:
	default:
		if kind := errorKind(err); kind != l.lastErr {
			l.lastErr = kind
			l.log.Error().Err(err).Msg("cannot list the group's lifecycle hooks; polling for holds anyway")
		}
		if !l.known {
			l.launch, l.terminate, l.maxLaunch = true, true, time.Hour
		}
		delay := l.retry.Delay(l.failures)
		if asclient.IsThrottled(err) {
			// Not urgent: until the list is read, holds are answered by
			// the phase they must be.
			l.heldBack = err
			delay = max(delay, l.pace.afterThrottle(l.pace.hooks(now)))
		}
		l.next = now.Add(delay)
		l.failures++
	}
}

// refresh reads the group's hook list.
func (l *hookList) refresh(ctx context.Context) error {
	if l.heldBack != nil {
		return l.heldBack
	}
	hooks, err := l.api.ListHooks(ctx, l.groupID)
	if err != nil {
		return err
	}
	l.known, l.launch, l.terminate, l.maxLaunch = true, false, false, 0
	l.hooks = hooks
	for _, h := range hooks {
		l.types[h.Name] = h.Type
		switch phaseOf(h.Type) {
		case PhaseLaunch:
			l.launch = true
			l.maxLaunch = max(l.maxLaunch, h.DefaultTimeout)
		case PhaseTerminate:
			l.terminate = true
		}
	}
	return nil
}

// phaseOf returns the phase that answers the named hook, and false when
// its type is unknown.
func (l *hookList) phaseOf(hook string) (string, bool) {
	p := phaseOf(l.types[hook])
	return p, p != ""
}

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
