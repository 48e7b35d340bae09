//go:build windows

package config

const (
	defaultLaunchDir     = `C:\ProgramData\asagent\launch.d`
	defaultTerminateDir  = `C:\ProgramData\asagent\terminate.d`
	defaultIncludeDir    = `C:\ProgramData\asagent\conf.d`
	defaultStateDir      = `C:\ProgramData\asagent\state`
	defaultControlSocket = `C:\ProgramData\asagent\agent.sock`

	// DefaultPath is where the agent looks for agent.yaml.
	DefaultPath = `C:\ProgramData\asagent\agent.yaml`
)
