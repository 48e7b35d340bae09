package bench

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// Signals the experiments' checks wait for: the application says it is
// ready (launch) and drained (terminate). Signal checks are declarative and
// fork nothing, so a thousand agents in one process cost only the agent's
// own work, not a thousand shells a second.
const (
	signalReady   = "ready"
	signalDrained = "drained"
)

// agentConfig is the configuration of one benchmark agent: the defaults a
// user gets, with a signal check per phase and its own state directory.
func agentConfig(stateRoot, instanceID string) *config.Config {
	cfg := config.Default()
	cfg.StateDir = filepath.Join(stateRoot, instanceID)
	cfg.IncludeDir = ""
	cfg.Launch.ScriptsDir = ""
	cfg.Terminate.ScriptsDir = ""
	cfg.ControlSocket = ""
	cfg.Launch.Checks = []config.Check{{Name: "app-ready", Type: config.TypeSignal, Signal: signalReady}}
	cfg.Terminate.Checks = []config.Check{{Name: "app-drained", Type: config.TypeSignal, Signal: signalDrained}}
	return cfg
}

// phaseMarks are the moments of one phase of one agent, by the
// experiment's clock.
type phaseMarks struct {
	started time.Time // the runner began: the first check starts
	passed  time.Time // the runner returned a passing verdict
}

// benchAgent is one running engine and what the experiment knows of it.
type benchAgent struct {
	id      string
	signals *checks.SignalBoard
	cancel  context.CancelFunc
	done    chan struct{}
	startAt time.Time

	mu    sync.Mutex
	marks map[string]*phaseMarks // by phase
}

// mark returns the marks of a phase, creating them.
func (a *benchAgent) mark(phase string, f func(m *phaseMarks)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.marks[phase]
	if m == nil {
		m = &phaseMarks{}
		a.marks[phase] = m
	}
	f(m)
}

// phase returns a copy of a phase's marks.
func (a *benchAgent) phase(name string) phaseMarks {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.marks[name]; m != nil {
		return *m
	}
	return phaseMarks{}
}

// stop stops the engine and waits for it.
func (a *benchAgent) stop() {
	a.cancel()
	<-a.done
}

// timingRunner notes when the phase's checks start and when they pass.
type timingRunner struct {
	agent.Runner
	phase string
	a     *benchAgent
	clock clockwork.Clock
}

func (r timingRunner) Run(ctx context.Context) checks.Verdict {
	now := r.clock.Now()
	r.a.mark(r.phase, func(m *phaseMarks) {
		if m.started.IsZero() {
			m.started = now
		}
	})
	v := r.Runner.Run(ctx)
	if v.State == checks.Passed {
		now := r.clock.Now()
		r.a.mark(r.phase, func(m *phaseMarks) { m.passed = now })
	}
	return v
}

// startAgent runs the real engine with the real check runners for one
// instance, until stop.
func startAgent(cfg *config.Config, id agent.Identity, api virtualDeadlines, clock clockwork.Clock, rnd func() float64, log zerolog.Logger) *benchAgent {
	signals := checks.NewSignalBoard(clock)
	a := &benchAgent{id: id.InstanceID, signals: signals, done: make(chan struct{}), marks: map[string]*phaseMarks{}}
	// No drop-in watcher: the experiment's virtual time (a synctest bubble,
	// or FakeTime's quiet-process test) moves only while no goroutine waits
	// in the kernel, and the bench agents have no drop-ins to follow.
	real := agent.CheckRunners(cfg, checks.Options{Clock: clock, Log: log, Signals: signals, NoWatch: true})
	e := agent.NewEngine(cfg, id, agent.Deps{
		Hooks:       api,
		ProjectSize: api.projectSize(id.GroupID),
		Throttling:  api.c.Throttling,
		NewRunner: func(phase string, started time.Time, env func() checks.Env) agent.Runner {
			return timingRunner{Runner: real(phase, started, env), phase: phase, a: a, clock: clock}
		},
		Signals: signals,
		Clock:   clock,
		Log:     log,
		Rand:    rnd,
	})
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.startAt = clock.Now()
	go func() {
		defer close(a.done)
		_ = e.Run(ctx) // Run returns nil on a clean stop, the only way it ends here
	}()
	return a
}

// ScratchDir is where the experiments keep their agents' state files:
// /dev/shm when there is one, else the temporary directory. A thousand
// agents in one process share one disk, where on real instances each has
// its own; on tmpfs the state file's fsyncs cost what they cost the agent
// on an idle disk, not a thousand-fold queue.
func ScratchDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
