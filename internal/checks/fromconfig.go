package checks

import (
	"fmt"

	"github.com/asagent/asagent/internal/config"
)

// The phase names, as config keys, logs and ASAGENT_PHASE spell them.
const (
	PhaseLaunch    = "launch"
	PhaseTerminate = "terminate"
)

// PhaseConfig returns cfg's section for the phase called name.
func PhaseConfig(cfg *config.Config, name string) (config.Phase, error) {
	switch name {
	case PhaseLaunch:
		return cfg.Launch, nil
	case PhaseTerminate:
		return cfg.Terminate, nil
	}
	return config.Phase{}, fmt.Errorf("unknown phase %q: want launch or terminate", name)
}

// declared returns the declarative checks of the phase called name: those
// of agent.yaml, then those of include_dir's YAML drop-ins. A drop-in with a
// problem is left out whole and reported in errs (which keep the phase
// from passing); the others still count.
func declared(cfg *config.Config, name string) (checks []config.Check, errs []error) {
	ph, err := PhaseConfig(cfg, name)
	if err != nil {
		return nil, []error{err}
	}
	launch, terminate, errs := config.LoadDropIns(cfg.IncludeDir, cfg.InsecureDropins)
	checks = append(checks, ph.Checks...)
	if name == PhaseLaunch {
		checks = append(checks, launch...)
	} else {
		checks = append(checks, terminate...)
	}
	return checks, errs
}

// FromConfig builds the phase called name ("launch" or "terminate") as the
// agent runs it: the scripts of its scripts_dir, the checks of agent.yaml
// and of include_dir's drop-ins, cfg.InsecureDropins for the safety rules.
// While Run runs, the phase follows scripts_dir and include_dir (see Watch;
// not with opts.NoWatch) and reloads on every change, so a check added
// mid-phase joins it. errs are the drop-ins left out now, which keep the
// phase from passing until they load; later ones are logged and listed in
// the status's Problems too.
func FromConfig(cfg *config.Config, name string, opts Options) (*Phase, []error) {
	ph, err := PhaseConfig(cfg, name)
	if err != nil {
		return nil, []error{err}
	}
	opts.Insecure = cfg.InsecureDropins
	checks, errs := declared(cfg, name)
	p := newPhase(name, ph, opts)
	p.dropIns = &dropInSource{
		dirs:     []string{ph.ScriptsDir, cfg.IncludeDir},
		declared: func() ([]config.Check, []error) { return declared(cfg, name) },
	}
	p.reload(checks, errs)
	return p, errs
}

// dropInSource is where a phase built from the config finds its drop-ins
// again: the directories to watch, and how to read the declarative checks.
type dropInSource struct {
	dirs     []string
	declared func() ([]config.Check, []error)
}

// refresh reads the declarative checks and the scripts again.
func (p *Phase) refresh() {
	checks, errs := p.dropIns.declared()
	p.reload(checks, errs)
}
