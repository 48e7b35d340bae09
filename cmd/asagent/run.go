package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/version"
)

func runRun(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "run", "[--config FILE]")
	path := addConfigFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, code, ok := loadConfig(cio, *path)
	if !ok {
		return code
	}
	log := newLogger(cio.stderr, cfg.Log)
	log.Info().Str("version", version.String()).Str("config", *path).Msg("asagent starting")
	svc := agent.New(cfg, log, agent.ServiceOptions{Getenv: os.Getenv, Notifier: newNotifier(log)})
	if err := svc.Run(ctx); err != nil {
		log.Error().Err(err).Msg("asagent stopped")
		return exitFailed
	}
	log.Info().Msg("asagent stopped")
	return exitOK
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

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logNotifier reports readiness and status to the log when no service
// manager listens.
type logNotifier struct{ log zerolog.Logger }

func (n logNotifier) Ready()             { n.log.Info().Msg("ready") }
func (n logNotifier) Status(line string) { n.log.Debug().Str("status", line).Msg("status") }
func (n logNotifier) Watchdog()          {}

func newNotifier(log zerolog.Logger) agent.Notifier {
	return logNotifier{log: log}
}
