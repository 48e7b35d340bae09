package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime/metrics"
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
	f.stopAll()
	if runErr == nil {
		runErr = ctx.Err()
	}
	f.sampleMemory()
	r := fleetResult(f)
	r.PeakMemory = f.peakMem
	r.Simulated, r.Wall = f.clock.Since(f.start), time.Since(wallStart)
	return r, runErr
}

// fleetRun is one fleet simulation in progress: the driver's state.
type fleetRun struct {
	o                  FleetOptions
	s                  *sim.Sim
	tr                 *handlerTransport
	clock              clockwork.Clock
	start              time.Time
	rng                *rand.Rand
	ids                []string
	events             eventQueue
	agents             map[string]*benchAgent          // running
	all                map[string]*benchAgent          // ever started
	holdAt             map[string]map[string]time.Time // phase -> instance -> when held
	leaving            map[string]bool                 // removed, agent still running
	readyAt, drainedAt map[string]time.Duration        // when each application said so, since the start
	inStart            time.Duration                   // the first scale-in
	peakMem            uint64                          // the most memory seen held by the runtime
}

// sampleMemory notes the memory the Go runtime holds now.
func (f *fleetRun) sampleMemory() {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		f.peakMem = max(f.peakMem, s[0].Value.Uint64())
	}
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
		readyAt: map[string]time.Duration{}, drainedAt: map[string]time.Duration{},
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
	ready := f.elapsed() + f.appDelay()
	f.readyAt[id] = ready
	f.events.at(ready, func() error { return a.signals.Raise(signalReady) })
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
		drained := f.elapsed() + f.appDelay()
		f.drainedAt[id] = drained
		f.events.at(drained, func() error { return a.signals.Raise(signalDrained) })
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
		if elapsed >= nextProgress {
			f.sampleMemory()
			if f.o.Progress != nil {
				f.o.Progress(fleetProgress(f.s, elapsed, f.agents, f.tr))
			}
			nextProgress += time.Minute
		}
		done := f.events.Len() == 0 && len(f.agents) == 0
		if done || elapsed >= limit || runErr != nil || ctx.Err() != nil {
			return runErr
		}
		f.o.Time.Advance(f.stride(elapsed, min(nextProgress, limit)))
	}
}

// stopAll stops the agents still running. Time goes on meanwhile: an
// agent sending a result when stopped waits up to its stop grace, on the
// experiment's clock.
func (f *fleetRun) stopAll() {
	for _, a := range f.agents {
		a.cancel()
	}
	for _, a := range f.agents {
		for stopped := false; !stopped; {
			select {
			case <-a.done:
				stopped = true
			default:
				f.o.Time.Advance(f.o.Step)
			}
		}
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
