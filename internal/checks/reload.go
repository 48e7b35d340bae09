package checks

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/trust"
)

// spec is one check as the phase will run it: a declarative check or a
// drop-in script, with every default filled.
type spec struct {
	check   config.Check
	script  string // the path of a drop-in script; "" for a declarative check
	refused string // why it may not run; "" when it may
}

// same reports whether two specs run the same check, so that a reload can
// keep a running check's state. Line numbers move when a neighbour in the
// same file is edited; that changes nothing.
func (s spec) same(o spec) bool {
	a, b := s, o
	a.check.Line, b.check.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// Reload replaces the declarative checks with checks and reads the scripts
// directory again. A check whose spec did not change keeps its state and
// goes on running; a new one joins a running phase; a removed one is stopped
// and leaves it; a changed one starts afresh once its old run has ended. It
// is safe to call at any time, from any goroutine.
func (p *Phase) Reload(checks []config.Check) {
	p.reload(checks, nil)
}

// reload is Reload with the errors of loading checks (YAML drop-ins that
// are refused, unreadable or do not parse): they join the status's
// problems and, as drop-ins meant to add checks, keep the phase from
// passing until they load.
func (p *Phase) reload(checks []config.Check, loadErrs []error) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	s := p.specs(checks)
	for _, err := range loadErrs {
		s.problems = append(s.problems, err.Error())
		s.unloaded = append(s.unloaded, errSource(err))
	}
	p.mu.Lock()
	p.loops = p.replace(s.specs)
	p.problems, p.unloaded = s.problems, s.unloaded
	p.mu.Unlock()
	for _, msg := range s.problems {
		p.log.Error().Msg(msg)
	}
	p.kick()
}

// errSource names the file (or directory) an error from loading the YAML
// drop-ins is about.
func errSource(err error) string {
	var ps config.Problems
	if errors.As(err, &ps) && len(ps) > 0 && ps[0].File != "" {
		return ps[0].File
	}
	return err.Error()
}

// replace returns the check loops for specs: the current loop of a check
// whose spec did not change, a new one otherwise. The loops it does not
// keep are stopped. The caller holds p.mu.
func (p *Phase) replace(specs []spec) []*checkLoop {
	old := make(map[string]*checkLoop, len(p.loops))
	for _, c := range p.loops {
		old[c.key] = c
	}
	next := make([]*checkLoop, 0, len(specs))
	used := make(map[string]bool, len(specs))
	for _, s := range specs {
		key := s.check.Name + "\x00" + s.check.Source
		for i := 2; used[key]; i++ {
			key = s.check.Name + "\x00" + s.check.Source + "\x00" + strconv.Itoa(i)
		}
		used[key] = true
		prev, had := old[key]
		delete(old, key)
		if had && prev.spec.same(s) {
			next = append(next, prev)
			continue
		}
		c := p.newCheckLoop(key, s)
		switch {
		case had:
			c.prev = prev.stop()
			c.log.Info().Msg("check changed; it starts afresh")
		case p.running:
			c.log.Info().Msg("check added")
		}
		next = append(next, c)
	}
	for _, o := range old {
		o.stop()
		if p.running {
			o.log.Info().Msg("check removed")
		}
	}
	return next
}

// specs merges declarative checks and scripts, fills defaults, refuses
// duplicate names and sorts by name (byte-wise, the C locale's order).
func (p *Phase) specs(checks []config.Check) scan {
	specs := make([]spec, 0, len(checks))
	for _, c := range checks {
		specs = append(specs, spec{check: c})
	}
	scripts := scanScripts(p.cfg.ScriptsDir, p.cfg, trust.Agent(p.opts.Insecure), p.log)
	specs = append(specs, scripts.specs...)
	problems := scripts.problems
	firstSource := map[string]string{}
	for i := range specs {
		s := &specs[i]
		s.check = p.fill(s.check)
		src := s.check.Source
		if src == "" {
			src = "agent config"
		}
		if first, dup := firstSource[s.check.Name]; dup {
			s.refused = "duplicate name: first defined in " + first
			problems = append(problems, fmt.Sprintf("check %q in %s: duplicate name, first defined in %s", s.check.Name, src, first))
			continue
		}
		firstSource[s.check.Name] = src
	}
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].check.Name < specs[j].check.Name })
	return scan{specs: specs, problems: problems, unloaded: scripts.unloaded}
}

// fill applies the loader's defaults (config.Phase.WithDefaults) and then
// guards what must never be zero, so that a hand-built check cannot spin or
// hang.
func (p *Phase) fill(c config.Check) config.Check {
	c = p.cfg.WithDefaults(c)
	if c.Interval <= 0 {
		c.Interval = p.cfg.Interval
	}
	if c.Interval.D() < MinInterval {
		c.Interval = config.Duration(MinInterval)
	}
	if c.Timeout <= 0 {
		c.Timeout = p.cfg.Timeout
		if c.Type == config.TypeHTTP || c.Type == config.TypeTCP {
			c.Timeout = config.Duration(min(netTimeout, p.cfg.Timeout.D()))
		}
	}
	c.SuccessThreshold = max(c.SuccessThreshold, 1)
	c.FailureThreshold = max(c.FailureThreshold, 0)
	c.InitialDelay = max(c.InitialDelay, 0)
	return c
}
