package bench

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
)

// Credentials and names of the experiments' simulated cloud.
const (
	benchAK     = "AKBENCHFLEET0000"
	benchSK     = "sk-bench-fleet-secret"
	benchGroup  = "g-bench"
	launchHook  = "launch"
	drainHook   = "drain"
	asEndpoint  = "http://as.bench.invalid" // never resolved: the transport is in memory
	hookTimeout = 3600                      // seconds, the API's default
)

// FleetOptions shape a fleet simulation. Zero fields take the defaults
// named beside them.
type FleetOptions struct {
	// Instances is the number of agents, one per instance (1000).
	Instances int
	// Waves is the number of scale-out waves, and of scale-in waves (4);
	// each adds or removes Instances/Waves instances.
	Waves int
	// WaveEvery is the time between two waves (5m).
	WaveEvery time.Duration
	// Idle is the time between the last scale-out and the first scale-in (30m).
	Idle time.Duration
	// AppMin and AppMax bound how long the application takes to say it is
	// ready after launch, or drained after a removal starts: uniform
	// between them (5s, 90s).
	AppMin, AppMax time.Duration
	// BootSpread: each agent starts at a random time up to this long after
	// its instance is held, as instances boot at different speeds (40s);
	// negative: all of a wave at the same instant.
	BootSpread time.Duration
	// ClientThrottleDelay replaces the AS client's shortest wait after a
	// 429 (asclient.Options.ThrottleDelay), for what-if runs; 0: the
	// client's default.
	ClientThrottleDelay time.Duration
	// Throttle is the project's AS request limit per second (50), with
	// bursts of Burst (Throttle).
	Throttle float64
	Burst    int
	// Step is how far virtual time moves at once (100ms): the resolution
	// of every latency the simulation reports.
	Step time.Duration
	// Time is the virtual time to run on (required).
	Time Time
	// StateDir holds each agent's state directory (required).
	StateDir string
	// Seed makes the application delays and the poll jitter repeatable.
	Seed uint64
	// Progress, if set, is called about once per simulated minute.
	Progress func(FleetProgress)
	// Log receives the agents' logs; zero: none.
	Log zerolog.Logger
}

func (o *FleetOptions) defaults() error {
	if o.Time == nil || o.StateDir == "" {
		return errors.New("bench: FleetOptions.Time and StateDir are required")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Instances <= 0 {
		o.Instances = 1000
	}
	if o.Waves <= 0 {
		o.Waves = 4
	}
	o.Waves = min(o.Waves, o.Instances)
	def(&o.WaveEvery, 5*time.Minute)
	def(&o.Idle, 30*time.Minute)
	def(&o.AppMin, 5*time.Second)
	def(&o.AppMax, 90*time.Second)
	def(&o.Step, 100*time.Millisecond)
	if o.BootSpread == 0 {
		o.BootSpread = 40 * time.Second
	}
	o.BootSpread = max(o.BootSpread, 0)
	if o.AppMax < o.AppMin {
		o.AppMax = o.AppMin
	}
	if o.Throttle <= 0 {
		o.Throttle = 50
	}
	if o.Burst <= 0 {
		o.Burst = int(o.Throttle)
	}
	return nil
}

// FleetProgress is a snapshot of a running fleet simulation.
type FleetProgress struct {
	Elapsed   time.Duration // simulated
	Agents    int           // engines running
	Held      int           // instances held by a hook now
	InService int
	Requests  int64 // AS and metadata requests so far
	Throttled int64 // of which answered 429
}

// String is the progress line of `asagent bench fleet`.
func (p FleetProgress) String() string {
	return fmt.Sprintf("t=%-8s agents=%-5d held=%-5d in_service=%-5d requests=%-8d 429=%d",
		p.Elapsed.Truncate(time.Second), p.Agents, p.Held, p.InService, p.Requests, p.Throttled)
}

// FleetResult is what a fleet simulation measured. The first group are
// correctness figures: every one but Launched and Terminated must be 0.
type FleetResult struct {
	Instances  int
	Launched   int // launch holds answered CONTINUE by our callback
	Terminated int // terminate holds answered CONTINUE by our callback
	// TimedOut holds ended by their hook's timeout (default result).
	TimedOut int
	// Double counts holds answered more than once; Contradicting holds
	// sent two different results; Abandoned holds answered ABANDON (every
	// check passes here, so any ABANDON is wrong).
	Double, Contradicting, Abandoned int
	// Unanswered holds that never ended (the simulation's time ran out).
	Unanswered int

	Simulated time.Duration // simulated time covered
	Wall      time.Duration // real time it took
	Requests  int           // AS requests the simulator answered
	Throttled int           // of which 429
	Extends   int           // EXTEND callbacks accepted
	PeakRate  int           // most AS requests in one simulated second
	MeanRate  float64       // AS requests per simulated second
	// Latencies by the simulation's clock (resolution: Step): hold to the
	// first check (launch: the agent starts with the hook already held),
	// and the last check passing to CONTINUE reaching the simulator.
	LaunchDetect, TerminateDetect, Decision Dist
}

// Correct reports whether the correctness figures are all as they must be.
func (r FleetResult) Correct() bool {
	return r.TimedOut == 0 && r.Double == 0 && r.Contradicting == 0 && r.Abandoned == 0 && r.Unanswered == 0 &&
		r.Launched == r.Instances && r.Terminated == r.Instances
}

// fleetScenario is one group with a launch and a terminate hook, both
// ABANDON after an hour, and no instance yet.
func fleetScenario() *sim.Scenario {
	return &sim.Scenario{Groups: []sim.Group{{
		ID: benchGroup,
		Hooks: []sim.Hook{
			{Name: launchHook, Type: sim.HookLaunch, DefaultResult: sim.ResultAbandon, DefaultTimeout: hookTimeout},
			{Name: drainHook, Type: sim.HookTerminate, DefaultResult: sim.ResultAbandon, DefaultTimeout: hookTimeout},
		},
	}}}
}

// newClient is an AS client for the simulator over tr, on the experiment's clock.
func newClient(projectID string, tr http.RoundTripper, t Time, log zerolog.Logger, throttleDelay time.Duration) (*asclient.Client, error) {
	creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: benchAK, SecretKey: benchSK})
	if err != nil {
		return nil, err
	}
	return asclient.New(asclient.Options{
		Endpoint: asEndpoint, ProjectID: projectID, Credentials: creds, Transport: tr,
		Clock: t.Clock(), Logger: log, Backoff: backoff.Default(), ThrottleDelay: throttleDelay,
	})
}

// Fleet runs Instances agents in this process, each with its own instance
// identity, AS client and state, against one simulator whose project is
// throttled, through scale-out waves, an idle spell and scale-in waves.
// Each agent starts with its launch hook already held, up to BootSpread
// after the hold, as on a real boot; its application says ready (after the
// agent starts), and later drained, after a random delay.
// An agent stops once its instance has left the group.
func Fleet(ctx context.Context, o FleetOptions) (FleetResult, error) {
	if err := o.defaults(); err != nil {
		return FleetResult{}, err
	}
	wallStart := time.Now()
	f, err := newFleetRun(o)
	if err != nil {
		return FleetResult{}, err
	}
	f.schedule()
	runErr := f.drive(ctx)
	for _, a := range f.agents {
		a.stop()
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	r := fleetResult(f.s, o, f.all, f.holdAt)
	r.Simulated, r.Wall = f.clock.Since(f.start), time.Since(wallStart)
	return r, runErr
}

// fleetRun is one fleet simulation in progress: the driver's state.
type fleetRun struct {
	o       FleetOptions
	s       *sim.Sim
	tr      *handlerTransport
	clock   clockwork.Clock
	start   time.Time
	rng     *rand.Rand
	ids     []string
	events  eventQueue
	agents  map[string]*benchAgent          // running
	all     map[string]*benchAgent          // ever started
	holdAt  map[string]map[string]time.Time // phase -> instance -> when held
	leaving map[string]bool                 // removed, agent still running
	inStart time.Duration                   // the first scale-in
}

func newFleetRun(o FleetOptions) (*fleetRun, error) {
	clock := o.Time.Clock()
	s, err := sim.New(sim.Options{Clock: clock, AccessKey: benchAK, SecretKey: benchSK, Scenario: fleetScenario()})
	if err != nil {
		return nil, err
	}
	s.SetThrottle(o.Throttle, o.Burst)
	f := &fleetRun{
		o: o, s: s, tr: &handlerTransport{h: s.Handler()}, clock: clock, start: clock.Now(),
		rng:    rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		ids:    make([]string, o.Instances),
		agents: map[string]*benchAgent{}, all: map[string]*benchAgent{}, leaving: map[string]bool{},
		holdAt:  map[string]map[string]time.Time{agent.PhaseLaunch: {}, agent.PhaseTerminate: {}},
		inStart: time.Duration(o.Waves-1)*o.WaveEvery + o.Idle,
	}
	for i := range f.ids {
		f.ids[i] = fmt.Sprintf("i-fleet-%05d", i)
	}
	return f, nil
}

// elapsed is the simulated time since the start.
func (f *fleetRun) elapsed() time.Duration { return f.clock.Since(f.start) }

// appDelay is how long an application takes to say ready or drained.
func (f *fleetRun) appDelay() time.Duration {
	return f.o.AppMin + time.Duration(f.rng.Int64N(int64(f.o.AppMax-f.o.AppMin)+1))
}

// wave returns the instances of wave w.
func (f *fleetRun) wave(w int) []string {
	return f.ids[w*f.o.Instances/f.o.Waves : (w+1)*f.o.Instances/f.o.Waves]
}

// schedule plans the scale-out and scale-in waves.
func (f *fleetRun) schedule() {
	for w := range f.o.Waves {
		f.events.at(time.Duration(w)*f.o.WaveEvery, func() error { return f.scaleOut(w) })
		f.events.at(f.inStart+time.Duration(w)*f.o.WaveEvery, func() error { return f.scaleIn(w) })
	}
}

// scaleOut adds wave w's instances; each agent starts up to BootSpread later.
func (f *fleetRun) scaleOut(w int) error {
	batch := f.wave(w)
	if err := f.s.AddInstances(benchGroup, batch...); err != nil {
		return err
	}
	for i, id := range batch {
		f.holdAt[agent.PhaseLaunch][id] = f.clock.Now()
		boot := time.Duration(f.rng.Int64N(int64(f.o.BootSpread) + 1))
		f.events.at(f.elapsed()+boot, func() error { return f.boot(id, uint64(w*f.o.Instances+i+1)) })
	}
	return nil
}

// boot starts an instance's agent; its application says ready a while later.
func (f *fleetRun) boot(id string, seed uint64) error {
	client, err := newClient(f.s.ProjectID(), f.tr, f.o.Time, f.o.Log, f.o.ClientThrottleDelay)
	if err != nil {
		return err
	}
	jitter := rand.New(rand.NewPCG(f.o.Seed, seed))
	a := startAgent(agentConfig(f.o.StateDir, id), agent.Identity{InstanceID: id, GroupID: benchGroup},
		virtualDeadlines{client, f.clock}, f.clock, jitter.Float64, f.o.Log)
	f.agents[id], f.all[id] = a, a
	f.events.at(f.elapsed()+f.appDelay(), func() error { return a.signals.Raise(signalReady) })
	return nil
}

// scaleIn removes wave w's instances; each application says drained later.
func (f *fleetRun) scaleIn(w int) error {
	batch := f.wave(w)
	if err := f.s.RemoveInstances(benchGroup, batch...); err != nil {
		return err
	}
	for _, id := range batch {
		f.holdAt[agent.PhaseTerminate][id] = f.clock.Now()
		f.leaving[id] = true
		a := f.agents[id]
		if a == nil {
			return fmt.Errorf("instance %s is removed before its agent started: make Idle longer than BootSpread", id)
		}
		f.events.at(f.elapsed()+f.appDelay(), func() error { return a.signals.Raise(signalDrained) })
	}
	return nil
}

// drive moves virtual time on until every agent has stopped, firing the
// events as they fall due. Time moves a step at a time, or straight to the
// step of the next timer or event when FakeTime says none is due before.
func (f *fleetRun) drive(ctx context.Context) error {
	// Every hold lasts at most an hour: past that nothing more can happen.
	limit := f.inStart + time.Duration(f.o.Waves-1)*f.o.WaveEvery + time.Hour + 10*time.Minute
	nextProgress, lastSecond := time.Duration(0), time.Duration(-1)
	var runErr error
	for {
		elapsed := f.elapsed()
		if fired, err := f.events.runDue(elapsed); fired > 0 {
			f.o.Time.Settle() // agents started, signals raised
			if err != nil && runErr == nil {
				runErr = err
			}
		}
		if sec := elapsed.Truncate(time.Second); sec != lastSecond {
			lastSecond = sec
			f.stopLeft()
		}
		if f.o.Progress != nil && elapsed >= nextProgress {
			f.o.Progress(fleetProgress(f.s, elapsed, f.agents, f.tr))
			nextProgress += time.Minute
		}
		done := f.events.Len() == 0 && len(f.agents) == 0
		if done || elapsed >= limit || runErr != nil || ctx.Err() != nil {
			return runErr
		}
		f.o.Time.Advance(f.stride(elapsed, min(nextProgress, limit)))
	}
}

// stopLeft stops the agents whose instance has left the group: their
// machine goes away.
func (f *fleetRun) stopLeft() {
	for id := range f.leaving {
		if _, in := f.s.GroupOf(id); !in {
			f.agents[id].stop()
			delete(f.agents, id)
			delete(f.leaving, id)
		}
	}
}

// stride is how far to move from elapsed: one step, or as many whole steps
// as reach the step in which the next timer, event or until falls, when
// the time says (Next) that nothing is due before. Timers and events then
// fire at the same step as they would one step at a time.
func (f *fleetRun) stride(elapsed, until time.Duration) time.Duration {
	step := f.o.Step
	nt, ok := f.o.Time.(interface{ Next() (time.Time, bool) })
	if !ok {
		return step
	}
	next := until
	if t, ok := nt.Next(); ok {
		next = min(next, t.Sub(f.start))
	}
	if at, ok := f.events.next(); ok {
		next = min(next, at)
	}
	if len(f.leaving) > 0 {
		next = min(next, elapsed.Truncate(time.Second)+time.Second)
	}
	n := (next - elapsed + step - 1) / step
	return max(1, n) * step
}

// fleetEvent is something the driver does at a simulated time.
type fleetEvent struct {
	at  time.Duration
	seq int // same time: in the order they were planned
	do  func() error
}

// eventQueue is the driver's plan, earliest first.
type eventQueue struct {
	h   eventHeap
	seq int
}

// at plans do for the simulated time d.
func (q *eventQueue) at(d time.Duration, do func() error) {
	q.seq++
	heap.Push(&q.h, fleetEvent{at: d, seq: q.seq, do: do})
}

func (q *eventQueue) Len() int { return q.h.Len() }

// next returns when the earliest event is due.
func (q *eventQueue) next() (time.Duration, bool) {
	if q.h.Len() == 0 {
		return 0, false
	}
	return q.h[0].at, true
}

// runDue runs every event due by elapsed, including those the events plan
// for then, and returns how many ran and the first error.
func (q *eventQueue) runDue(elapsed time.Duration) (int, error) {
	n := 0
	var first error
	for q.h.Len() > 0 && q.h[0].at <= elapsed {
		ev := heap.Pop(&q.h).(fleetEvent)
		n++
		if err := ev.do(); err != nil && first == nil {
			first = err
		}
	}
	return n, first
}

type eventHeap []fleetEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(fleetEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	ev := old[len(old)-1]
	*h = old[:len(old)-1]
	return ev
}

// fleetProgress counts the instances by state.
func fleetProgress(s *sim.Sim, elapsed time.Duration, agents map[string]*benchAgent, tr *handlerTransport) FleetProgress {
	p := FleetProgress{Elapsed: elapsed, Agents: len(agents), Requests: tr.requests.Load(), Throttled: tr.throttled.Load()}
	for id := range agents {
		in, ok := s.Instance(benchGroup, id)
		switch {
		case !ok:
		case in.LifeCycleState == sim.StateInService:
			p.InService++
		case in.LifeCycleState == sim.StatePendingWait || in.LifeCycleState == sim.StateRemovingWait:
			p.Held++
		}
	}
	return p
}

// holdKey names one hook's hold on one instance.
type holdKey struct{ instance, hook string }

// fleetResult reads the simulator's record: outcomes, callbacks, request
// rates; and the agents' marks for the latencies.
func fleetResult(s *sim.Sim, o FleetOptions, all map[string]*benchAgent, holdAt map[string]map[string]time.Time) FleetResult {
	r := FleetResult{Instances: o.Instances}
	outcomes := map[holdKey]int{}
	for _, oc := range s.Outcomes() {
		k := holdKey{oc.InstanceID, oc.Hook}
		outcomes[k]++
		switch {
		case oc.By == sim.ByTimeout:
			r.TimedOut++
		case oc.Result == sim.ResultAbandon:
			r.Abandoned++
		case oc.By == sim.ByCallback && oc.HookType == sim.HookLaunch:
			r.Launched++
		case oc.By == sim.ByCallback && oc.HookType == sim.HookTerminate:
			r.Terminated++
		}
	}
	for _, n := range outcomes {
		if n > 1 {
			r.Double++
		}
	}
	r.Unanswered = 2*o.Instances - len(outcomes)

	first := map[holdKey]string{}
	accepted := map[holdKey]int{}
	continueAt := map[holdKey]time.Time{}
	perSecond := map[int64]int{}
	var firstReq, lastReq time.Time
	for _, q := range s.Requests() {
		if q.Route == sim.RouteUnknown || !isASRoute(q.Route) {
			continue
		}
		r.Requests++
		if firstReq.IsZero() {
			firstReq = q.Time
		}
		lastReq = q.Time
		perSecond[q.Time.Unix()]++
		if q.Status == http.StatusTooManyRequests {
			r.Throttled++
			continue
		}
		if q.Route != sim.RouteCallback || q.Fault != "" || q.Status >= 300 {
			continue
		}
		k := holdKey{q.InstanceID, q.Hook}
		if q.Result == sim.ResultExtend {
			r.Extends++
			continue
		}
		switch f := first[k]; {
		case f == "":
			first[k] = q.Result
		case f != q.Result:
			r.Contradicting++
		}
		if accepted[k]++; accepted[k] == 2 {
			r.Double++
		}
		if q.Result == sim.ResultContinue && continueAt[k].IsZero() {
			continueAt[k] = q.Time
		}
	}
	for _, n := range perSecond {
		r.PeakRate = max(r.PeakRate, n)
	}
	if span := lastReq.Sub(firstReq).Seconds(); span > 0 {
		r.MeanRate = float64(r.Requests) / span
	}

	var launch, term, decide []time.Duration
	for id, a := range all {
		for _, ph := range []struct {
			name, hook string
			out        *[]time.Duration
		}{{agent.PhaseLaunch, launchHook, &launch}, {agent.PhaseTerminate, drainHook, &term}} {
			m := a.phase(ph.name)
			held, ok := holdAt[ph.name][id]
			if ph.name == agent.PhaseLaunch {
				held = a.startAt // the agent starts with the hook already held
			}
			if ok && !m.started.IsZero() {
				*ph.out = append(*ph.out, m.started.Sub(held))
			}
			if c := continueAt[holdKey{id, ph.hook}]; !c.IsZero() && !m.passed.IsZero() {
				decide = append(decide, c.Sub(m.passed))
			}
		}
	}
	r.LaunchDetect, r.TerminateDetect, r.Decision = distOf(launch), distOf(term), distOf(decide)
	return r
}

// isASRoute reports whether the route is an AS API call (not metadata).
func isASRoute(r sim.Route) bool { return len(r) > 3 && r[:3] == "as." }
