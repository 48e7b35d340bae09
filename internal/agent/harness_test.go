package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/syncbuf"
)

// The engine tests run inside a synctest bubble: the simulator, the real AS
// client, the real checks and the engine all use the bubble's clock, which
// jumps ahead whenever every goroutine is waiting. Hours of hook time pass
// in milliseconds, with no fake-clock bookkeeping. The network between the
// client and the simulator is in memory (net.Pipe), so it lives in the
// bubble too.

const (
	testAK = "AKTESTENGINE0000"
	testSK = "sk-test-engine-secret"
)

// memNet is an in-memory listener that http.Server serves and whose Dial
// http.Transport uses.
type memNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMemNet() *memNet { return &memNet{conns: make(chan net.Conn), closed: make(chan struct{})} }

func (m *memNet) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

func (m *memNet) Close() error { m.once.Do(func() { close(m.closed) }); return nil }

func (m *memNet) Addr() net.Addr { return &net.UnixAddr{Name: "mem", Net: "mem"} }

func (m *memNet) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case m.conns <- server:
		return client, nil
	case <-m.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// harness is one simulated cloud and one agent on one instance.
type harness struct {
	t      *testing.T
	sim    *sim.Sim
	client *asclient.Client
	cfg    *config.Config
	dir    string
	group  string
	local  string

	cancel context.CancelFunc
	done   chan error
	engine *Engine
	logs   syncbuf.Buffer // the agent's log lines, JSON
	obs    Observer       // passed to the engine; nil: none
}

// newHarness builds the simulator (default scenario unless sc is given) and
// a client for it, inside the current bubble.
func newHarness(t *testing.T, sc *sim.Scenario) *harness {
	t.Helper()
	s, err := sim.New(sim.Options{AccessKey: testAK, SecretKey: testSK, Scenario: sc})
	if err != nil {
		t.Fatal(err)
	}
	mn := newMemNet()
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(mn)
	tr := &http.Transport{DialContext: mn.Dial}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		mn.Close()
	})
	creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: testAK, SecretKey: testSK})
	if err != nil {
		t.Fatal(err)
	}
	client, err := asclient.New(asclient.Options{
		Endpoint:    "http://as.sim.invalid",
		ProjectID:   s.ProjectID(),
		Credentials: creds,
		Transport:   tr,
		Logger:      zerolog.New(zerolog.NewTestWriter(t)).With().Str("side", "asclient").Logger(),
		Backoff:     backoff.Default(),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.IncludeDir = filepath.Join(dir, "conf.d")
	cfg.Launch.ScriptsDir = filepath.Join(dir, "launch.d")
	cfg.Terminate.ScriptsDir = filepath.Join(dir, "terminate.d")
	cfg.ControlSocket = filepath.Join(dir, "agent.sock")
	for _, d := range []string{cfg.Launch.ScriptsDir, cfg.Terminate.ScriptsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, sim: s, client: client, cfg: cfg, dir: dir, local: s.LocalInstanceID()}
	if sc := sc; sc != nil && len(sc.Groups) > 0 {
		h.group = sc.Groups[0].ID
	} else {
		h.group = sim.DefaultScenario().Groups[0].ID
	}
	return h
}

// script writes an executable drop-in for phase.
func (h *harness) script(phase, name, body string) {
	h.t.Helper()
	dir := h.cfg.Launch.ScriptsDir
	if phase == PhaseTerminate {
		dir = h.cfg.Terminate.ScriptsDir
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		h.t.Fatal(err)
	}
}

// start runs an engine for the local instance until stop.
func (h *harness) start() { h.startWith(h.client) }

// startWith runs an engine that calls AS through hooks.
func (h *harness) startWith(hooks Hooks) { h.startWithOffset(hooks, nil) }

// startWithOffset runs an engine that calls AS through hooks and corrects
// AS's timestamps by offset (nil: none).
func (h *harness) startWithOffset(hooks Hooks, offset func() (time.Duration, bool)) {
	h.t.Helper()
	log := zerolog.New(io.MultiWriter(zerolog.NewTestWriter(h.t), &h.logs)).With().Str("side", "agent").Logger()
	signals := checks.NewSignalBoard(nil)
	h.engine = NewEngine(h.cfg, Identity{InstanceID: h.local, GroupID: h.group}, Deps{
		Hooks:       hooks,
		NewRunner:   CheckRunners(h.cfg, checks.Options{Log: log, Signals: signals, NoWatch: true}),
		Signals:     signals,
		Log:         log,
		Rand:        func() float64 { return 0.5 },
		ClockOffset: offset,
		Observer:    h.obs,
		ProjectSize: func(ctx context.Context) (asclient.ProjectSize, error) { return h.client.ProjectSize(ctx, h.group) },
		Throttling:  h.client.Throttling,
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.engine.Run(ctx) }()
}

// stop stops the engine and waits for it.
func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// waitFor lets simulated time pass, in steps, until cond holds or limit
// passes. Bounded: it fails the test at the limit.
func (h *harness) waitFor(limit time.Duration, what string, cond func() bool) {
	h.t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			h.t.Fatalf("after %s of simulated time: still waiting for %s", limit, what)
		}
		time.Sleep(time.Second)
		synctest.Wait()
	}
}

// scaleIn waits until answered holds of the local instance have ended,
// removes it from the group as a scale-in does, and waits for its
// terminate hold to end too; each wait is bounded by limit.
func (h *harness) scaleIn(limit time.Duration, answered int) {
	h.t.Helper()
	ended := func() int { // every hold so far, a hook held twice counted twice
		n := 0
		for _, o := range h.sim.Outcomes() {
			if o.InstanceID == h.local {
				n++
			}
		}
		return n
	}
	h.waitFor(limit, "the holds before the scale-in", func() bool { return ended() == answered })
	if err := h.sim.RemoveInstances(h.group, h.local); err != nil {
		h.t.Fatal(err)
	}
	h.waitFor(limit, "the terminate hold", func() bool { return ended() == answered+1 })
}

// outcomes are how each hook's hold on the local instance ended.
func (h *harness) outcomes() map[string]sim.Outcome {
	out := map[string]sim.Outcome{}
	for _, o := range h.sim.Outcomes() {
		if o.InstanceID == h.local {
			out[o.HookType+"/"+o.Hook] = o
		}
	}
	return out
}

// callbacks are the callbacks the agent made for the local instance, in order.
func (h *harness) callbacks() []sim.Request {
	var out []sim.Request
	for _, r := range h.sim.Requests() {
		if r.Route == sim.RouteCallback {
			out = append(out, r)
		}
	}
	return out
}

// checkCallPattern asserts the invariants every test shares, over every
// callback attempt whatever its answer: per hook, no EXTEND once a result
// was attempted, never two different results, and at most one accepted.
func (h *harness) checkCallPattern() {
	h.t.Helper()
	result := map[string]string{} // first result attempted, by hook
	accepted := map[string]int{}
	for _, r := range h.callbacks() {
		if r.Fault != "" || r.Status == http.StatusTooManyRequests {
			continue // refused before the simulator read it: nothing happened
		}
		if r.Hook == "" {
			h.t.Errorf("a callback the simulator could not tie to a hook: %+v", r)
			continue
		}
		switch {
		case r.Result == "EXTEND":
			if result[r.Hook] != "" {
				h.t.Errorf("EXTEND of %s after its result %s", r.Hook, result[r.Hook])
			}
		case result[r.Hook] == "":
			result[r.Hook] = r.Result
		case result[r.Hook] != r.Result:
			h.t.Errorf("hook %s: result %s after %s", r.Hook, r.Result, result[r.Hook])
		}
		if r.Result != "EXTEND" && r.Status < 300 {
			accepted[r.Hook]++
			if accepted[r.Hook] > 1 {
				h.t.Errorf("hook %s answered %d times", r.Hook, accepted[r.Hook])
			}
		}
	}
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }
