package checks

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
)

// Fallbacks for a config.Phase that the loader did not fill (tests, or a
// caller that builds one by hand); they match the loader's launch defaults.
const (
	fallbackInterval = 5 * time.Second
	fallbackTimeout  = 60 * time.Second
	// netTimeout is the default timeout of http and tcp checks: a local
	// endpoint that takes longer than this to answer is not ready.
	netTimeout = 5 * time.Second
)

// Phase runs the checks of one lifecycle phase. Build it with NewPhase or
// FromConfig, run it with Run (or RunOnce), change its checks with Reload,
// and read it with Status from any goroutine.
//
// Fake-clock tests: while Run waits, the phase holds one clock timer for
// max_wait (none when max_wait is 0) and each check holds one timer while it
// sleeps through its initial_delay or interval; a check running an attempt,
// or waiting for its turn in sequential mode, holds none. So with n checks
// sleeping, BlockUntilContext(ctx, n+1) before Advance. The drop-in watch
// of a phase from FromConfig runs on real time and holds no clock timer.
type Phase struct {
	name  string
	cfg   config.Phase
	opts  Options
	clock clockwork.Clock
	log   zerolog.Logger

	dropIns  *dropInSource // set by FromConfig: what Run follows
	reloadMu sync.Mutex    // serializes Reload's directory scans
	poke     chan struct{}
	wg       sync.WaitGroup // the check loops' goroutines of the current run

	mu       sync.Mutex
	loops    []*checkLoop // sorted by name, then key
	problems []string
	unloaded []string // drop-ins that did not load: the phase cannot pass
	running  bool
	runCtx   context.Context // while running: the parent of new loops' contexts
	state    State
	reason   string
	started  time.Time // when max_wait began counting
	// startedWith counts the runnable checks at the start of the run.
	startedWith int
}

// NewPhase builds the phase called name (launch or terminate) from its
// config: the drop-in scripts of phase.ScriptsDir plus checks, which are the
// declarative checks of agent.yaml and of include_dir's YAML drop-ins
// (phase.Checks is not read, so the caller decides the merge). The
// directory is read now; Reload reads it again.
func NewPhase(name string, phase config.Phase, checks []config.Check, opts Options) *Phase {
	p := newPhase(name, phase, opts)
	p.Reload(checks)
	return p
}

// newPhase fills defaults and returns a phase without checks.
func newPhase(name string, phase config.Phase, opts Options) *Phase {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = DefaultKillGrace
	}
	if phase.Mode == "" {
		phase.Mode = config.Parallel
	}
	if phase.Interval <= 0 {
		phase.Interval = config.Duration(fallbackInterval)
	}
	if phase.Timeout <= 0 {
		phase.Timeout = config.Duration(fallbackTimeout)
	}
	return &Phase{
		name:  name,
		cfg:   phase,
		opts:  opts,
		clock: opts.Clock,
		log:   opts.Log.With().Str("phase", name).Logger(),
		poke:  make(chan struct{}, 1),
		state: Pending,
	}
}

// kick wakes Run's loop to look at the checks again.
func (p *Phase) kick() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// Run runs the phase until every check has passed (Passed), one has failed
// or max_wait is spent (Failed), or ctx ends (Pending). max_wait counts
// from Options.Started, so a phase resumed after a restart keeps the budget
// it began with; when that is already spent, Run fails at once without
// starting a check. 0 means no budget. Every check's process has ended when
// it returns. Each call starts afresh; calls must not overlap.
func (p *Phase) Run(ctx context.Context) Verdict {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !p.begin(runCtx) {
		return Verdict{State: Pending, Reason: "the phase is already running"}
	}
	p.log.Info().Str("mode", string(p.cfg.Mode)).Stringer("max_wait", p.cfg.MaxWait.D()).Time("since", p.started).Msg("phase started")
	budget, spent := p.budgetTimer()
	defer budget.Stop()
	var v Verdict
	if spent {
		v = p.decideNow(ctx, budgetSpent)
	} else {
		watched := p.followDropIns(runCtx)
		defer func() { <-watched }()
		v = p.wait(ctx, budget.Chan())
	}
	cancel()
	p.wg.Wait()
	p.end(v)
	return v
}

// budgetTimer returns a timer for the rest of max_wait, and whether that is
// spent already. Without max_wait the timer never fires.
func (p *Phase) budgetTimer() (clockwork.Timer, bool) {
	if p.cfg.MaxWait <= 0 {
		return neverTimer{}, false
	}
	left := p.started.Add(p.cfg.MaxWait.D()).Sub(p.clock.Now())
	if left <= 0 {
		return neverTimer{}, true
	}
	return p.clock.NewTimer(left), false
}

// neverTimer is the budget timer of a phase without max_wait.
type neverTimer struct{}

func (neverTimer) Chan() <-chan time.Time   { return nil }
func (neverTimer) Reset(time.Duration) bool { return false }
func (neverTimer) Stop() bool               { return false }

// followDropIns starts watching the drop-in directories of a phase built
// by FromConfig (unless Options.NoWatch) and then reads them again, so that
// nothing changes unseen between FromConfig and now, or between the read
// and the watch. The returned channel is closed once the watch has stopped
// after ctx ended.
func (p *Phase) followDropIns(ctx context.Context) <-chan struct{} {
	none := make(chan struct{})
	close(none)
	if p.dropIns == nil {
		return none
	}
	done := (<-chan struct{})(none)
	if !p.opts.NoWatch {
		watched, err := Watch(ctx, p.log, p.refresh, p.dropIns.dirs...)
		if err != nil {
			p.log.Error().Err(err).Msg("cannot watch the drop-in directories; checks added now are not picked up")
		} else {
			done = watched
		}
	}
	p.refresh()
	return done
}

// wait starts the checks whose turn it is, again whenever one ends or the
// checks change, until the phase is decided, max_wait is spent or ctx
// ends.
func (p *Phase) wait(ctx context.Context, budget <-chan time.Time) Verdict {
	for {
		p.mu.Lock()
		v, decided := p.step(ctx)
		p.mu.Unlock()
		if decided {
			return v
		}
		select {
		case <-p.poke:
		case <-budget:
			return p.decideNow(ctx, budgetSpent)
		case <-ctx.Done():
			return p.decideNow(ctx, stopped)
		}
	}
}

// begin resets the phase for a run and reports whether it may start: runs
// must not overlap.
func (p *Phase) begin(runCtx context.Context) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return false
	}
	p.running = true
	p.runCtx = runCtx
	p.started = p.opts.Started
	if p.started.IsZero() {
		p.started = p.clock.Now()
	}
	p.state, p.reason = Pending, ""
	p.startedWith = 0
	for _, c := range p.loops {
		c.reset()
		if c.st.State != Refused {
			p.startedWith++
		}
	}
	// A poke left from before the run means nothing now.
	select {
	case <-p.poke:
	default:
	}
	return true
}

// end records the verdict and logs it.
func (p *Phase) end(v Verdict) {
	p.mu.Lock()
	p.running = false
	p.runCtx = nil
	p.state, p.reason = v.State, v.Reason
	p.mu.Unlock()
	ev := p.log.Info()
	if v.State == Failed {
		ev = p.log.Warn().Str("check", v.Failed)
	}
	ev.Str("verdict", string(v.State)).Str("reason", v.Reason).Msg("phase ended")
}

// step decides the phase if it can, and otherwise starts the checks whose
// turn it is. The caller holds p.mu.
func (p *Phase) step(ctx context.Context) (Verdict, bool) {
	if v, decided := p.verdict(ctx, waiting); decided {
		return v, true
	}
	if p.cfg.Mode == config.Sequential {
		// The next step is the first check that has not passed, once
		// nothing runs.
		for _, c := range p.loops {
			if c.active {
				return Verdict{}, false
			}
		}
		for _, c := range p.loops {
			if c.st.State == Pending {
				if c.done == nil {
					p.start(c)
				}
				break
			}
		}
		return Verdict{}, false
	}
	for _, c := range p.loops {
		if c.st.State == Pending && c.done == nil {
			p.start(c)
		}
	}
	return Verdict{}, false
}

// RunOnce makes one attempt of every check, ignoring initial_delay,
// intervals and success_threshold: `asagent checks --once`. In sequential
// mode it stops at the first check that does not pass. The verdict is
// Passed when every check passed, Failed when one gave up (or has
// failure_threshold 1), and Pending otherwise.
func (p *Phase) RunOnce(ctx context.Context) Verdict {
	if !p.begin(ctx) {
		return Verdict{State: Pending, Reason: "the phase is already running"}
	}
	p.mu.Lock()
	todo := make([]*checkLoop, 0, len(p.loops))
	for _, c := range p.loops {
		if c.st.State == Pending {
			todo = append(todo, c)
		}
	}
	p.mu.Unlock()
	if p.cfg.Mode == config.Sequential {
		for _, c := range todo {
			if !p.once(ctx, c) {
				break
			}
		}
	} else {
		var wg sync.WaitGroup
		for _, c := range todo {
			wg.Go(func() { p.once(ctx, c) })
		}
		wg.Wait()
	}
	v := p.decideNow(ctx, attemptsDone)
	p.end(v)
	return v
}

// once makes RunOnce's one attempt of c and reports whether a sequential
// phase goes on to the next check.
func (p *Phase) once(ctx context.Context, c *checkLoop) bool {
	out := p.attempt(ctx, c, 1)
	if ctx.Err() != nil {
		return false
	}
	st, why := new(streak).judge(out, 1, c.spec.check.FailureThreshold)
	if st != Pending {
		p.settle(c, st, why)
	}
	return st == Passed || st == Refused
}

// Status returns a snapshot of the phase; it is safe to call from any
// goroutine at any time.
func (p *Phase) Status() PhaseStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PhaseStatus{
		Phase:    p.name,
		Mode:     p.cfg.Mode,
		State:    p.state,
		Running:  p.running,
		Reason:   p.reason,
		Started:  p.started,
		MaxWait:  p.cfg.MaxWait.D(),
		Checks:   make([]CheckStatus, 0, len(p.loops)),
		Problems: append([]string(nil), p.problems...),
	}
	for _, c := range p.loops {
		s.Checks = append(s.Checks, c.st)
		switch c.st.State {
		case Passed:
			s.Passed++
		case Failed:
			s.Failed++
		case Refused:
			s.Refused++
		default:
			s.Pending++
		}
	}
	return s
}
