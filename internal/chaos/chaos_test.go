//go:build linux

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// The routes the agent uses, by service.
var (
	asRoutes = []sim.Route{sim.RouteListHooks, sim.RouteShowHook, sim.RouteListHookInstances,
		sim.RouteCallback, sim.RouteListGroups, sim.RouteListInstances}
	metadataRoutes = []sim.Route{sim.RouteToken, sim.RouteMetaData, sim.RouteSecurityKey}
)

const (
	chaosGroup    = "g-chaos"
	chaosInstance = "i-chaos-local"
)

// chaosScenario: the local instance is held by two launch hooks from the
// start, as an instance is at boot; a terminate hook waits for scale-in.
// Hooks default to ABANDON, so a hook that times out shows.
func chaosScenario(hookTimeout int) *sim.Scenario {
	return &sim.Scenario{
		LocalInstance: chaosInstance,
		Groups: []sim.Group{{
			ID: chaosGroup, Name: "chaos",
			Hooks: []sim.Hook{
				{Name: "boot", Type: sim.HookLaunch, DefaultTimeout: hookTimeout, DefaultResult: sim.ResultAbandon},
				{Name: "warm", Type: sim.HookLaunch, DefaultTimeout: hookTimeout, DefaultResult: sim.ResultAbandon},
				{Name: "drain", Type: sim.HookTerminate, DefaultTimeout: hookTimeout, DefaultResult: sim.ResultAbandon},
			},
			Instances: []sim.Instance{{ID: chaosInstance, Held: true}},
		}},
	}
}

// chaosMargin is extend.margin in the chaos runs; see runChaos.
const chaosMargin = "35s"

// faultPlan is one chaos scenario: faults set before the agent starts, and
// what the test does while it runs.
type faultPlan struct {
	name        string
	credLife    time.Duration // sim.Options.CredentialLifetime; 0: 24 h
	setup       func(s *sim.Sim)
	metaDownFor time.Duration // metadata answers 503 this long after start
	staticCreds bool
	// hookTimeout is every hook's default_timeout in seconds; 0: 60, the
	// documented minimum. The boot alone may take 15 s under these faults:
	// with 30 % 5xx, five failures in a row of the discovery call back off
	// 0.4+0.9+1.7+3.6+7.6 s; with 2 s latency, ~7 calls take 14 s. The hold
	// starts before the agent, as at a real boot.
	hookTimeout int
}

func setAll(s *sim.Sim, routes []sim.Route, f sim.Fault) {
	for i, r := range routes {
		f.Seed = f.Seed*31 + int64(i) + 1
		s.SetFault(r, f)
	}
}

// Under every fault the cloud can throw, the real agent still answers every
// hook exactly once, by callback (never by a timeout into the default result
// while it lives), CONTINUE only after its checks passed, and prints no
// secret.
func TestChaosFaults(t *testing.T) {
	needBinary(t)
	plans := []faultPlan{
		{name: "5xx-30pct", setup: func(s *sim.Sim) {
			setAll(s, asRoutes, sim.Fault{ErrorRate: 0.3, Seed: 1})
			setAll(s, metadataRoutes, sim.Fault{ErrorRate: 0.3, Status: 503, Seed: 2})
		}},
		{name: "429-bursts", setup: func(s *sim.Sim) { s.SetThrottle(1, 3) }},
		{name: "latency-2s", setup: func(s *sim.Sim) {
			setAll(s, asRoutes, sim.Fault{Latency: 2 * time.Second})
			setAll(s, metadataRoutes, sim.Fault{Latency: 2 * time.Second})
		}},
		{name: "dropped-connections", setup: func(s *sim.Sim) {
			setAll(s, asRoutes, sim.Fault{DropRate: 0.25, Seed: 3})
			setAll(s, metadataRoutes, sim.Fault{DropRate: 0.25, Seed: 4})
		}},
		{name: "truncated-answers", setup: func(s *sim.Sim) {
			setAll(s, asRoutes, sim.Fault{MalformedRate: 0.15, Seed: 5})
		}},
		{name: "metadata-down-at-boot", metaDownFor: 6 * time.Second},
		{name: "credentials-expire", credLife: 4 * time.Second},
		{name: "static-keys-5xx", staticCreds: true, setup: func(s *sim.Sim) {
			setAll(s, asRoutes, sim.Fault{ErrorRate: 0.3, Seed: 6})
		}},
		{name: "storm", credLife: 6 * time.Second, metaDownFor: 4 * time.Second, setup: func(s *sim.Sim) {
			s.SetThrottle(1, 2)
			setAll(s, asRoutes, sim.Fault{ErrorRate: 0.3, DropRate: 0.1, MalformedRate: 0.05, Seed: 7})
			s.SetFault(sim.RouteCallback, sim.Fault{ErrorRate: 0.3, DropRate: 0.1, Latency: 2 * time.Second, Seed: 8})
		}},
	}
	// All at once, whatever -parallel says: the runs spend their time
	// waiting on hook timeouts, not on the CPU.
	var wg sync.WaitGroup
	for _, p := range plans {
		wg.Go(func() { t.Run(p.name, func(t *testing.T) { runChaos(t, p) }) })
	}
	wg.Wait()
}

func runChaos(t *testing.T, p faultPlan) {
	if p.hookTimeout == 0 {
		p.hookTimeout = 60
	}
	c := newCloud(t, sim.Options{Scenario: chaosScenario(p.hookTimeout), ExtendBy: time.Duration(p.hookTimeout) * time.Second,
		MinHookTimeout: time.Second, CredentialLifetime: p.credLife})
	s := c.sim
	if p.setup != nil {
		p.setup(s)
	}
	if p.metaDownFor > 0 {
		for _, r := range metadataRoutes {
			s.SetFault(r, sim.Fault{ErrorRate: 1, Status: 503})
		}
		clear := time.AfterFunc(p.metaDownFor, func() {
			for _, r := range metadataRoutes {
				s.SetFault(r, sim.Fault{})
			}
		})
		t.Cleanup(func() { clear.Stop() })
	}
	// A margin above the engine's 30 s bound on a re-poll of the held
	// hooks: with less, a re-poll that retries through the faults can
	// hold up a due EXTEND (TestExtendWhilePollsFail shows that bug).
	d := newAgentDir(t, c, agentOpts{staticCreds: p.staticCreds, margin: chaosMargin})
	ready := filepath.Join(d.root, "app-ready")
	script(t, d.launchD, "10-app", "test -e "+ready)
	script(t, d.terminateD, "10-drain", "exit 0")

	var out lockedBuffer
	agent := startAgent(t, d, &out)
	var status strings.Builder
	statusNow := func() {
		b, _ := exec.Command(agentBin, "status", "--config", d.cfg).CombinedOutput()
		status.Write(b)
		b, _ = exec.Command(agentBin, "status", "--json", "--config", d.cfg).CombinedOutput()
		status.Write(b)
	}
	defer func() {
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	}()
	alive := func() {
		if agent.exited() {
			t.Fatalf("the agent exited: %v", agent.err)
		}
	}

	// Pending checks: the agent must keep the hooks alive with EXTEND.
	testutil.Eventually(t, 60*time.Second, 50*time.Millisecond, "an accepted EXTEND", func() bool {
		alive()
		for _, r := range s.RequestsTo(sim.RouteCallback) {
			if r.Result == sim.ResultExtend && r.Status == 204 {
				return true
			}
		}
		return false
	})
	statusNow()
	readyAt := time.Now()
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, 50*time.Millisecond, "INSERVICE", func() bool {
		alive()
		in, ok := s.Instance(chaosGroup, chaosInstance)
		return ok && in.LifeCycleState == sim.StateInService
	})
	if err := s.RemoveInstances(chaosGroup, chaosInstance); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, 50*time.Millisecond, "the instance to leave the group", func() bool {
		alive()
		_, ok := s.Instance(chaosGroup, chaosInstance)
		return !ok
	})
	statusNow()
	agent.stop(t, 20*time.Second)

	got := outcomesOf(s, chaosInstance)
	for _, hook := range []string{"boot", "warm", "drain"} {
		os := got[hook]
		if len(os) != 1 {
			t.Errorf("hook %s: %d outcomes, want exactly 1: %+v", hook, len(os), os)
			continue
		}
		o := os[0]
		if o.By != sim.ByCallback || o.Result != sim.ResultContinue {
			t.Errorf("hook %s: %s by %s, want CONTINUE by callback", hook, o.Result, o.By)
		}
		if o.HookType == sim.HookLaunch && o.Time.Before(readyAt) {
			t.Errorf("hook %s: CONTINUE at %s, before the check could pass (%s)", hook, o.Time, readyAt)
		}
	}
	checkCallbacks(t, s, chaosInstance)
	noSecrets(t, c.secretList(), map[string]string{"agent output": out.String(), "status output": status.String()})
	t.Log(figures(p.name, s))
}

// figures summarises the requests of a run: how many, how many met a fault,
// how many EXTENDs were accepted.
func figures(name string, s *sim.Sim) string {
	reqs := s.Requests()
	faults, throttled, extends := 0, 0, 0
	for _, r := range reqs {
		switch {
		case r.Fault != "":
			faults++
		case r.Status == 429:
			throttled++
		}
		if r.Route == sim.RouteCallback && r.Result == sim.ResultExtend && r.Status == 204 {
			extends++
		}
	}
	return fmt.Sprintf("FIGURES chaos scenario=%s requests=%d faults=%d throttled=%d extends=%d outcomes=%d",
		name, len(reqs), faults, throttled, extends, len(s.Outcomes()))
}

// An EXTEND that is due goes out even while every re-read of the held hooks
// hangs: the hook (30 s, margin 10 s, the least allowed) never times out
// into its default result while the agent lives and its check is pending.
func TestExtendWhilePollsFail(t *testing.T) {
	needBinary(t)
	c := newCloud(t, sim.Options{Scenario: chaosScenario(30), ExtendBy: 30 * time.Second, MinHookTimeout: time.Second})
	s := c.sim
	d := newAgentDir(t, c, agentOpts{staticCreds: true, group: chaosGroup})
	script(t, d.launchD, "10-app", "exit 1")
	var out lockedBuffer
	p := startAgent(t, d, &out)
	defer func() {
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	}()
	testutil.Eventually(t, 20*time.Second, 50*time.Millisecond, "the phase to start", func() bool { return strings.Contains(out.String(), "phase started") })
	// From now on every list of held hooks hangs past the agent's request
	// timeout (each attempt gives up after 5 s and is retried); callbacks
	// still work at once.
	s.SetFault(sim.RouteListHookInstances, sim.Fault{Latency: time.Minute})
	testutil.Eventually(t, 40*time.Second, 50*time.Millisecond, "an accepted EXTEND, or a timeout", func() bool {
		for _, r := range s.RequestsTo(sim.RouteCallback) {
			if r.Result == sim.ResultExtend && r.Status == 204 {
				return true
			}
		}
		return len(outcomesOf(s, chaosInstance)) > 0
	})
	p.stop(t, 20*time.Second)
	for hook, os := range outcomesOf(s, chaosInstance) {
		t.Errorf("hook %s ended while the agent lived and its check was pending: %+v", hook, os)
	}
}
