package checks

import (
	"context"
	"fmt"
	"strings"
)

// ending is what asks for the phase's verdict.
type ending int

const (
	waiting      ending = iota // Run, while it may wait for more attempts
	budgetSpent                // Run, at the end of max_wait
	stopped                    // Run, when its context ended
	attemptsDone               // RunOnce, after its attempts
)

// decideNow is verdict for an ending that always decides.
func (p *Phase) decideNow(ctx context.Context, end ending) Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, _ := p.verdict(ctx, end)
	return v
}

// verdict decides the phase from its checks' states, without starting any.
// A failed check fails the phase, and it passes once every check it has has
// passed and nothing blocks it (see blocked). Otherwise it is undecided
// while Run may wait, fails when max_wait is spent (naming the checks still
// pending), and is Pending when Run is stopped or RunOnce has made its
// attempts (saying why). The caller holds p.mu.
func (p *Phase) verdict(ctx context.Context, end ending) (Verdict, bool) {
	if end == stopped {
		return Verdict{State: Pending, Reason: "stopped: " + errString(ctx.Err())}, true
	}
	passed := 0
	var pending []string
	for _, c := range p.loops {
		switch c.st.State {
		case Failed:
			return Verdict{State: Failed, Failed: c.st.Name, Reason: c.st.Name + ": " + c.st.LastError}, true
		case Passed:
			passed++
		case Pending:
			pending = append(pending, c.st.Name)
		}
	}
	why := p.blocked()
	switch {
	case end == budgetSpent:
		v := Verdict{State: Failed, Reason: fmt.Sprintf("max_wait %s spent", p.cfg.MaxWait.D())}
		switch {
		case len(pending) > 0:
			v.Failed = pending[0]
			v.Reason += "; still pending: " + strings.Join(pending, ", ")
		case why != "":
			v.Reason += "; " + why
		}
		return v, true
	case len(pending) == 0 && why == "":
		switch passed {
		case 0:
			return Verdict{State: Passed, Reason: "no checks to run"}, true
		case 1:
			return Verdict{State: Passed, Reason: "its only check passed"}, true
		}
		return Verdict{State: Passed, Reason: fmt.Sprintf("all %d checks passed", passed)}, true
	case end == attemptsDone:
		v := Verdict{State: Pending, Reason: "not every check passed its one attempt"}
		if why != "" {
			v.Reason = why
		}
		if ctx.Err() != nil {
			v.Reason = "stopped: " + ctx.Err().Error()
		}
		return v, true
	}
	return Verdict{}, false
}

// blocked says why the phase cannot pass although its runnable checks may
// have: a refused drop-in (unsafe owner or mode, not a regular file, a
// duplicate name), or a drop-in that did not load (a YAML file refused,
// unreadable or that does not parse, a scripts directory that is not
// trusted or cannot be read), is a check the user meant to run that did
// not run, and a CONTINUE on the rest would put an unchecked instance into
// service. Empty when nothing blocks. Called with p.mu held.
func (p *Phase) blocked() string {
	var refused, why []string
	runnable := 0
	for _, c := range p.loops {
		if c.st.State == Refused {
			refused = append(refused, c.st.Name)
		} else {
			runnable++
		}
	}
	if len(refused) > 0 {
		why = append(why, "refused, so not run: "+strings.Join(refused, ", "))
	}
	if len(p.unloaded) > 0 {
		why = append(why, "drop-ins not loaded: "+strings.Join(p.unloaded, ", "))
	}
	if len(why) == 0 && p.startedWith > 0 && runnable == 0 {
		// Every check the phase began with is gone before passing (a
		// script that deleted itself, a directory emptied mid-phase):
		// "all 0 checks passed" must not become a CONTINUE.
		why = append(why, "every check of the phase was removed before it passed")
	}
	return strings.Join(why, "; ")
}
