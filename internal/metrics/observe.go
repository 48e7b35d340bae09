package metrics

import (
	"net/http"
	"time"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/cloud"
	"github.com/asagent/asagent/internal/config"
)

// Registry is what the service reports to.
var _ agent.Metrics = (*Registry)(nil)

// The event names the registry counts (docs/events.md); the engine's own
// constants are unexported, the names are the interface.
const (
	evHoldSeen          = "hold_seen"
	evExtendSent        = "extend_sent"
	evExtendFailed      = "extend_failed"
	evResultSent        = "result_sent"
	evResultFailed      = "result_failed"
	evAnsweredElsewhere = "answered_elsewhere"
	evHoldReleased      = "hold_released"
)

// The outcome label of asagent_callbacks_total.
const (
	callbackAccepted = "accepted"
	callbackFailed   = "failed"
	callbackNotHeld  = "not_held"
)

// resultNone is the result label of a phase that ended with no result
// recorded: every hook ended without our answer.
const resultNone = "none"

var (
	phases  = []string{agent.PhaseLaunch, agent.PhaseTerminate}
	results = []string{string(config.Continue), string(config.Abandon)}
	// endings are the (result, how) pairs a finished phase can have.
	endings = [][2]string{
		{resultNone, agent.EndedElsewhere},
		{string(config.Continue), agent.EndedPassed},
		{string(config.Continue), agent.EndedFailed},
		{string(config.Abandon), agent.EndedFailed},
		{string(config.Continue), agent.EndedOverride},
		{string(config.Abandon), agent.EndedOverride},
		{string(config.Continue), agent.EndedTimeout},
		{string(config.Abandon), agent.EndedTimeout},
		{string(config.Continue), agent.EndedElsewhere},
		{string(config.Abandon), agent.EndedElsewhere},
	}
	attemptOutcomes = []string{checks.AttemptPassed, checks.AttemptFailed, checks.AttemptTimeout, checks.AttemptGaveUp, checks.AttemptRefused}
)

// precreate makes every series whose labels are known ahead, at zero.
func (r *Registry) precreate() {
	for _, ph := range phases {
		r.series(NameHoldsSeen, "phase", ph)
		r.series(NameExtends, "phase", ph)
		r.series(NameExtendFailures, "phase", ph)
		for _, res := range results {
			for _, out := range []string{callbackAccepted, callbackFailed, callbackNotHeld} {
				r.series(NameCallbacks, "phase", ph, "result", res, "outcome", out)
			}
		}
		for _, e := range endings {
			r.series(NamePhasesFinished, "phase", ph, "result", e[0], "how", e[1])
		}
		r.byName[NamePhaseDuration].set.GetOrCreatePrometheusHistogramExt(NamePhaseDuration+labelString([]string{"phase", ph}), phaseBuckets)
	}
	for _, op := range cloud.ASOperations() {
		r.series(NameASThrottled, "operation", op)
	}
	r.series(NameCredRefreshes)
	r.series(NameCredFailures)
}

// Event implements agent.Observer: it counts the engine's decisions.
func (r *Registry) Event(ev agent.Event) {
	switch ev.Name {
	case evHoldSeen:
		r.inc(NameHoldsSeen, "phase", ev.Phase)
	case evExtendSent:
		r.inc(NameExtends, "phase", ev.Phase)
	case evExtendFailed:
		r.inc(NameExtendFailures, "phase", ev.Phase)
	case evResultSent:
		r.inc(NameCallbacks, "phase", ev.Phase, "result", ev.Result, "outcome", callbackAccepted)
	case evResultFailed:
		r.inc(NameCallbacks, "phase", ev.Phase, "result", ev.Result, "outcome", callbackFailed)
	case evAnsweredElsewhere:
		if ev.Result != "" { // our result was on its way: the callback found the hook gone
			r.inc(NameCallbacks, "phase", ev.Phase, "result", ev.Result, "outcome", callbackNotHeld)
		}
	case evHoldReleased:
		res := ev.Result
		if res == "" {
			res = resultNone
		}
		r.inc(NamePhasesFinished, "phase", ev.Phase, "result", res, "how", ev.How)
		r.observe(NamePhaseDuration, ev.Duration.Seconds(), phaseBuckets, "phase", ev.Phase)
	}
}

// Polled implements agent.Observer.
func (r *Registry) Polled(at time.Time) {
	r.lastPoll.Store(at.UnixNano())
	r.changed()
}

// NearestDeadline implements agent.Observer.
func (r *Registry) NearestDeadline(at time.Time) {
	ns := int64(0)
	if !at.IsZero() {
		ns = at.UnixNano()
	}
	if r.deadline.Swap(ns) != ns {
		r.changed()
	}
}

// Attempt implements checks.AttemptObserver. The first attempt of a check
// creates its series for every outcome, so that the first failure after a
// pass is counted by rate() and increase() too.
func (r *Registry) Attempt(phase, check, outcome string, took time.Duration) {
	r.mu.Lock()
	if key := [2]string{phase, check}; !r.checks[key] {
		r.checks[key] = true
		for _, o := range attemptOutcomes {
			r.series(NameCheckAttempts, "phase", phase, "check", check, "outcome", o)
		}
	}
	r.mu.Unlock()
	r.inc(NameCheckAttempts, "phase", phase, "check", check, "outcome", outcome)
	r.observe(NameCheckDuration, took.Seconds(), checkBuckets, "phase", phase, "check", check)
}

// ASRequest implements cloud.Observer.
func (r *Registry) ASRequest(op string, status int) {
	r.inc(NameASRequests, "operation", op, "code", statusClass(status))
	if status == http.StatusTooManyRequests {
		r.inc(NameASThrottled, "operation", op)
	}
}

// statusClass is the code label: 2xx..5xx, or error when no answer came.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return string(rune('0'+status/100)) + "xx"
}

// CredentialsFetched implements cloud.Observer.
func (r *Registry) CredentialsFetched(err error) {
	if err != nil {
		r.inc(NameCredFailures)
		return
	}
	r.inc(NameCredRefreshes)
}
