//go:build linux

package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// killSeed and killIterations can be changed from the environment to
// replay a failure or to run longer: ASAGENT_CHAOS_SEED, ASAGENT_CHAOS_KILLS.
const (
	defaultKillSeed = 20261127
	// defaultKills is the number of kill -9s, one per phase run: 25
	// lifecycles (launch and terminate) in three parallel workers keep the
	// suite near a minute.
	defaultKills = 50
	killWorkers  = 4
	// faultyWorker is the worker whose simulator also fails AS calls: 20 %
	// 500s, 10 % dropped connections, 10 % answers cut short after the
	// state changed (so a CONTINUE can take effect while the agent sees an
	// error, and its retry meets a hook that no longer holds).
	faultyWorker = 3
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// killScenario: one group with two launch and two terminate hooks that last
// long enough never to time out during a run (default ABANDON, so one
// would show).
func killScenario() *sim.Scenario {
	return &sim.Scenario{
		LocalInstance: "i-kill-0",
		Groups: []sim.Group{{
			ID: "g-kill", Name: "kill",
			Hooks: []sim.Hook{
				{Name: "boot", Type: sim.HookLaunch, DefaultTimeout: 300, DefaultResult: sim.ResultAbandon},
				{Name: "warm", Type: sim.HookLaunch, DefaultTimeout: 300, DefaultResult: sim.ResultAbandon},
				{Name: "drain", Type: sim.HookTerminate, DefaultTimeout: 300, DefaultResult: sim.ResultAbandon},
				{Name: "flush", Type: sim.HookTerminate, DefaultTimeout: 300, DefaultResult: sim.ResultAbandon},
			},
		}},
	}
}

// killStats counts what the kill suite did, for the figures.
type killStats struct {
	mu                                        sync.Mutex
	kills, stops, corrupted, lifecycles, outs int
	maxRSS, faults                            int
}

func (k *killStats) add(kills, stops, corrupted, outs, rss int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kills += kills
	k.stops += stops
	k.corrupted += corrupted
	k.outs += outs
	k.lifecycles++
	k.maxRSS = max(k.maxRSS, rss)
}

// kill -9 at a random point of each phase (sometimes a second kill or a
// clean SIGTERM after the restart; one worker's AS also fails, drops and
// truncates calls), then a restart: every hook of
// every lifecycle gets exactly one result, by callback, CONTINUE, never a
// contradicting one; every phase completes. Every fifth restart finds its
// state file truncated or replaced by garbage, and the agent recovers from
// the held-hook list with a warning. Seeded: ASAGENT_CHAOS_SEED replays a run.
func TestKill9(t *testing.T) {
	needBinary(t)
	seed := uint64(envInt("ASAGENT_CHAOS_SEED", defaultKillSeed))
	kills := envInt("ASAGENT_CHAOS_KILLS", defaultKills)
	lifecycles := (kills + 1) / 2
	t.Logf("seed %d, %d lifecycles, at least %d kills", seed, lifecycles, 2*lifecycles)
	var stats killStats
	var wg sync.WaitGroup
	for w := range killWorkers {
		n := lifecycles / killWorkers
		if w < lifecycles%killWorkers {
			n++
		}
		wg.Go(func() {
			t.Run(fmt.Sprintf("worker%d", w), func(t *testing.T) {
				killWorker(t, rand.New(rand.NewPCG(seed, uint64(w))), w, n, &stats)
			})
		})
	}
	wg.Wait()
	t.Logf("FIGURES kill9 seed=%d lifecycles=%d kills=%d sigterm_stops=%d corrupt_state_starts=%d faults_injected=%d outcomes=%d max_agent_rss_kib=%d",
		seed, stats.lifecycles, stats.kills, stats.stops, stats.corrupted, stats.faults, stats.outs, stats.maxRSS)
	if stats.kills < kills {
		t.Errorf("%d kills, want at least %d", stats.kills, kills)
	}
}

// killWorker runs n lifecycles against its own simulator, one instance each.
func killWorker(t *testing.T, rng *rand.Rand, worker, n int, stats *killStats) {
	c := newCloud(t, sim.Options{Scenario: killScenario(), ExtendBy: time.Minute, MinHookTimeout: time.Second})
	s := c.sim
	if worker == faultyWorker {
		setAll(s, asRoutes, sim.Fault{ErrorRate: 0.2, DropRate: 0.1, MalformedRate: 0.1, Seed: int64(rng.Uint64() >> 1)})
	}
	var out lockedBuffer
	restarts, corruptedAll := 0, 0
	defer func() {
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	}()
	for i := range n {
		id := fmt.Sprintf("i-kill-%d-%03d", worker, i)
		s.SetLocalInstance(id)
		d := newAgentDir(t, c, agentOpts{group: "g-kill"})
		// The checks pass on their second attempt overall, so a phase takes
		// about a second: kills land before, during and after the checks
		// and the callbacks. The count survives restarts.
		count := filepath.Join(d.root, "attempts")
		for _, dir := range []string{d.launchD, d.terminateD} {
			script(t, dir, "10-check", fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; [ $n -ge 2 ]`, count))
		}
		kills, stops, corrupted, rss := 0, 0, 0, 0
		phase := func(name string, begin func() error, done func() bool) {
			_ = os.Remove(count)
			if err := begin(); err != nil {
				t.Fatal(err)
			}
			// One kill per phase; half the time a second interruption
			// (a kill or a SIGTERM) after the restart.
			p := startAgent(t, d, &out)
			for k := 0; k < 1 || (k < 2 && rng.IntN(2) == 0); k++ {
				// The random wait is the fault's schedule, not synchronisation.
				time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
				rss = max(rss, p.peakRSS())
				if k > 0 && rng.IntN(2) == 0 {
					// Now and then a clean stop instead of the second kill:
					// on_stop hold must leave the hooks held for the next
					// start, as a kill does.
					p.stop(t, 15*time.Second)
					stops++
				} else {
					p.kill()
					kills++
				}
				restarts++
				corrupt := restarts%5 == 0
				if corrupt {
					corrupted++
					corruptState(t, d, rng)
				}
				p = startAgent(t, d, &out)
				if corrupt {
					// The start must say so before anything else happens to
					// it (a kill between the load and the log line would
					// lose the line, not the recovery).
					testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, "the warning about the corrupt state file", func() bool {
						return strings.Count(out.String(), corruptWarning) == corruptedAll+corrupted
					})
				}
			}
			testutil.Eventually(t, 30*time.Second, 50*time.Millisecond, id+": the "+name+" phase to complete", func() bool {
				if p.exited() {
					t.Fatalf("the agent exited: %v", p.err)
				}
				return done()
			})
			rss = max(rss, p.peakRSS())
			p.kill()
		}
		phase("launch", func() error { return s.AddInstances("g-kill", id) }, func() bool {
			in, ok := s.Instance("g-kill", id)
			return ok && in.LifeCycleState == sim.StateInService
		})
		phase("terminate", func() error { return s.RemoveInstances("g-kill", id) }, func() bool {
			_, ok := s.Instance("g-kill", id)
			return !ok
		})

		got := outcomesOf(s, id)
		outs := 0
		for _, hook := range []string{"boot", "warm", "drain", "flush"} {
			os := got[hook]
			outs += len(os)
			if len(os) != 1 || os[0].By != sim.ByCallback || os[0].Result != sim.ResultContinue {
				t.Errorf("%s hook %s: outcomes %+v, want one CONTINUE by callback", id, hook, os)
			}
		}
		checkCallbacks(t, s, id)
		stats.add(kills, stops, corrupted, outs, rss)
		corruptedAll += corrupted
	}
	// Each corrupt state file met one start, which said so once.
	if n := strings.Count(out.String(), corruptWarning); n != corruptedAll {
		t.Errorf("%d warnings about an unreadable state file after %d corrupt starts", n, corruptedAll)
	}
	noSecrets(t, c.secretList(), map[string]string{"agent output": out.String()})
	faults := 0
	for _, r := range s.Requests() {
		if r.Fault != "" {
			faults++
		}
	}
	stats.mu.Lock()
	stats.faults += faults
	stats.mu.Unlock()
}

// corruptWarning is what the agent logs when its state file is unreadable.
const corruptWarning = "recovering from the held-hook list"

// corruptState truncates the state file, or replaces it with garbage, or
// with an empty file, as a crash during a write or a bad disk would.
func corruptState(t *testing.T, d agentDir, rng *rand.Rand) {
	t.Helper()
	p := filepath.Join(d.state, "state.json")
	b, err := os.ReadFile(p)
	if err != nil {
		b = []byte(`{"version":1}`)
	}
	switch rng.IntN(3) {
	case 0:
		b = b[:len(b)/2]
	case 1:
		b = []byte("\x00\xffnot json at all{{{")
	case 2:
		b = nil
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
