package checks

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
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

// spec is one check as the phase will run it: a declarative check or a
// drop-in script, with every default filled.
type spec struct {
	check   config.Check
	script  string // the path of a drop-in script; "" for a declarative check
	refused string // why it may not run; "" when it may
}

// same reports whether two specs run the same check, so that a reload can
// keep a running check's state. Line numbers move when a neighbour in the
// same file is edited; that changes nothing.
func (s spec) same(o spec) bool {
	a, b := s, o
	a.check.Line, b.check.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// runner is one check in a phase. Its fields after prober are guarded by
// the phase's mu.
type runner struct {
	key    string
	spec   spec
	prober prober
	log    zerolog.Logger

	st     CheckStatus
	active bool               // its goroutine runs
	cancel context.CancelFunc // stops its goroutine
	done   chan struct{}      // closed when its goroutine has exited; nil before it starts
	prev   <-chan struct{}    // the done of the runner it replaced, awaited before the first attempt
}

// Phase runs the checks of one lifecycle phase. Build it with NewPhase, run
// it with Run (or RunOnce), change its checks with Reload, and read it with
// Status from any goroutine.
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

	follow   *follow    // set by FromConfig: what Run watches and reloads
	reloadMu sync.Mutex // serializes Reload's directory scans
	poke     chan struct{}
	wg       sync.WaitGroup // the runners' goroutines of the current run

	mu       sync.Mutex
	runners  []*runner // sorted by name, then key
	problems []string
	running  bool
	runCtx   context.Context // while running: the parent of new runners' contexts
	state    State
	reason   string
	started  time.Time
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
	p := &Phase{
		name:  name,
		cfg:   phase,
		opts:  opts,
		clock: opts.Clock,
		log:   opts.Log.With().Str("phase", name).Logger(),
		poke:  make(chan struct{}, 1),
		state: Pending,
	}
	return p
}

// Reload replaces the declarative checks with checks and reads the scripts
// directory again. A check whose spec did not change keeps its state and
// goes on running; a new one joins a running phase; a removed one is stopped
// and leaves it; a changed one starts afresh once its old run has ended. It
// is safe to call at any time, from any goroutine.
func (p *Phase) Reload(checks []config.Check) {
	p.reload(checks, nil)
}

// reload is Reload with errors from loading the checks (bad YAML drop-ins),
// which join the status's problems.
func (p *Phase) reload(checks []config.Check, loadErrs []error) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	specs, problems := p.specs(checks)
	for _, err := range loadErrs {
		problems = append(problems, err.Error())
	}

	p.mu.Lock()
	old := make(map[string]*runner, len(p.runners))
	for _, r := range p.runners {
		old[r.key] = r
	}
	next := make([]*runner, 0, len(specs))
	used := make(map[string]bool, len(specs))
	for _, s := range specs {
		key := s.check.Name + "\x00" + s.check.Source
		for i := 2; used[key]; i++ {
			key = s.check.Name + "\x00" + s.check.Source + "\x00" + strconv.Itoa(i)
		}
		used[key] = true
		if r, ok := old[key]; ok && r.spec.same(s) {
			next = append(next, r)
			delete(old, key)
			continue
		}
		r := p.newRunner(key, s)
		if o, ok := old[key]; ok {
			r.prev = o.stop()
			delete(old, key)
			r.log.Info().Msg("check changed; it starts afresh")
		} else if p.running {
			r.log.Info().Msg("check added")
		}
		next = append(next, r)
	}
	for _, o := range old {
		o.stop()
		if p.running {
			o.log.Info().Msg("check removed")
		}
	}
	p.runners = next
	p.problems = problems
	p.mu.Unlock()
	for _, msg := range problems {
		p.log.Error().Msg(msg)
	}
	p.kick()
}

// specs merges declarative checks and scripts, fills defaults, refuses
// duplicate names and sorts by name (byte-wise, the C locale's order).
func (p *Phase) specs(checks []config.Check) ([]spec, []string) {
	specs := make([]spec, 0, len(checks))
	for _, c := range checks {
		specs = append(specs, spec{check: c})
	}
	scripts, problems := scanScripts(p.cfg.ScriptsDir, p.cfg, p.opts.Insecure, p.log)
	specs = append(specs, scripts...)
	firstSource := map[string]string{}
	for i := range specs {
		s := &specs[i]
		s.check = p.fill(s.check)
		src := s.check.Source
		if src == "" {
			src = "agent config"
		}
		if first, dup := firstSource[s.check.Name]; dup {
			s.refused = "duplicate name: first defined in " + first
			problems = append(problems, fmt.Sprintf("check %q in %s: duplicate name, first defined in %s", s.check.Name, src, first))
			continue
		}
		firstSource[s.check.Name] = src
	}
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].check.Name < specs[j].check.Name })
	return specs, problems
}

// fill applies the loader's defaults (config.Phase.WithDefaults) and then
// guards what must never be zero, so that a hand-built check cannot spin or
// hang.
func (p *Phase) fill(c config.Check) config.Check {
	c = p.cfg.WithDefaults(c)
	if c.Interval <= 0 {
		c.Interval = p.cfg.Interval
	}
	if c.Interval.D() < MinInterval {
		c.Interval = config.Duration(MinInterval)
	}
	if c.Timeout <= 0 {
		c.Timeout = p.cfg.Timeout
		if c.Type == config.TypeHTTP || c.Type == config.TypeTCP {
			c.Timeout = config.Duration(min(netTimeout, p.cfg.Timeout.D()))
		}
	}
	c.SuccessThreshold = max(c.SuccessThreshold, 1)
	c.FailureThreshold = max(c.FailureThreshold, 0)
	c.InitialDelay = max(c.InitialDelay, 0)
	return c
}

// newRunner builds a runner; the caller holds p.mu.
func (p *Phase) newRunner(key string, s spec) *runner {
	r := &runner{
		key:  key,
		spec: s,
		log:  p.log.With().Str("check", s.check.Name).Logger(),
		st: CheckStatus{
			Name:   s.check.Name,
			Type:   s.check.Type,
			Source: s.check.Source,
			State:  Pending,
		},
	}
	if s.refused != "" {
		r.st.State = Refused
		r.st.LastError = s.refused
		r.log.Warn().Str("reason", s.refused).Msg("drop-in refused")
	} else {
		r.prober = newProber(s, p.opts)
	}
	return r
}

// stop cancels the runner's goroutine, if any, and returns a channel that is
// closed once it has exited. The caller holds p.mu.
func (r *runner) stop() <-chan struct{} {
	if r.cancel != nil {
		r.cancel()
	}
	if r.done == nil {
		return nil
	}
	return r.done
}

// reset makes the runner pending again for a new run; the caller holds p.mu.
func (r *runner) reset() {
	if r.spec.refused != "" {
		return
	}
	r.st = CheckStatus{Name: r.st.Name, Type: r.st.Type, Source: r.st.Source, State: Pending}
	r.done, r.cancel, r.active = nil, nil, false
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
// from the call on the phase's clock; 0 means no budget. To resume a phase
// after a restart, pass a config.Phase whose MaxWait is what is left. Every
// check's process has ended when it returns. Each call starts afresh; calls
// must not overlap.
func (p *Phase) Run(ctx context.Context) Verdict {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return Verdict{State: Pending, Reason: "the phase is already running"}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.begin(runCtx)
	p.mu.Unlock()
	p.log.Info().Str("mode", string(p.cfg.Mode)).Dur("max_wait", p.cfg.MaxWait.D()).Msg("phase started")
	if p.follow != nil {
		// Watch first, then read again: nothing can change unseen between
		// NewPhase and now, or between the read and the watch.
		watched, err := Watch(runCtx, p.log, p.refresh, p.follow.dirs...)
		if err != nil {
			p.log.Error().Err(err).Msg("cannot watch the drop-in directories; checks added now are not picked up")
		} else {
			defer func() { <-watched }()
		}
		p.refresh()
	}

	var budget <-chan time.Time
	if p.cfg.MaxWait > 0 {
		t := p.clock.NewTimer(p.cfg.MaxWait.D())
		defer t.Stop()
		budget = t.Chan()
	}
	var v Verdict
	for {
		p.mu.Lock()
		verdict, decided := p.step()
		p.mu.Unlock()
		if decided {
			v = verdict
			break
		}
		select {
		case <-p.poke:
			continue
		case <-budget:
			v = p.budgetSpent()
		case <-ctx.Done():
			v = Verdict{State: Pending, Reason: "stopped: " + ctx.Err().Error()}
		}
		break
	}
	cancel()
	p.wg.Wait()
	p.end(v)
	return v
}

// begin resets the phase for a run; the caller holds p.mu.
func (p *Phase) begin(runCtx context.Context) {
	p.running = true
	p.runCtx = runCtx
	p.started = p.clock.Now()
	p.state, p.reason = Pending, ""
	p.startedWith = 0
	for _, r := range p.runners {
		r.reset()
		if r.st.State != Refused {
			p.startedWith++
		}
	}
	// A poke left from before the run means nothing now.
	select {
	case <-p.poke:
	default:
	}
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
func (p *Phase) step() (Verdict, bool) {
	n := 0
	for _, r := range p.runners {
		switch r.st.State {
		case Failed:
			return Verdict{State: Failed, Failed: r.st.Name, Reason: r.st.Name + ": " + r.st.LastError}, true
		case Refused:
			continue
		}
		n++
	}
	var first *runner // the first check that has not passed
	busy := false
	for _, r := range p.runners {
		if r.st.State == Pending && first == nil {
			first = r
		}
		busy = busy || r.active
	}
	if first == nil {
		if why := p.blocked(); why != "" {
			// Everything that runs has passed, but not everything could
			// run: stay pending until a reload fixes it or max_wait ends.
			return Verdict{}, false
		}
		return Verdict{State: Passed, Reason: fmt.Sprintf("all %d checks passed", n)}, true
	}
	if p.cfg.Mode == config.Sequential {
		if !busy && first.done == nil {
			p.start(first)
		}
		return Verdict{}, false
	}
	for _, r := range p.runners {
		if r.st.State == Pending && r.done == nil {
			p.start(r)
		}
	}
	return Verdict{}, false
}

// start runs r's goroutine; the caller holds p.mu.
func (p *Phase) start(r *runner) {
	ctx, cancel := context.WithCancel(p.runCtx)
	r.cancel = cancel
	r.done = make(chan struct{})
	r.active = true
	p.wg.Go(func() {
		defer func() {
			cancel()
			p.mu.Lock()
			r.active = false
			close(r.done)
			p.mu.Unlock()
			p.kick()
		}()
		p.loop(ctx, r)
	})
}

// budgetSpent is the verdict when max_wait runs out.
func (p *Phase) budgetSpent() Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pending []string
	for _, r := range p.runners {
		if r.st.State == Pending {
			pending = append(pending, r.st.Name)
		}
	}
	v := Verdict{State: Failed, Reason: fmt.Sprintf("max_wait %s spent; still pending: %s", p.cfg.MaxWait.D(), strings.Join(pending, ", "))}
	if len(pending) > 0 {
		v.Failed = pending[0]
	} else if why := p.blocked(); why != "" {
		v.Reason = fmt.Sprintf("max_wait %s spent; %s", p.cfg.MaxWait.D(), why)
	}
	return v
}

// loop runs one check's attempts until it passes, fails, is refused, or ctx
// ends.
func (p *Phase) loop(ctx context.Context, r *runner) {
	if r.prev != nil {
		// The check this one replaced may still be killing its process; a
		// check never runs twice at once.
		select {
		case <-r.prev:
		case <-ctx.Done():
			return
		}
	}
	c := r.spec.check
	if d := c.InitialDelay.D(); d > 0 && !p.sleep(ctx, d, nil) {
		return
	}
	passes, fails := 0, 0
	for n := 1; ; n++ {
		var wake <-chan struct{}
		if w, ok := r.prober.(waker); ok {
			wake = w.wake()
		}
		out := p.attempt(ctx, r, n)
		if ctx.Err() != nil {
			return
		}
		switch out.kind {
		case pass:
			passes, fails = passes+1, 0
			if passes >= c.SuccessThreshold {
				p.settle(r, Passed, "")
				return
			}
		case giveUp:
			p.settle(r, Failed, errString(out.err))
			return
		case refuse:
			p.settle(r, Refused, errString(out.err))
			return
		default:
			passes, fails = 0, fails+1
			if c.FailureThreshold > 0 && fails >= c.FailureThreshold {
				p.settle(r, Failed, fmt.Sprintf("%d %s in a row did not pass; last: %s", fails, plural(fails, "attempt"), errString(out.err)))
				return
			}
		}
		if !p.sleep(ctx, c.Interval.D(), wake) {
			return
		}
	}
}

// sleep waits d on the phase's clock, or until wake is closed; false when
// ctx ended first.
func (p *Phase) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt runs attempt n of r and records it in r's status.
func (p *Phase) attempt(ctx context.Context, r *runner, n int) outcome {
	env := Env{}
	if p.opts.Env != nil {
		env = p.opts.Env()
	}
	if env.Phase == "" {
		env.Phase = p.name
	}
	p.mu.Lock()
	r.st.Running = true
	r.st.Attempts = n
	r.st.LastAttempt = p.clock.Now()
	p.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, r.spec.check.Timeout.D())
	start := time.Now()
	out := r.prober.probe(actx, attempt{n: n, env: env, log: r.log.With().Int("attempt", n).Logger(), grace: p.opts.KillGrace})
	took := time.Since(start)
	cancel()

	p.mu.Lock()
	r.st.Running = false
	r.st.LastDuration = took
	r.st.LastOutput = out.output
	r.st.OutputBytes = out.outputBytes
	r.st.LastError = errString(out.err)
	p.mu.Unlock()
	if ctx.Err() == nil {
		r.log.Debug().Int("attempt", n).Dur("took", took).Bool("passed", out.kind == pass).Str("err", errString(out.err)).Msg("attempt")
	}
	return out
}

// settle records a check's final state for this run.
func (p *Phase) settle(r *runner, s State, why string) {
	p.mu.Lock()
	r.st.State = s
	if why != "" {
		r.st.LastError = why
	}
	attempts := r.st.Attempts
	p.mu.Unlock()
	switch s {
	case Passed:
		r.log.Info().Int("attempts", attempts).Msg("check passed")
	case Refused:
		r.log.Warn().Str("reason", why).Msg("drop-in refused")
	default:
		r.log.Warn().Int("attempts", attempts).Str("reason", why).Msg("check failed")
	}
}

// plural returns word for n == 1 and word+"s" otherwise.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// RunOnce makes one attempt of every check, ignoring initial_delay,
// intervals and success_threshold: `asagent checks --once`. In sequential
// mode it stops at the first check that does not pass. The verdict is
// Passed when every check passed, Failed when one gave up (or has
// failure_threshold 1), and Pending otherwise.
func (p *Phase) RunOnce(ctx context.Context) Verdict {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return Verdict{State: Pending, Reason: "the phase is already running"}
	}
	p.begin(ctx)
	todo := make([]*runner, 0, len(p.runners))
	for _, r := range p.runners {
		if r.st.State == Pending {
			todo = append(todo, r)
		}
	}
	p.mu.Unlock()

	once := func(r *runner) bool {
		out := p.attempt(ctx, r, 1)
		switch {
		case ctx.Err() != nil:
			return false
		case out.kind == pass:
			p.settle(r, Passed, "")
			return true
		case out.kind == giveUp:
			p.settle(r, Failed, errString(out.err))
		case out.kind == refuse:
			p.settle(r, Refused, errString(out.err))
			return true
		case r.spec.check.FailureThreshold == 1:
			p.settle(r, Failed, "1 attempt did not pass; last: "+errString(out.err))
		}
		return false
	}
	if p.cfg.Mode == config.Sequential {
		for _, r := range todo {
			if !once(r) {
				break
			}
		}
	} else {
		var wg sync.WaitGroup
		for _, r := range todo {
			wg.Go(func() { once(r) })
		}
		wg.Wait()
	}

	p.mu.Lock()
	v, decided := p.verdictNow()
	p.mu.Unlock()
	if !decided {
		v = Verdict{State: Pending, Reason: "not every check passed its one attempt"}
		if why := p.blocked(); why != "" {
			v.Reason = why
		}
		if ctx.Err() != nil {
			v.Reason = "stopped: " + ctx.Err().Error()
		}
	}
	p.end(v)
	return v
}

// verdictNow decides from the checks' states without starting any; the
// caller holds p.mu.
// blocked says why the phase cannot pass although its runnable checks may
// have: a refused drop-in (unsafe owner or mode, not a regular file, a
// duplicate name) is a check the user meant to run that did not run, and a
// CONTINUE on the rest would put an unchecked instance into service. A YAML
// drop-in that does not parse is left out instead (its problem shows in
// the status and in `asagent validate`), as the others still load. Empty
// when nothing blocks. Called with p.mu held.
func (p *Phase) blocked() string {
	var refused []string
	for _, r := range p.runners {
		if r.st.State == Refused {
			refused = append(refused, r.st.Name)
		}
	}
	if len(refused) > 0 {
		return "refused, so not run: " + strings.Join(refused, ", ")
	}
	if p.startedWith > 0 && p.countRunnable() == 0 {
		// Every check the phase began with is gone before passing (a
		// script that deleted itself, a directory emptied mid-phase):
		// "all 0 checks passed" must not become a CONTINUE.
		return "every check of the phase was removed before it passed"
	}
	return ""
}

// countRunnable counts the checks that are not refused. Called with p.mu held.
func (p *Phase) countRunnable() int {
	n := 0
	for _, r := range p.runners {
		if r.st.State != Refused {
			n++
		}
	}
	return n
}

func (p *Phase) verdictNow() (Verdict, bool) {
	n, pending := 0, false
	for _, r := range p.runners {
		switch r.st.State {
		case Failed:
			return Verdict{State: Failed, Failed: r.st.Name, Reason: r.st.Name + ": " + r.st.LastError}, true
		case Pending:
			pending = true
		case Passed:
			n++
		}
	}
	if pending || p.blocked() != "" {
		return Verdict{}, false
	}
	return Verdict{State: Passed, Reason: fmt.Sprintf("all %d checks passed", n)}, true
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
		Checks:   make([]CheckStatus, 0, len(p.runners)),
		Problems: append([]string(nil), p.problems...),
	}
	for _, r := range p.runners {
		s.Checks = append(s.Checks, r.st)
		switch r.st.State {
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
