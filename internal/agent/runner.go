package agent

import (
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// CheckRunners returns the NewRunner that builds real checks.Phase runners
// from cfg: drop-in scripts, agent.yaml's checks and include_dir's YAML
// drop-ins. With follow, a running phase watches those directories and
// picks up changes (fsnotify); without, they are read once per phase, which
// is what tests in a synctest bubble need (a watcher's blocking read would
// keep the bubble's clock from moving).
func CheckRunners(cfg *config.Config, signals *checks.SignalBoard, clock clockwork.Clock, log zerolog.Logger, follow bool) NewRunner {
	return func(phase string, remaining time.Duration, env func() checks.Env) Runner {
		// The runner's own max_wait is what is left of the phase's budget,
		// which began before any restart.
		c := *cfg
		c.Launch.MaxWait = config.Duration(remaining)
		c.Terminate.MaxWait = config.Duration(remaining)
		opts := checks.Options{Clock: clock, Log: log, Env: env, Signals: signals, Insecure: cfg.InsecureDropins}
		var p *checks.Phase
		var errs []error
		if follow {
			p, errs = checks.FromConfig(&c, phase, opts)
		} else {
			var declared []config.Check
			declared, errs = checks.Declared(&c, phase)
			ph, _ := checks.PhaseConfig(&c, phase)
			p = checks.NewPhase(phase, ph, declared, opts)
		}
		for _, err := range errs {
			log.Error().Err(err).Str("phase", phase).Msg("skipping a check drop-in")
		}
		return p
	}
}
