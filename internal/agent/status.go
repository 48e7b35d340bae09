package agent

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/control"
)

// env is what scripts see about the phase now. It is called from the
// checks' goroutines, so it reads the snapshot publish keeps under e.mu.
func (e *Engine) env() checks.Env {
	e.mu.Lock()
	defer e.mu.Unlock()
	env := e.curEnv
	env.HookNames = append([]string(nil), env.HookNames...)
	return env
}

// scriptEnv computes the script environment from the engine's goroutine.
func (p *phaseRun) scriptEnv() checks.Env {
	env := checks.Env{Phase: p.name, InstanceID: p.e.id.InstanceID, GroupID: p.e.id.GroupID}
	for _, n := range p.hookNames() {
		env.HookNames = append(env.HookNames, n)
		if t := p.st.Hooks[n].Timeout; env.Deadline.IsZero() || t.Before(env.Deadline) {
			env.Deadline = t
		}
	}
	return env
}

// summary is the one-line status: "launch: waiting on 2/3 checks, hook expires 14:05".
func summary(p *phaseRun, cs *checks.PhaseStatus) string {
	var b strings.Builder
	b.WriteString(p.name + ": ")
	switch stage := p.st.stage(); {
	case stage == stageDone && p.st.Result == "":
		return b.String() + "done, no longer held"
	case stage == stageDone:
		return b.String() + "done, " + p.st.Result
	case stage == stageAnswering:
		b.WriteString("sending " + p.st.Result)
	case cs != nil:
		fmt.Fprintf(&b, "%d/%d checks passed", cs.Passed, cs.Passed+cs.Failed+cs.Pending)
	default:
		b.WriteString("starting checks")
	}
	var first time.Time
	for _, n := range p.hookNames() {
		if t := p.st.Hooks[n].Timeout; first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() {
		fmt.Fprintf(&b, ", hook expires %s", first.Local().Format("15:04:05"))
	}
	return b.String()
}

// publish refreshes the status snapshot served on the control socket.
func (p *phaseRun) publish(runner Runner) {
	e := p.e
	ph := &control.PhaseProgress{Name: p.name, Started: p.st.Started, Budget: p.budget, Result: p.st.Result, Reason: p.st.Reason, Finished: p.st.Finished}
	for _, name := range sortedKeys(p.st.Hooks) {
		hs := p.st.Hooks[name]
		ph.Hooks = append(ph.Hooks, control.Hook{Name: name, Timeout: hs.Timeout, Extends: hs.Extends, Sent: hs.Sent, Outcome: hs.Outcome})
	}
	var cs *checks.PhaseStatus
	if runner != nil {
		s := runner.Status()
		cs = &s
		ph.Checks = checkStatuses(s)
	}
	line := summary(p, cs)
	env := p.scriptEnv()
	e.mu.Lock()
	e.curEnv = env
	changed := e.status.Summary != line
	e.status.State, e.status.Summary, e.status.Updated = p.name, line, e.clock.Now()
	if p.st.stage() == stageDone {
		e.status.State = control.StateIdle
		e.status.Phase = nil
		e.status.History = append(e.status.History, *ph)
	} else {
		e.status.Phase = ph
	}
	e.mu.Unlock()
	if changed && e.deps.Notify != nil {
		e.deps.Notify(line)
	}
}

func checkStatuses(s checks.PhaseStatus) []control.Check {
	out := make([]control.Check, 0, len(s.Checks))
	for _, c := range s.Checks {
		out = append(out, control.Check{Name: c.Name, Type: string(c.Type), State: string(c.State), Attempts: c.Attempts,
			Duration: control.Duration(c.LastDuration), LastOutput: c.LastOutput, LastError: c.LastError})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
