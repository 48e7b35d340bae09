package agent

import (
	"fmt"
	"sort"
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

// summaryFrame is the one-line status around the checks' count: "launch: "
// and ", hook expires 15:04:05", and whether the count goes between them
// (while the checks run). publish sets it and Status fills in the live
// count, so that the headline of `asagent status` always agrees with the
// table beside it.
type summaryFrame struct {
	head, tail string
	counts     bool
}

// line is the status line with the checks' count from cs.
func (f summaryFrame) line(cs checks.PhaseStatus) string {
	if !f.counts {
		return f.head + f.tail
	}
	return f.head + checkCount(cs) + f.tail
}

// checkCount is "2/3 checks passed", with refused checks counted (they
// are checks the phase waits for) and named: "0/2 checks passed, 1 refused".
func checkCount(cs checks.PhaseStatus) string {
	total := cs.Passed + cs.Failed + cs.Pending + cs.Refused
	s := fmt.Sprintf("%d/%s passed", cs.Passed, plural(total, "check"))
	if cs.Refused > 0 {
		s += fmt.Sprintf(", %d refused", cs.Refused)
	}
	return s
}

// plural is "1 check" or "2 checks".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// summaryFrameOf is the frame of the one-line status:
// "launch: " + "waiting on 2/3 checks" + ", hook expires 14:05".
func summaryFrameOf(p *phaseRun, running bool) summaryFrame {
	f := summaryFrame{head: p.name + ": "}
	switch stage := p.st.stage(); {
	case stage == stageDone && p.st.Result == "":
		f.head += "done, no longer held"
		return f
	case stage == stageDone:
		f.head += "done, " + p.st.Result
		return f
	case stage == stageAnswering:
		f.head += "sending " + p.st.Result
	case running:
		f.counts = true
	default:
		f.head += "starting checks"
	}
	var first time.Time
	for _, n := range p.hookNames() {
		if t := p.st.Hooks[n].Timeout; first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() {
		f.tail = ", hook expires " + first.Local().Format("15:04:05")
	}
	return f
}

// live puts the checks' current status into st, with the headline that
// goes with it. The caller holds no lock.
func (e *Engine) live(st *control.Status, cs checks.PhaseStatus) {
	st.Phase.Checks = checkStatuses(cs)
	e.mu.Lock()
	f := e.frame
	e.mu.Unlock()
	if f.counts {
		st.Summary = f.line(cs)
	}
}

// publish refreshes the status snapshot served on the control socket.
func (p *phaseRun) publish(runner Runner) {
	e := p.e
	ph := &control.PhaseProgress{Name: p.name, Started: p.st.Started, Budget: p.budget, Result: p.st.Result, Reason: p.st.Reason, Finished: p.st.Finished}
	for _, name := range sortedKeys(p.st.Hooks) {
		hs := p.st.Hooks[name]
		ph.Hooks = append(ph.Hooks, control.Hook{Name: name, Timeout: hs.Timeout, Extends: hs.Extends, Sent: hs.Sent, Outcome: hs.Outcome})
	}
	var cs checks.PhaseStatus
	if runner != nil {
		cs = runner.Status()
		ph.Checks = checkStatuses(cs)
	}
	frame := summaryFrameOf(p, runner != nil)
	line := frame.line(cs)
	env := p.scriptEnv()
	e.observer().NearestDeadline(env.Deadline)
	e.mu.Lock()
	e.curEnv = env
	e.frame = frame
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
