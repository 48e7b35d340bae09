package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
)

// BaselineInterval is the heartbeat of the baseline agent: what
// buildkite/lifecycled does while it handles a hook.
const BaselineInterval = 10 * time.Second

// CallsOptions shape the API-calls experiment.
type CallsOptions struct {
	// Hours is the simulated time each case is measured over (6).
	Hours int
	// Step is how far virtual time moves at once (100ms). A timer fires at
	// the end of the step it falls in, so a coarse step stretches every
	// poll interval by half a step on average, and the counts with it.
	Step time.Duration
	// NewTime returns fresh virtual time for each case (required).
	NewTime func() Time
	// StateDir holds the agents' state directories (required).
	StateDir string
	// Log receives the agents' logs; zero: none.
	Log zerolog.Logger
}

// CallRates are the AS calls one instance made per hour of a case.
type CallRates struct {
	Case     string
	Agent    string  // "asagent" or the baseline
	Total    float64 // every AS call
	Extends  float64 // EXTEND callbacks
	Polls    float64 // held-hook lists (list_hook_instances)
	HookList float64 // hook lists (list_hooks)
}

// The cases of the API-calls experiment.
const (
	CaseIdleTerminate   = "idle, group has a terminate hook"
	CaseIdleNoTerminate = "idle, group has no terminate hook"
	CasePending         = "pending (terminate phase, checks never pass)"
)

// Agents of the API-calls experiment.
const (
	AgentOurs     = "asagent"
	AgentBaseline = "heartbeat every 10s"
)

// Calls counts, from the simulator's record, the AS calls one instance
// makes per hour while idle (with and without a terminate hook in its
// group) and while a phase is pending, for asagent with its default
// configuration and for the baseline agent (a poll, or while a hook holds
// the instance an EXTEND, every 10 s), each in its own simulator.
func Calls(ctx context.Context, o CallsOptions) ([]CallRates, error) {
	if o.NewTime == nil || o.StateDir == "" {
		return nil, errors.New("bench: CallsOptions.NewTime and StateDir are required")
	}
	if o.Hours <= 0 {
		o.Hours = 6
	}
	if o.Step <= 0 {
		o.Step = 100 * time.Millisecond
	}
	var out []CallRates
	for i, c := range []struct {
		name     string
		terminal bool // the group has a terminate hook
		pending  bool
		baseline bool
	}{
		{CaseIdleTerminate, true, false, false},
		{CaseIdleTerminate, true, false, true},
		{CaseIdleNoTerminate, false, false, false},
		{CasePending, true, true, false},
		{CasePending, true, true, true},
	} {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := callsCase(o, fmt.Sprintf("i-calls-%d", i), c.terminal, c.pending, c.baseline)
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.name, err)
		}
		r.Case = c.name
		out = append(out, r)
	}
	return out, nil
}

// callsCase runs one case: the instance joins the group and its launch is
// answered at once; idle cases then measure Hours from the first hour on,
// the pending case removes the instance at 30 minutes and measures Hours
// from there while its drain never finishes.
func callsCase(o CallsOptions, id string, terminate, pending, baseline bool) (CallRates, error) {
	vt := o.NewTime()
	clock := vt.Clock()
	sc := fleetScenario()
	if !terminate {
		sc.Groups[0].Hooks = sc.Groups[0].Hooks[:1]
	}
	s, err := sim.New(sim.Options{Clock: clock, AccessKey: benchAK, SecretKey: benchSK, Scenario: sc})
	if err != nil {
		return CallRates{}, err
	}
	tr := &handlerTransport{h: s.Handler()}
	client, err := newClient(s.ProjectID(), tr, vt, o.Log, 0)
	if err != nil {
		return CallRates{}, err
	}
	if err := s.AddInstances(benchGroup, id); err != nil {
		return CallRates{}, err
	}
	hours := time.Duration(o.Hours) * time.Hour
	start := clock.Now()
	var stop func()
	if baseline {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			heartbeat(ctx, client, vt, id)
		}()
		stop = func() { cancel(); <-done }
	} else {
		cfg := agentConfig(o.StateDir, id)
		cfg.Terminate.MaxWait = config.Duration(hours + 2*time.Hour) // pending all along
		a := startAgent(cfg, agent.Identity{InstanceID: id, GroupID: benchGroup}, virtualDeadlines{client, clock}, clock, rand.New(rand.NewPCG(7, 7)).Float64, o.Log)
		if err := a.signals.Raise(signalReady); err != nil {
			return CallRates{}, err
		}
		stop = a.stop
	}
	defer stop()
	vt.Settle() // the agent (or the baseline) starts before the clock moves

	from := start.Add(time.Hour)
	if pending {
		from = start.Add(30 * time.Minute)
	}
	removed := false
	for clock.Now().Before(from.Add(hours)) {
		if pending && !removed && !clock.Now().Before(from) {
			if err := s.RemoveInstances(benchGroup, id); err != nil {
				return CallRates{}, err
			}
			removed = true
		}
		vt.Advance(o.Step)
	}
	if pending {
		if st, ok := s.Instance(benchGroup, id); !ok || st.LifeCycleState != sim.StateRemovingWait {
			return CallRates{}, fmt.Errorf("the instance is not held any more after %s pending (%+v): the case measured something else", hours, st)
		}
	}
	r := CallRates{Agent: AgentOurs}
	if baseline {
		r.Agent = AgentBaseline
	}
	h := float64(o.Hours)
	for _, q := range s.Requests() {
		if !isASRoute(q.Route) || q.Time.Before(from) || !q.Time.Before(from.Add(hours)) {
			continue
		}
		r.Total++
		switch {
		case q.Route == sim.RouteCallback && q.Result == sim.ResultExtend:
			r.Extends++
		case q.Route == sim.RouteListHookInstances:
			r.Polls++
		case q.Route == sim.RouteListHooks:
			r.HookList++
		}
	}
	r.Total, r.Extends, r.Polls, r.HookList = r.Total/h, r.Extends/h, r.Polls/h, r.HookList/h
	return r, nil
}

// heartbeat is the baseline agent: every BaselineInterval it lists the
// hooks holding the instance, or, once a terminate hook holds it, sends
// an EXTEND (the heartbeat) and nothing else; a launch hold is answered
// CONTINUE at once.
func heartbeat(ctx context.Context, c *asclient.Client, vt Time, id string) {
	clock := vt.Clock()
	var handling *asclient.HeldHook
	for {
		if handling != nil {
			_ = c.Callback(ctx, asclient.Callback{GroupID: benchGroup, InstanceID: id, HookName: handling.HookName, ActionKey: handling.ActionKey, Result: asclient.Extend})
		} else if held, err := c.HeldHooks(ctx, benchGroup, id); err == nil {
			for _, h := range held {
				if h.HookName == launchHook {
					_ = c.Callback(ctx, asclient.Callback{GroupID: benchGroup, InstanceID: id, HookName: h.HookName, ActionKey: h.ActionKey, Result: asclient.Continue})
					continue
				}
				h := h
				handling = &h
			}
		}
		t := clock.NewTimer(BaselineInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

// CallRows are the API-call figures as report rows, each beside its
// baseline where there is one.
func CallRows(rates []CallRates) []Row {
	find := func(cs, ag string) (CallRates, bool) {
		for _, r := range rates {
			if r.Case == cs && r.Agent == ag {
				return r, true
			}
		}
		return CallRates{}, false
	}
	var rows []Row
	if r, ok := find(CaseIdleTerminate, AgentOurs); ok {
		row := Row{Figure: "AS calls per instance-hour, " + CaseIdleTerminate, Value: fmt.Sprintf("%.0f", r.Total), Goal: "<= 180", Verdict: verdict(r.Total <= 180)}
		if b, ok := find(CaseIdleTerminate, AgentBaseline); ok {
			row.Baseline = fmt.Sprintf("%.0f", b.Total)
		}
		rows = append(rows, row)
	}
	if r, ok := find(CaseIdleNoTerminate, AgentOurs); ok {
		rows = append(rows, Row{Figure: "AS calls per instance-hour, " + CaseIdleNoTerminate,
			Value: fmt.Sprintf("%.0f (%.0f hook lists)", r.Total, r.HookList), Goal: "0", Verdict: verdict(r.Total == 0)})
	}
	if r, ok := find(CasePending, AgentOurs); ok {
		row := Row{Figure: "EXTENDs per pending hour", Value: fmt.Sprintf("%.2f", r.Extends), Goal: "<= 1", Verdict: verdict(r.Extends <= 1)}
		row2 := Row{Figure: "AS calls per pending hour (EXTENDs plus polls)", Value: fmt.Sprintf("%.0f (%.0f polls)", r.Total, r.Polls)}
		if b, ok := find(CasePending, AgentBaseline); ok {
			row.Baseline = fmt.Sprintf("%.0f", b.Extends)
			row2.Baseline = fmt.Sprintf("%.0f", b.Total)
		}
		rows = append(rows, row, row2)
	}
	return rows
}
