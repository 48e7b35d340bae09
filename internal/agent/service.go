package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/cloud"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/control"
	"github.com/asagent/asagent/internal/fsutil"
)

// Notifier tells the service manager how the agent is doing (systemd's
// sd_notify). Every method may be a no-op.
type Notifier interface {
	// Ready is called once, when the config is loaded and the instance and
	// its group are known.
	Ready()
	// Status is a one-line human status ("launch: 2/3 checks passed, hook
	// expires 14:05").
	Status(line string)
	// Watchdog says the agent's main loop is alive; it is called at least
	// every 30 s while it is (systemd's WATCHDOG=1).
	Watchdog()
}

// ServiceOptions are the service's optional collaborators.
type ServiceOptions struct {
	Notifier Notifier
	Getenv   func(string) string // for the SDK's credential variables; nil: none
	Clock    clockwork.Clock     // nil: the real clock
	Metrics  Metrics             // nil: none
}

// Metrics is told what the agent does, for metrics: the engine's
// decisions, the checks' attempts, the cloud clients' requests.
type Metrics interface {
	Observer
	checks.AttemptObserver
	cloud.Observer
}

// Service is the whole agent as it runs on an instance: it finds out who
// and where the instance is (retrying while the metadata service and AS are
// not answering), serves the control socket, and runs the Engine.
type Service struct {
	cfg     *config.Config
	log     zerolog.Logger
	opts    ServiceOptions
	signals *checks.SignalBoard

	mu     sync.Mutex
	engine *Engine // nil until the instance is known
	status string  // what the service is doing before the engine runs
}

// New returns the agent service for cfg.
func New(cfg *config.Config, log zerolog.Logger, opts ServiceOptions) *Service {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Notifier == nil {
		opts.Notifier = nopNotifier{}
	}
	return &Service{cfg: cfg, log: log, opts: opts, signals: checks.NewSignalBoard(opts.Clock), status: "starting"}
}

type nopNotifier struct{}

func (nopNotifier) Ready()        {}
func (nopNotifier) Status(string) {}
func (nopNotifier) Watchdog()     {}

// Run runs the agent until ctx ends. It returns an error only when the
// agent cannot run at all (the control socket cannot be created); trouble
// with the cloud is retried, logged and shown in the status.
func (s *Service) Run(ctx context.Context) error {
	// One agent per state_dir: a second would run the checks again and
	// take over the control socket.
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return err
	}
	unlock, err := fsutil.Lock(filepath.Join(s.cfg.StateDir, "lock"))
	if errors.Is(err, fsutil.ErrLocked) {
		return fmt.Errorf("another asagent is running with state_dir %s", s.cfg.StateDir)
	}
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctlErr := make(chan error, 1)
	go func() { ctlErr <- control.Serve(ctx, s.cfg.ControlSocket, s, s.log) }()

	runErr := make(chan error, 1)
	go func() { runErr <- s.run(ctx) }()
	select {
	case err := <-ctlErr:
		if err != nil && ctx.Err() == nil {
			cancel()
			<-runErr
			return fmt.Errorf("control socket: %w", err)
		}
		return <-runErr
	case err := <-runErr:
		cancel()
		<-ctlErr
		return err
	}
}

func (s *Service) run(ctx context.Context) error {
	id, as, err := s.identify(ctx)
	if err != nil {
		return nil // ctx ended while still finding out
	}
	e := NewEngine(s.cfg, id, Deps{
		Hooks:       as,
		ClockOffset: as.ClockOffset,
		ProjectSize: func(ctx context.Context) (asclient.ProjectSize, error) { return as.ProjectSize(ctx, id.GroupID) },
		Throttling:  as.Throttling,
		NewRunner:   CheckRunners(s.cfg, checks.Options{Clock: s.opts.Clock, Log: s.log, Signals: s.signals, Attempts: s.opts.Metrics}),
		Signals:     s.signals,
		Clock:       s.opts.Clock,
		Log:         s.log,
		Notify:      s.opts.Notifier.Status,
		Beat:        s.opts.Notifier.Watchdog,
		Observer:    s.opts.Metrics,
	})
	s.mu.Lock()
	s.engine = e
	s.mu.Unlock()
	s.opts.Notifier.Ready()
	return e.Run(ctx)
}

// identify learns the instance and its group, retrying until it can or ctx
// ends. Each kind of trouble is logged when it starts and when it changes,
// not at every attempt.
func (s *Service) identify(ctx context.Context) (Identity, *asclient.Client, error) {
	s.setStatus("starting: asking the metadata service who this instance is")
	setup, err := cloud.New(ctx, s.cfg, s.opts.Getenv, s.opts.Clock, s.log, s.opts.Metrics)
	if err != nil {
		if ctx.Err() != nil {
			return Identity{}, nil, ctx.Err()
		}
		// Only a setup that can never work gets here (a bad endpoint):
		// report it and wait to be stopped, rather than exit and restart
		// in a loop.
		s.setStatus("cannot start: " + err.Error())
		s.log.Error().Err(err).Msg("cannot set up the cloud clients")
		<-ctx.Done()
		return Identity{}, nil, ctx.Err()
	}
	s.setStatus("starting: finding this instance's scaling group")
	policy := backoff.Policy{Initial: 2 * time.Second, Max: s.cfg.Poll.HooksInterval.D(), Jitter: 0.5}
	lastMsg := ""
	for attempt := 0; ; attempt++ {
		d, err := setup.AS.DiscoverGroup(ctx, setup.Discover)
		if err == nil {
			if lastMsg != "" {
				s.log.Info().Msg("scaling group found after earlier failures")
			}
			s.log.Info().Str("instance_id", setup.InstanceID).Str("project_id", setup.ProjectID).Str("region", setup.Region).
				Str("scaling_group_id", d.GroupID).Dict("found_by", foundBy(setup, d)).Msg("instance identified")
			return Identity{InstanceID: setup.InstanceID, GroupID: d.GroupID, GroupFrom: d.Source}, setup.AS, nil
		}
		if ctx.Err() != nil {
			return Identity{}, nil, ctx.Err()
		}
		var nig *asclient.NotInGroupError
		msg := err.Error()
		if errors.As(err, &nig) {
			msg = nig.Error()
		}
		if msg != lastMsg {
			s.log.Error().Err(err).Msg("cannot find this instance's scaling group; will keep trying")
			lastMsg = msg
		}
		s.setStatus("starting: " + msg)
		if backoff.Sleep(ctx, s.opts.Clock, policy.Delay(attempt)) != nil {
			return Identity{}, nil, ctx.Err()
		}
	}
}

// foundBy says where each fact of the identity came from: the config, the
// environment, the metadata service; the group from the config, the cache
// or a search.
func foundBy(setup *cloud.Setup, d asclient.Discovery) *zerolog.Event {
	return zerolog.Dict().Str("instance_id", setup.InstanceFrom).Str("project_id", setup.ProjectFrom).
		Str("region", orNone(setup.RegionFrom)).Str("scaling_group_id", d.Source)
}

// orNone is s, or "none" for a fact nobody gave (a region left unknown
// because the AS endpoint is configured).
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (s *Service) setStatus(line string) {
	s.mu.Lock()
	changed := s.status != line
	s.status = line
	s.mu.Unlock()
	if changed {
		s.opts.Notifier.Status(line)
	}
}

func (s *Service) current() *Engine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine
}

// Status implements control.Handler.
func (s *Service) Status() control.Status {
	if e := s.current(); e != nil {
		return e.Status()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return control.Status{State: control.StateStarting, Summary: s.status, Updated: s.opts.Clock.Now()}
}

// Signal implements control.Handler. ready and drained are kept even before
// the instance is known, so an application that is ready early is not missed.
func (s *Service) Signal(ctx context.Context, name string) error {
	if e := s.current(); e != nil {
		return e.Signal(ctx, name)
	}
	if name == control.SignalReady || name == control.SignalDrained {
		return s.signals.Raise(name)
	}
	return &control.UserError{Msg: "the agent is still starting: " + s.Status().Summary}
}

// Complete implements control.Handler.
func (s *Service) Complete(ctx context.Context, result, hook string) error {
	if e := s.current(); e != nil {
		return e.Complete(ctx, result, hook)
	}
	return &control.UserError{Msg: "the agent is still starting: " + s.Status().Summary}
}
