//go:build !windows

package config

const (
	defaultLaunchDir     = "/etc/asagent/launch.d"
	defaultTerminateDir  = "/etc/asagent/terminate.d"
	defaultIncludeDir    = "/etc/asagent/conf.d"
	defaultStateDir      = "/var/lib/asagent"
	defaultControlSocket = "/run/asagent/agent.sock"

	// DefaultPath is where the agent looks for agent.yaml.
	DefaultPath = "/etc/asagent/agent.yaml"
)
