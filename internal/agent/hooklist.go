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
	every   func() time.Duration // the wait after a good read, jittered so a fleet does not read in step

	known             bool // read at least once
	launch, terminate bool // the group has hooks of the phase
	maxLaunch         time.Duration
	types             map[string]string // hook name → AS hook type

	next     time.Time // when to read it again
	failures int       // reads failed in a row
	lastErr  string    // the kind of the last failure, logged once
}

func newHookList(api Hooks, groupID string, log zerolog.Logger, every func() time.Duration) *hookList {
	return &hookList{api: api, groupID: groupID, log: log, retry: backoff.Default(), every: every, types: map[string]string{}}
}

// maybeRefresh reads the list again when it is due. Without the list the agent still answers holds:
// until it can read it, it assumes both kinds of hook may exist.
func (l *hookList) maybeRefresh(ctx context.Context, now time.Time) {
	if now.Before(l.next) {
		return
	}
	err := l.refresh(ctx)
	switch {
	case err == nil:
		l.failures, l.lastErr = 0, ""
		l.next = now.Add(l.every())
	case ctx.Err() != nil:
	default:
		if kind := errorKind(err); kind != l.lastErr {
			l.lastErr = kind
			l.log.Error().Err(err).Msg("cannot list the group's lifecycle hooks; polling for holds anyway")
		}
		if !l.known {
			l.launch, l.terminate, l.maxLaunch = true, true, time.Hour
		}
		l.next = now.Add(l.retry.Delay(l.failures))
		l.failures++
	}
}

// refresh reads the group's hook list.
func (l *hookList) refresh(ctx context.Context) error {
	hooks, err := l.api.ListHooks(ctx, l.groupID)
	if err != nil {
		return err
	}
	l.known, l.launch, l.terminate, l.maxLaunch = true, false, false, 0
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
