package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
)

// LatencyOptions shape the latency experiment.
type LatencyOptions struct {
	// Runs is the number of launches measured (100).
	Runs int
	// StateDir holds the agents' state directories (required). The
	// decision writes the state file (with fsync) before it sends the
	// result, so where it lives is part of what is measured.
	StateDir string
	// Log receives the agents' logs; zero: none.
	Log zerolog.Logger
}

// LatencyResult are the measured latencies, in real time.
type LatencyResult struct {
	// LaunchDetect: the agent starts with the launch hook already held;
	// until its first check starts (it reads the group's hooks and the
	// held hooks first).
	LaunchDetect Dist
	// Decision: the last check passes; until CONTINUE reaches the simulator.
	Decision Dist
}

// stepWait is how often the experiment looks at a condition it waits for;
// the latencies themselves are time-stamped where they happen, not here.
const stepWait = time.Millisecond

// Latency measures, in real time, Runs launches of the real engine against
// the simulator served over loopback HTTP, each instance's agent started
// with its launch hook already held: how long until the first check starts,
// and how long from the check passing to CONTINUE arriving.
func Latency(ctx context.Context, o LatencyOptions) (LatencyResult, error) {
	if o.StateDir == "" {
		return LatencyResult{}, errors.New("bench: LatencyOptions.StateDir is required")
	}
	if o.Runs <= 0 {
		o.Runs = 100
	}
	clock := clockwork.NewRealClock()
	s, err := sim.New(sim.Options{Clock: clock, AccessKey: benchAK, SecretKey: benchSK, Scenario: fleetScenario()})
	if err != nil {
		return LatencyResult{}, err
	}
	arrivals := make(chan time.Time, 1)
	srv := httptest.NewServer(continueSpy(s.Handler(), arrivals))
	defer srv.Close()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: benchAK, SecretKey: benchSK})
	if err != nil {
		return LatencyResult{}, err
	}
	client, err := asclient.New(asclient.Options{
		Endpoint: srv.URL, ProjectID: s.ProjectID(), Credentials: creds, Transport: tr,
		Clock: clock, Logger: o.Log, Backoff: backoff.Default(),
	})
	if err != nil {
		return LatencyResult{}, err
	}
	var detect, decide []time.Duration
	for i := range o.Runs {
		if err := ctx.Err(); err != nil {
			return LatencyResult{}, err
		}
		id := fmt.Sprintf("i-latency-%04d", i)
		if err := s.AddInstances(benchGroup, id); err != nil {
			return LatencyResult{}, err
		}
		a := startAgent(agentConfig(o.StateDir, id), agent.Identity{InstanceID: id, GroupID: benchGroup}, virtualDeadlines{client, clock}, clock, rand.Float64, o.Log)
		m, err := waitMarks(ctx, a, func(m phaseMarks) bool { return !m.started.IsZero() })
		if err != nil {
			a.stop()
			return LatencyResult{}, fmt.Errorf("run %d: the launch checks never started: %w", i, err)
		}
		detect = append(detect, m.started.Sub(a.startAt))
		if err := a.signals.Raise(signalReady); err != nil {
			a.stop()
			return LatencyResult{}, err
		}
		var arrived time.Time
		select {
		case arrived = <-arrivals:
		case <-time.After(30 * time.Second):
			a.stop()
			return LatencyResult{}, fmt.Errorf("run %d: no CONTINUE reached the simulator within 30s", i)
		}
		m = a.phase(agent.PhaseLaunch)
		a.stop()
		if m.passed.IsZero() {
			return LatencyResult{}, fmt.Errorf("run %d: CONTINUE arrived but the checks never passed", i)
		}
		decide = append(decide, arrived.Sub(m.passed))
	}
	return LatencyResult{LaunchDetect: distOf(detect), Decision: distOf(decide)}, nil
}

// waitMarks waits, bounded, until the agent's launch marks satisfy ok.
func waitMarks(ctx context.Context, a *benchAgent, ok func(phaseMarks) bool) (phaseMarks, error) {
	end := time.Now().Add(30 * time.Second)
	for {
		m := a.phase(agent.PhaseLaunch)
		if ok(m) {
			return m, nil
		}
		if time.Now().After(end) {
			return m, errors.New("timed out after 30s")
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(stepWait):
		}
	}
}

// continueSpy passes every request to h, and time-stamps each callback
// carrying CONTINUE as it arrives, before the simulator handles it.
func continueSpy(h http.Handler, arrivals chan<- time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/callback") {
			body, err := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if err == nil && bytes.Contains(body, []byte(`"`+sim.ResultContinue+`"`)) {
				select {
				case arrivals <- now:
				default:
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Rows are the latency figures as report rows.
func (r LatencyResult) Rows() []Row {
	return []Row{
		{Figure: "decision latency, real time (last check passes to CONTINUE at the simulator; loopback HTTP)", Value: distString(r.Decision),
			Goal: "p99 <= 50ms", Verdict: verdict(r.Decision.N > 0 && r.Decision.P99 <= 50*time.Millisecond)},
		{Figure: "launch detection, real time (agent starts with the hook held, to its first check)", Value: distString(r.LaunchDetect)},
	}
}
