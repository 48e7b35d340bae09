package main

import (
	"context"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/metrics"
	"github.com/asagent/asagent/internal/sdnotify"
	"github.com/asagent/asagent/internal/version"
)

func runRun(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "run", "[--config FILE]")
	path := addConfigFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// Under the Windows service control manager the agent runs inside
	// kardianos/service's loop, which must start first; elsewhere (systemd,
	// a terminal) this returns at once.
	if code, handled := runUnderServiceManager(ctx, cio, *path); handled {
		return code
	}
	cfg, code, ok := loadConfig(cio, *path)
	if !ok {
		return code
	}
	log := newLogger(cio.stderr, cfg.Log)
	return runAgent(ctx, log, cfg, *path, newNotifier(log))
}

// runAgent runs the agent until ctx ends and returns the exit code.
func runAgent(ctx context.Context, log zerolog.Logger, cfg *config.Config, path string, n agent.Notifier) int {
	log.Info().Str("version", version.String()).Str("config", path).Msg("asagent starting")
	if s, ok := n.(interface{ Stopping(string) }); ok {
		// Tell systemd at once that the stop has begun: `systemctl status`
		// shows "deactivating" with this line while the agent winds down.
		defer context.AfterFunc(ctx, func() { s.Stopping("stopping") })()
	}
	m, stopMetrics := startMetrics(ctx, cfg.Metrics, log)
	defer stopMetrics()
	svc := agent.New(cfg, log, agent.ServiceOptions{Getenv: os.Getenv, Notifier: n, Metrics: m})
	if err := svc.Run(ctx); err != nil {
		log.Error().Err(err).Msg("asagent stopped")
		return exitFailed
	}
	log.Info().Msg("asagent stopped")
	return exitOK
}

// startMetrics starts what metrics.listen and metrics.textfile ask for and
// returns what the agent reports to (nil when metrics are off) and a stop
// that ends them and waits for the last textfile write, once the agent has
// stopped.
func startMetrics(ctx context.Context, cfg config.Metrics, log zerolog.Logger) (agent.Metrics, func()) {
	if !cfg.Enabled() {
		return nil, func() {}
	}
	reg := metrics.New(clockwork.NewRealClock())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Serve(ctx, cfg, log)
	}()
	return reg, func() {
		cancel()
		<-done
	}
}

// newLogger builds the agent's logger: JSON for the journal and log
// shippers, or a console format for a person at a terminal.
func newLogger(w io.Writer, c config.Log) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel // validated already; be safe anyway
	}
	format := c.Format
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	return zerolog.New(zerolog.SyncWriter(w)).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal. A character device is not
// enough: /dev/null is one, and a command run from cron or a unit with
// stdin from /dev/null must not be taken for a person at a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// logNotifier reports readiness and status to the log when no service
// manager listens.
type logNotifier struct{ log zerolog.Logger }

func (n logNotifier) Ready()             { n.log.Info().Msg("ready") }
func (n logNotifier) Status(line string) { n.log.Debug().Str("status", line).Msg("status") }
func (n logNotifier) Watchdog()          {}

// minWatchdog is the shortest watchdog timeout the agent can satisfy: its
// main loop beats at least every 30 s, and one late beat must not be fatal.
const minWatchdog = time.Minute

// newNotifier returns the notifier for this process: systemd's socket when
// $NOTIFY_SOCKET names one, the log otherwise.
func newNotifier(log zerolog.Logger) agent.Notifier {
	n, err := sdnotify.FromEnv(os.Getenv, os.Getpid())
	if err != nil {
		log.Warn().Err(err).Msg("service manager notification")
	}
	if n == nil {
		return logNotifier{log: log}
	}
	if w := n.WatchdogInterval(); w > 0 && w < minWatchdog {
		log.Warn().Stringer("watchdog", w).Stringer("min_watchdog", minWatchdog).
			Msg("WatchdogSec is shorter than the agent's heartbeat allows; systemd may kill a healthy agent")
	}
	return &systemdNotifier{n: n, log: log}
}

// systemdNotifier sends READY=1, STATUS= and WATCHDOG=1 to systemd, and
// logs what a person reading the journal needs: readiness, status changes
// at debug level, and trouble with the socket once per episode (the
// watchdog would otherwise log it every beat).
type systemdNotifier struct {
	n       *sdnotify.Notifier
	log     zerolog.Logger
	failing atomic.Bool
}

func (s *systemdNotifier) Ready() {
	s.log.Info().Msg("ready")
	s.report(s.n.Ready())
}

func (s *systemdNotifier) Status(line string) {
	s.log.Debug().Str("status", line).Msg("status")
	s.report(s.n.Status(line))
}

func (s *systemdNotifier) Watchdog() { s.report(s.n.Watchdog()) }

// Stopping says the agent is on its way out (STOPPING=1).
func (s *systemdNotifier) Stopping(line string) { s.report(s.n.Stopping(line)) }

func (s *systemdNotifier) report(err error) {
	switch {
	case err != nil && !s.failing.Swap(true):
		s.log.Warn().Err(err).Msg("cannot notify systemd; will keep trying")
	case err == nil && s.failing.Swap(false):
		s.log.Info().Msg("notifying systemd works again")
	}
}
