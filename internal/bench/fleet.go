package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

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

// fleetEvent is something the driver does at a simulated time.
type fleetEvent struct {
	at time.Duration
	do func() error
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
	clock := o.Time.Clock()
	s, err := sim.New(sim.Options{Clock: clock, AccessKey: benchAK, SecretKey: benchSK, Scenario: fleetScenario()})
	if err != nil {
		return FleetResult{}, err
	}
	s.SetThrottle(o.Throttle, o.Burst)
	tr := &handlerTransport{h: s.Handler()}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	appDelay := func() time.Duration {
		return o.AppMin + time.Duration(rng.Int64N(int64(o.AppMax-o.AppMin)+1))
	}

	ids := make([]string, o.Instances)
	for i := range ids {
		ids[i] = fmt.Sprintf("i-fleet-%05d", i)
	}
	agents := map[string]*benchAgent{} // running
	all := map[string]*benchAgent{}
	holdAt := map[string]map[string]time.Time{} // phase -> instance -> when held
	holdAt[agent.PhaseLaunch], holdAt[agent.PhaseTerminate] = map[string]time.Time{}, map[string]time.Time{}
	leaving := map[string]bool{}
	start := clock.Now()
	var events []fleetEvent
	at := func(d time.Duration, f func() error) { events = append(events, fleetEvent{d, f}) }
	wave := func(w int) []string { return ids[w*o.Instances/o.Waves : (w+1)*o.Instances/o.Waves] }

	for w := range o.Waves {
		batch := wave(w)
		t0 := time.Duration(w) * o.WaveEvery
		at(t0, func() error {
			if err := s.AddInstances(benchGroup, batch...); err != nil {
				return err
			}
			for i, id := range batch {
				holdAt[agent.PhaseLaunch][id] = clock.Now()
				boot := time.Duration(rng.Int64N(int64(o.BootSpread) + 1))
				at(clock.Since(start)+boot, func() error {
					client, err := newClient(s.ProjectID(), tr, o.Time, o.Log, o.ClientThrottleDelay)
					if err != nil {
						return err
					}
					jitter := rand.New(rand.NewPCG(o.Seed, uint64(w*o.Instances+i+1)))
					a := startAgent(agentConfig(o.StateDir, id), agent.Identity{InstanceID: id, GroupID: benchGroup}, plainErr{client}, clock, jitter.Float64, o.Log)
					agents[id], all[id] = a, a
					d := appDelay()
					at(clock.Since(start)+d, func() error { return a.signals.Raise(signalReady) })
					return nil
				})
			}
			return nil
		})
	}
	inStart := time.Duration(o.Waves-1)*o.WaveEvery + o.Idle
	for w := range o.Waves {
		batch := wave(w)
		at(inStart+time.Duration(w)*o.WaveEvery, func() error {
			if err := s.RemoveInstances(benchGroup, batch...); err != nil {
				return err
			}
			for _, id := range batch {
				holdAt[agent.PhaseTerminate][id] = clock.Now()
				leaving[id] = true
				a := agents[id]
				if a == nil {
					return fmt.Errorf("instance %s is removed before its agent started: make Idle longer than BootSpread", id)
				}
				at(clock.Since(start)+appDelay(), func() error { return a.signals.Raise(signalDrained) })
			}
			return nil
		})
	}
	// Every hold lasts at most an hour: past that nothing more can happen.
	limit := inStart + time.Duration(o.Waves-1)*o.WaveEvery + time.Hour + 10*time.Minute

	nextProgress := time.Duration(0)
	var runErr error
	for {
		elapsed := clock.Since(start)
		// Fire due events; an event may schedule more.
		for i := 0; i < len(events); {
			if events[i].at > elapsed {
				i++
				continue
			}
			ev := events[i]
			events = append(events[:i], events[i+1:]...)
			if err := ev.do(); err != nil && runErr == nil {
				runErr = err
			}
			i = 0
		}
		// The instance has left the group: its machine goes away.
		if int(elapsed/time.Second) != int((elapsed-o.Step)/time.Second) {
			for id := range leaving {
				if _, in := s.GroupOf(id); !in {
					agents[id].stop()
					delete(agents, id)
					delete(leaving, id)
				}
			}
		}
		if o.Progress != nil && elapsed >= nextProgress {
			o.Progress(fleetProgress(s, elapsed, agents, tr))
			nextProgress += time.Minute
		}
		done := len(events) == 0 && len(agents) == 0
		if done || elapsed >= limit || runErr != nil || ctx.Err() != nil {
			break
		}
		o.Time.Advance(o.Step)
	}
	for _, a := range agents {
		a.stop()
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	r := fleetResult(s, o, all, holdAt)
	r.Simulated, r.Wall = clock.Since(start), time.Since(wallStart)
	return r, runErr
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

// plainErr hands the AS client contexts whose Err does not block.
// clockwork v0.5.0's FakeClock contexts (clockwork.WithTimeout and
// WithDeadline, which the engine uses for its repolls and callbacks) block
// in Err until they are done, and the AS client asks ctx.Err() after a
// failed attempt: on a FakeClock a throttled callback would wait for its
// whole deadline, which the real clock's contexts never do.
type plainErr struct{ c *asclient.Client }

func (p plainErr) HeldHooks(ctx context.Context, groupID, instanceID string) ([]asclient.HeldHook, error) {
	return p.c.HeldHooks(errNow{ctx}, groupID, instanceID)
}

func (p plainErr) ListHooks(ctx context.Context, groupID string) ([]asclient.Hook, error) {
	return p.c.ListHooks(errNow{ctx}, groupID)
}

func (p plainErr) Callback(ctx context.Context, cb asclient.Callback) error {
	return p.c.Callback(errNow{ctx}, cb)
}

// errNow is a context whose Err answers at once: nil until Done is closed.
type errNow struct{ context.Context }

func (e errNow) Err() error {
	select {
	case <-e.Done():
		return e.Context.Err()
	default:
		return nil
	}
}
