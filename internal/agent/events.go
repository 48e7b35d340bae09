package agent

import "github.com/rs/zerolog"

// The events: every decision the agent makes is one log line whose event
// field is one of these, so a log pipeline can count and alert on them
// without parsing messages. docs/events.md lists them with their fields;
// renaming one breaks someone's alert.
const (
	evHoldSeen          = "hold_seen"          // a hook holds the instance
	evPhaseStarted      = "phase_started"      // the phase's checks start
	evPhaseResumed      = "phase_resumed"      // a restart found the result recorded: it is sent again
	evPhaseAfresh       = "phase_afresh"       // a new hold of a finished phase starts it again
	evExtendSent        = "extend_sent"        // AS accepted an EXTEND
	evExtendFailed      = "extend_failed"      // an EXTEND failed; it is tried again
	evResultDecided     = "result_decided"     // the result is recorded, before any callback
	evResultSent        = "result_sent"        // AS accepted the result for a hook
	evResultFailed      = "result_failed"      // AS did not accept the result before the hook's timeout
	evAnsweredElsewhere = "answered_elsewhere" // the hook stopped holding before our answer
	evHoldReleased      = "hold_released"      // no hook of the phase waits for us any more
	evPhaseStopped      = "phase_stopped"      // the agent stopped with the phase pending
)

// event starts the log line of one decision about the phase, with the
// fields every event carries: the phase (and instance and group) from the
// logger; the hook and its deadline when it is about one hook; the result
// and reason once one is recorded. The observer (metrics) is told of it too.
func (p *phaseRun) event(level zerolog.Level, name, hook string) *zerolog.Event {
	p.observe(name, hook)
	ev := p.log.WithLevel(level).Str("event", name)
	if hs := p.st.Hooks[hook]; hs != nil {
		ev = ev.Str("hook", hook).Time("deadline", hs.Timeout)
	}
	if res := p.st.resultFor(hook); res != "" {
		ev = ev.Str("result", res).Str("reason", p.st.Reason)
	}
	return ev
}
