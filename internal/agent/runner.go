package agent

import (
	"time"

	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// CheckRunners returns the NewRunner that builds real checks.Phase runners
// from cfg with checks.FromConfig: drop-in scripts, agent.yaml's checks and
// include_dir's YAML drop-ins. opts are the phases' dependencies (clock,
// log, signals; NoWatch for callers that cannot run the drop-in watcher);
// each phase gets its own start and script environment on top.
func CheckRunners(cfg *config.Config, opts checks.Options) NewRunner {
	return func(phase string, started time.Time, env func() checks.Env) Runner {
		o := opts
		o.Started, o.Env = started, env
		// Check lines carry the instance and group, like the engine's.
		id := env()
		o.Log = opts.Log.With().Str("instance_id", id.InstanceID).Str("scaling_group_id", id.GroupID).Logger()
		p, errs := checks.FromConfig(cfg, phase, o)
		for _, err := range errs {
			opts.Log.Error().Err(err).Str("phase", phase).Msg("skipping a check drop-in")
		}
		return p
	}
}
