// Package config owns agent.yaml: its schema, defaults, validation and the
// YAML drop-ins under include_dir. Every error names the key and the line.
package config

import (
	"time"

	"github.com/asagent/asagent/internal/secret"
)

// Config is the whole agent.yaml. The yaml key names are part of the user
// interface: renaming one breaks every image that sets it.
type Config struct {
	Cloud     Cloud  `yaml:"cloud"`
	Poll      Poll   `yaml:"poll"`
	Extend    Extend `yaml:"extend"`
	Launch    Phase  `yaml:"launch"`
	Terminate Phase  `yaml:"terminate"`
	// IncludeDir holds YAML drop-ins that add launch and terminate checks, so a
	// package can ship its own check without editing agent.yaml.
	IncludeDir string `yaml:"include_dir"`
	// InsecureDropins turns off the ownership and mode rules for drop-in
	// scripts and YAML files. For development only.
	InsecureDropins bool    `yaml:"insecure_dropins"`
	Log             Log     `yaml:"log"`
	StateDir        string  `yaml:"state_dir"`
	ControlSocket   string  `yaml:"control_socket"`
	Metrics         Metrics `yaml:"metrics"`
}

// Cloud says where the agent finds the cloud and who it is there. Everything
// left empty is learned from the metadata service.
type Cloud struct {
	MetadataEndpoint string      `yaml:"metadata_endpoint"`
	ASEndpoint       string      `yaml:"as_endpoint"`
	Region           string      `yaml:"region"`
	ProjectID        string      `yaml:"project_id"`
	InstanceID       string      `yaml:"instance_id"`
	ScalingGroupID   string      `yaml:"scaling_group_id"`
	Credentials      Credentials `yaml:"credentials"`
	// RequestTimeout bounds one AS or metadata HTTP call; the SDK's own
	// default of 120 s would let one stuck call eat a hook's margin.
	RequestTimeout Duration `yaml:"request_timeout"`
	// InsecureSkipVerify turns off TLS verification for the AS endpoint.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Proxy is the proxy for AS calls: empty follows HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY; "none" never uses one; a URL
	// (http://host:port) overrides the environment. The metadata service is
	// never reached through a proxy.
	Proxy string `yaml:"proxy"`
}

// Credentials are static AK/SK credentials. When AccessKey is empty the agent
// uses the temporary credentials of the instance's agency instead.
type Credentials struct {
	AccessKey     string `yaml:"access_key"`
	SecretKey     Secret `yaml:"secret_key"`
	SecurityToken Secret `yaml:"security_token"`
}

// Poll sets how often the agent asks AS whether this instance is held.
type Poll struct {
	// LaunchInterval applies from start until AS shows no launch hook holds
	// this instance, or the launch phase is done.
	LaunchInterval Duration `yaml:"launch_interval"`
	// IdleInterval applies afterwards, while the group has a terminate hook.
	IdleInterval Duration `yaml:"idle_interval"`
	// HooksInterval is how often the group's hook list is read again while it
	// has no terminate hook (and so nothing to poll for).
	HooksInterval Duration `yaml:"hooks_interval"`
	// Jitter spreads a fleet's polls: each wait is the interval ± this fraction.
	Jitter float64 `yaml:"jitter"`
	// ProjectRate is the AS request limit the project's agents share, in
	// requests per second. Idle polling and hook-list reads slow down as
	// the project grows so that all its agents together stay within a
	// share of it; AS publishes no limit, so this is an assumption.
	ProjectRate float64 `yaml:"project_rate"`
}

// Extend sets when the agent sends EXTEND for a pending phase.
type Extend struct {
	// Margin is how long before a hook's timeout the EXTEND is sent.
	Margin Duration `yaml:"margin"`
}

// Mode says how a phase runs its checks.
type Mode string

// The phase modes.
const (
	Parallel   Mode = "parallel"   // all checks run at once; every one must pass
	Sequential Mode = "sequential" // each check must pass before the next starts
)

// Result is a lifecycle hook callback result.
type Result string

// The results a phase can end with.
const (
	Continue Result = "CONTINUE"
	Abandon  Result = "ABANDON"
)

// Phase configures one lifecycle phase: launch (is the instance ready?) or
// terminate (drain it).
type Phase struct {
	ScriptsDir string  `yaml:"scripts_dir"`
	Checks     []Check `yaml:"checks"`
	Mode       Mode    `yaml:"mode"`
	// MaxWait is the phase's budget: when it is spent the phase fails.
	MaxWait   Duration `yaml:"max_wait"`
	OnFailure Result   `yaml:"on_failure"`
	// OnStop says what a stopped agent does with a phase still pending:
	// StopHold leaves the hooks held (a restarted agent resumes), and
	// StopOnFailure answers them with OnFailure first.
	OnStop StopAction `yaml:"on_stop"`
	// Interval and Timeout are the defaults for drop-in scripts, which have
	// no place to set their own.
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
}

// StopAction is what a stopped agent does with a pending phase.
type StopAction string

// The stop actions.
const (
	StopHold      StopAction = "hold"       // leave the hooks held; a restart resumes
	StopOnFailure StopAction = "on_failure" // answer the hooks with on_failure before stopping
)

// CheckType names a kind of check.
type CheckType string

// The check types.
const (
	TypeExec      CheckType = "exec"
	TypeHTTP      CheckType = "http"
	TypeTCP       CheckType = "tcp"
	TypeFile      CheckType = "file"
	TypeCloudInit CheckType = "cloud-init"
	TypeSignal    CheckType = "signal"
)

// Check is one declarative check. The fields after Type apply to one type
// each; validation rejects a field set on the wrong type.
type Check struct {
	Name             string    `yaml:"name"`
	Type             CheckType `yaml:"type"`
	Interval         Duration  `yaml:"interval"`
	Timeout          Duration  `yaml:"timeout"`
	InitialDelay     Duration  `yaml:"initial_delay"`
	SuccessThreshold int       `yaml:"success_threshold"`
	// FailureThreshold is how many failed attempts in a row fail the phase;
	// 0 keeps trying until the phase's max_wait is spent.
	FailureThreshold int `yaml:"failure_threshold"`

	// exec: Command is an argv run without a shell; Shell is a script run
	// with /bin/sh -c. Exactly one is set.
	Command []string `yaml:"command"`
	Shell   string   `yaml:"shell"`

	// http
	URL          string            `yaml:"url"`
	Method       string            `yaml:"method"`
	Headers      map[string]string `yaml:"headers"`
	ExpectStatus string            `yaml:"expect_status"` // "200-399" (default), "200,204", ...
	BodyContains string            `yaml:"body_contains"`
	TLS          TLS               `yaml:"tls"`

	// tcp
	Address string `yaml:"address"`

	// file: passes when Path exists, or with Absent when it does not.
	Path   string `yaml:"path"`
	Absent bool   `yaml:"absent"`

	// cloud-init: Root is prefixed to cloud-init's state paths (tests).
	Root string `yaml:"root"`

	// signal: passes once the application runs `asagent signal <Signal>`.
	Signal string `yaml:"signal"`

	// Line is where the check was defined, for messages; Source is the file.
	Line   int    `yaml:"-"`
	Source string `yaml:"-"`
}

// TLS configures an http check's TLS client.
type TLS struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, else JSON), json, console
}

// Metrics says where the agent's Prometheus metrics go. Both ways are off
// by default, and either may be used alone.
type Metrics struct {
	// Listen is the host:port of an HTTP /metrics endpoint; empty: none.
	// Only a loopback address is accepted unless AllowRemote is set.
	Listen string `yaml:"listen"`
	// AllowRemote lets Listen name an address other hosts can reach: the
	// metrics name the instance, its group and its hooks.
	AllowRemote bool `yaml:"allow_remote"`
	// Textfile is a file for node_exporter's textfile collector (it must
	// end in .prom), rewritten atomically on every change and at least
	// every minute; empty: none.
	Textfile string `yaml:"textfile"`
}

// Enabled reports whether metrics go anywhere.
func (m Metrics) Enabled() bool { return m.Listen != "" || m.Textfile != "" }

// Duration is a time.Duration written as "90s" or "1h30m" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a string that never prints (see package secret): credentials
// in a Config stay redacted whatever prints or dumps it.
type Secret = secret.Secret
