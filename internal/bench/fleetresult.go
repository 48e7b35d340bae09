package bench

import (
	"net/http"
	"time"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/sim"
)

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
	// ByRoute counts the AS requests, and the 429s, of each route.
	ByRoute  map[sim.Route]SecondCount
	Extends  int     // EXTEND callbacks accepted
	PeakRate int     // most AS requests in one simulated second
	MeanRate float64 // AS requests per simulated second
	// Latencies by the simulation's clock (resolution: Step): hold to the
	// first check (launch: the agent starts with the hook already held),
	// and the last check passing to CONTINUE reaching the simulator.
	LaunchDetect, TerminateDetect, Decision Dist

	// Limit is the project's request limit the run had (requests/s), and
	// HookTimeout the hooks' default_timeout.
	Limit       float64
	HookTimeout time.Duration
	// PerSecond counts the AS requests of each simulated second of the run,
	// from its start.
	PerSecond []SecondCount
	// LaunchWaves and TerminateWaves are the scale-out and scale-in waves,
	// in order.
	LaunchWaves, TerminateWaves []Wave
	// IdleRate is the fleet's mean AS request rate (requests/s) over
	// IdleSpell: from the last launch wave answered to the first scale-in,
	// when every instance is in service and nothing holds any.
	IdleRate  float64
	IdleSpell time.Duration
	// PeakMemory is the most memory the Go runtime held, sampled every
	// simulated minute: the bench's own footprint, not an agent's.
	PeakMemory uint64
}

// SecondCount is one simulated second's AS requests, and how many of them
// were answered 429.
type SecondCount struct{ Requests, Throttled int }

// Wave is one scale-out or scale-in wave of a fleet simulation.
type Wave struct {
	Instances int
	Start     time.Duration // since the run's start
	// Answered is the time from Start until every hold of the wave was
	// answered CONTINUE by its agent; 0 when some never was.
	Answered time.Duration
	// Calls is the least time the wave's API calls take at the project's
	// limit: two per instance (the poll that sees the hold, the answer).
	Calls time.Duration
	// App is when (since Start) the last of the wave's applications said
	// it was ready (launch) or drained (terminate): no agent may answer
	// before its application does.
	App time.Duration
}

// Floor is the least time the wave can take: its calls at the limit, or
// its slowest application, whichever is longer.
func (w Wave) Floor() time.Duration { return max(w.Calls, w.App) }

// Correct reports whether the correctness figures are all as they must be.
func (r FleetResult) Correct() bool {
	return r.TimedOut == 0 && r.Double == 0 && r.Contradicting == 0 && r.Abandoned == 0 && r.Unanswered == 0 &&
		r.Launched == r.Instances && r.Terminated == r.Instances
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

// fleetResult reads the simulator's record (outcomes, callbacks, request
// rates) and the agents' marks for the latencies.
func fleetResult(f *fleetRun) FleetResult {
	r := FleetResult{Instances: f.o.Instances, Limit: f.o.Throttle, HookTimeout: hookTimeout * time.Second, ByRoute: map[sim.Route]SecondCount{}}
	continued := r.countOutcomes(f.s.Outcomes())
	r.Unanswered = 2*f.o.Instances - len(continued.holds)
	continueAt := r.countRequests(f)
	r.waves(f, continued.at)
	r.idleRate(f)
	r.latencies(f, continueAt)
	return r
}

// outcomeCount is how the holds ended: every hold seen, and when each
// was answered CONTINUE by its agent.
type outcomeCount struct {
	holds map[holdKey]int
	at    map[holdKey]time.Time
}

// countOutcomes counts how the holds ended.
func (r *FleetResult) countOutcomes(outcomes []sim.Outcome) outcomeCount {
	c := outcomeCount{holds: map[holdKey]int{}, at: map[holdKey]time.Time{}}
	for _, oc := range outcomes {
		k := holdKey{oc.InstanceID, oc.Hook}
		if c.holds[k]++; c.holds[k] == 2 {
			r.Double++
		}
		switch {
		case oc.By == sim.ByTimeout:
			r.TimedOut++
		case oc.Result == sim.ResultAbandon:
			r.Abandoned++
		case oc.By == sim.ByCallback && oc.HookType == sim.HookLaunch:
			r.Launched++
			c.at[k] = oc.Time
		case oc.By == sim.ByCallback && oc.HookType == sim.HookTerminate:
			r.Terminated++
			c.at[k] = oc.Time
		}
	}
	return c
}

// countRequests counts the AS requests per second and the callbacks that
// contradict or repeat an answer, and returns when each hold's first
// accepted CONTINUE arrived.
func (r *FleetResult) countRequests(f *fleetRun) map[holdKey]time.Time {
	first := map[holdKey]string{}
	accepted := map[holdKey]int{}
	continueAt := map[holdKey]time.Time{}
	var firstReq, lastReq time.Time
	for _, q := range f.s.Requests() {
		if !isASRoute(q.Route) {
			continue
		}
		r.Requests++
		if firstReq.IsZero() {
			firstReq = q.Time
		}
		lastReq = q.Time
		sec := r.second(q.Time.Sub(f.start))
		sec.Requests++
		route := r.ByRoute[q.Route]
		route.Requests++
		if q.Status == http.StatusTooManyRequests {
			r.Throttled++
			sec.Throttled++
			route.Throttled++
			r.ByRoute[q.Route] = route
			continue
		}
		r.ByRoute[q.Route] = route
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
	for _, s := range r.PerSecond {
		r.PeakRate = max(r.PeakRate, s.Requests)
	}
	if span := lastReq.Sub(firstReq).Seconds(); span > 0 {
		r.MeanRate = float64(r.Requests) / span
	}
	return continueAt
}

// second returns the count of the second that d (since the start) falls in.
func (r *FleetResult) second(d time.Duration) *SecondCount {
	i := max(0, int(d/time.Second))
	for len(r.PerSecond) <= i {
		r.PerSecond = append(r.PerSecond, SecondCount{})
	}
	return &r.PerSecond[i]
}

// waves times each wave: from its start until its last hold was answered.
func (r *FleetResult) waves(f *fleetRun, continued map[holdKey]time.Time) {
	for w := range f.o.Waves {
		ids := f.wave(w)
		calls := time.Duration(2 * float64(len(ids)) / f.o.Throttle * float64(time.Second))
		for _, ph := range []struct {
			hook  string
			start time.Duration
			app   map[string]time.Duration
			out   *[]Wave
		}{{launchHook, time.Duration(w) * f.o.WaveEvery, f.readyAt, &r.LaunchWaves}, {drainHook, f.inStart + time.Duration(w)*f.o.WaveEvery, f.drainedAt, &r.TerminateWaves}} {
			wave := Wave{Instances: len(ids), Start: ph.start, Calls: calls}
			var last time.Time
			for _, id := range ids {
				wave.App = max(wave.App, ph.app[id]-ph.start)
				at, ok := continued[holdKey{id, ph.hook}]
				if !ok {
					last = time.Time{}
					break
				}
				if at.After(last) {
					last = at
				}
			}
			if !last.IsZero() {
				wave.Answered = last.Sub(f.start) - ph.start
			}
			*ph.out = append(*ph.out, wave)
		}
	}
}

// idleRate is the mean request rate from the last launch wave answered to
// the first scale-in.
func (r *FleetResult) idleRate(f *fleetRun) {
	from := time.Duration(0)
	for _, w := range r.LaunchWaves {
		if w.Answered == 0 {
			return
		}
		from = max(from, w.Start+w.Answered)
	}
	lo, hi := int(from/time.Second)+1, int(f.inStart/time.Second)
	if hi <= lo || hi > len(r.PerSecond) {
		return
	}
	n := 0
	for _, s := range r.PerSecond[lo:hi] {
		n += s.Requests
	}
	r.IdleSpell = time.Duration(hi-lo) * time.Second
	r.IdleRate = float64(n) / float64(hi-lo)
}

// latencies are the detection and decision times from the agents' marks.
func (r *FleetResult) latencies(f *fleetRun, continueAt map[holdKey]time.Time) {
	var launch, term, decide []time.Duration
	for id, a := range f.all {
		for _, ph := range []struct {
			name, hook string
			out        *[]time.Duration
		}{{agent.PhaseLaunch, launchHook, &launch}, {agent.PhaseTerminate, drainHook, &term}} {
			m := a.phase(ph.name)
			held, ok := f.holdAt[ph.name][id]
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
}

// isASRoute reports whether the route is an AS API call (not metadata).
func isASRoute(r sim.Route) bool { return len(r) > 3 && r[:3] == "as." }
