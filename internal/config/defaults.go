package config

import "time"

// Default returns the configuration used when agent.yaml is missing: on an
// ECS instance with an agency bound, the agent needs no configuration at all.
func Default() *Config {
	return &Config{
		Cloud: Cloud{
			MetadataEndpoint: "http://169.254.169.254",
			// 10 s: long enough for a slow API gateway, short enough that a
			// stuck call leaves most of extend.margin for retries.
			RequestTimeout: Duration(10 * time.Second),
		},
		Poll: Poll{
			// A launch hook holds the instance from boot: answer it quickly.
			LaunchInterval: Duration(2 * time.Second),
			// Terminate hooks last at least 60 s (the AS minimum); polling
			// every 25 s ± 20% sees them with time to spare at ~144 calls/hour.
			IdleInterval:  Duration(25 * time.Second),
			HooksInterval: Duration(5 * time.Minute),
			Jitter:        0.2,
			// AS publishes no rate limit; 50 requests/s per project is an
			// assumption (docs/cloud-assumptions.md), and 429s slow the
			// agents down further if the real limit is lower.
			ProjectRate: 50,
		},
		Extend: Extend{
			// Several retries of a 10 s call with backoff, plus two idle polls,
			// fit comfortably in 10 minutes; EXTEND adds an hour, so this costs
			// one call per pending hour.
			Margin: Duration(10 * time.Minute),
		},
		Launch: Phase{
			ScriptsDir: defaultLaunchDir,
			Mode:       Parallel,
			MaxWait:    Duration(time.Hour),
			OnFailure:  Abandon, // a launch that never got ready is replaced by AS
			OnStop:     StopHold,
			Interval:   Duration(5 * time.Second),
			Timeout:    Duration(60 * time.Second),
		},
		Terminate: Phase{
			ScriptsDir: defaultTerminateDir,
			Mode:       Sequential,
			MaxWait:    Duration(time.Hour),
			// The instance goes either way; CONTINUE lets the group's other
			// terminate hooks still run.
			OnFailure: Continue,
			OnStop:    StopHold,
			Interval:  Duration(5 * time.Second),
			Timeout:   Duration(5 * time.Minute),
		},
		IncludeDir:    defaultIncludeDir,
		Log:           Log{Level: "info", Format: "auto"},
		StateDir:      defaultStateDir,
		ControlSocket: defaultControlSocket,
	}
}

// networkCheckTimeout is the attempt timeout of http and tcp checks that set
// none: a local service that takes longer than 5 s to answer is not ready.
const networkCheckTimeout = 5 * time.Second

// WithDefaults returns c with every unset field filled from the built-in
// defaults and from the phase (Interval and Timeout, which drop-in scripts
// and checks from include_dir inherit).
func (p Phase) WithDefaults(c Check) Check {
	if c.Interval == 0 {
		c.Interval = p.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = p.Timeout
		if c.Type == TypeHTTP || c.Type == TypeTCP {
			c.Timeout = Duration(min(networkCheckTimeout, p.Timeout.D()))
		}
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = 1
	}
	if c.Type == TypeHTTP {
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.ExpectStatus == "" {
			c.ExpectStatus = "200-399"
		}
	}
	return c
}
