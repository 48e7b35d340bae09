package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/syncbuf"
)

// fakeThrottling is a client's throttle count that a test moves by hand.
type fakeThrottling struct {
	count     uint64
	notBefore time.Time
}

func (f *fakeThrottling) read() (uint64, time.Time) { return f.count, f.notBefore }

// newTestPacer is a pacer with the default poll settings, a project of
// size (nil: its size unknown), and the throttle count th.
func newTestPacer(t *testing.T, size *asclient.ProjectSize, th *fakeThrottling, logs *syncbuf.Buffer) (*pacer, *[2]string) {
	t.Helper()
	deps := Deps{Throttling: th.read, Rand: func() float64 { return 0.5 }}
	if size != nil {
		deps.ProjectSize = func(context.Context) (asclient.ProjectSize, error) { return *size, nil }
	}
	published := &[2]string{}
	p := newPacer(config.Default().Poll, deps, zerolog.New(logs), func(pace, warning string) { published[0], published[1] = pace, warning })
	return p, published
}

// The idle pace is the configured interval until the project is large
// enough that its idle agents would use more than their share of
// poll.project_rate (a quarter of 50/s); then every agent's polls and
// hook-list reads stretch in proportion to the project's size.
func TestIdlePaceFollowsProjectSize(t *testing.T) {
	cases := []struct {
		name        string
		size        *asclient.ProjectSize
		idle, hooks time.Duration
	}{
		{"size unknown", nil, 25 * time.Second, 5 * time.Minute},
		{"one instance", &asclient.ProjectSize{Groups: 1, Instances: 1}, 25 * time.Second, 5 * time.Minute},
		// 250 instances polling every 25 s and reading 2 lists every 5 min
		// make 11.7 requests/s: within 12.5.
		{"250 instances", &asclient.ProjectSize{Groups: 1, Instances: 250}, 25 * time.Second, 5 * time.Minute},
		// 1000 x (1/25 + 2/300) / 12.5 = 3.733
		{"1000 instances", &asclient.ProjectSize{Groups: 1, Instances: 1000}, 93333 * time.Millisecond, 1120 * time.Second},
		// 10000 instances: ten times slower again.
		{"10000 instances", &asclient.ProjectSize{Groups: 1, Instances: 10000}, 933333 * time.Millisecond, 11200 * time.Second},
		// 150 groups: two pages of groups, so three calls per read.
		{"10000 instances in 150 groups", &asclient.ProjectSize{Groups: 150, Instances: 10000}, 1000 * time.Second, 12000 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			p, published := newTestPacer(t, tc.size, &fakeThrottling{}, &logs)
			p.learn(context.Background(), nil)
			now := time.Now()
			if got := p.idle(now); !near(got, tc.idle) {
				t.Errorf("idle = %s, want %s", got, tc.idle)
			}
			if got := p.hooks(now); !near(got, tc.hooks) {
				t.Errorf("hooks = %s, want %s", got, tc.hooks)
			}
			if d, slowed := p.launch(now); d != 2*time.Second || slowed {
				t.Errorf("launch = %s (slowed %v), want 2s: the launch pace does not depend on the project's size", d, slowed)
			}
			if !strings.Contains(published[0], "idle polls every") {
				t.Errorf("status pace = %q", published[0])
			}
		})
	}
}

// near reports whether got is within a millisecond of want.
func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

// Each throttled answer cuts the agent's rate by throttleCut (down to
// 1/maxThrottleFactor), and the rate then climbs back linearly, a full
// rate per throttleRecovery. An idle wait is the time to earn one interval
// at that climbing rate, so a 429 delays even a long idle interval by less
// than the recovery, never by hours; a launch poll waits its interval
// times the slowdown, as long as a wave of booting agents needs.
func TestThrottlingSlowsThePace(t *testing.T) {
	t0 := time.Now()
	cases := []struct {
		name      string
		throttled uint64        // 429s seen at t0
		at        time.Duration // after t0
		size      *asclient.ProjectSize
		idle      time.Duration
		launch    time.Duration
	}{
		{"no 429", 0, 0, nil, 25 * time.Second, 2 * time.Second},
		// rate 1/4 + t/900 s: 25 s are earned after 84.2 s
		{"one 429", 1, 0, nil, 84233 * time.Millisecond, 8 * time.Second},
		// a quarter of the recovery on, the rate is 1/2 + t/900 s
		{"one 429, 225s on", 1, throttleRecovery / 4, nil, 47494 * time.Millisecond, 4 * time.Second},
		{"one 429, recovered", 1, throttleRecovery * 3 / 4, nil, 25 * time.Second, 2 * time.Second},
		// rate 1/16 + t/900 s
		{"a burst of 429s", 100, 0, nil, 163213 * time.Millisecond, 32 * time.Second},
		// 933.3 s at N=10000: the climb to the full rate takes 675 s and
		// earns 421.9 s, so 1186.5 s in all.
		{"one 429, large project", 1, 0, &asclient.ProjectSize{Groups: 1, Instances: 10000}, 1186458 * time.Millisecond, 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			th := &fakeThrottling{}
			p, _ := newTestPacer(t, tc.size, th, &logs)
			p.learn(context.Background(), nil)
			p.observe(t0)
			th.count = tc.throttled
			p.observe(t0)
			now := t0.Add(tc.at)
			if got := p.idle(now); !within(got, tc.idle, 2*time.Millisecond) {
				t.Errorf("idle = %s, want %s", got, tc.idle)
			}
			got, slowed := p.launch(now)
			if !within(got, tc.launch, 2*time.Millisecond) || slowed != (tc.launch != 2*time.Second) {
				t.Errorf("launch = %s (slowed %v), want %s", got, slowed, tc.launch)
			}
			if back := p.gate(t0); tc.throttled > 0 && back <= 0 {
				t.Error("no back-off right after a 429")
			}
		})
	}
}

// Retry-After holds the polls back until it has passed.
func TestRetryAfterHoldsPolls(t *testing.T) {
	var logs syncbuf.Buffer
	t0 := time.Now()
	th := &fakeThrottling{notBefore: t0.Add(time.Hour)}
	p, _ := newTestPacer(t, nil, th, &logs)
	if got := p.hold(t0, time.Second); got != time.Hour {
		t.Errorf("hold under Retry-After = %s, want 1h", got)
	}
	if got := p.hold(t0.Add(2*time.Hour), time.Second); got != time.Second {
		t.Errorf("hold after Retry-After passed = %s, want 1s", got)
	}
}

func within(got, want, tol time.Duration) bool {
	d := got - want
	return d > -tol && d < tol
}

// A terminate hook whose default_timeout holds fewer than three of the
// longest idle waits is named in a warning with its numbers, in the status
// and once in the log (again only when the set of short hooks changes);
// launch hooks and long terminate hooks are not.
func TestShortTerminateHookWarns(t *testing.T) {
	var logs syncbuf.Buffer
	size := &asclient.ProjectSize{Groups: 1, Instances: 1000}
	p, published := newTestPacer(t, size, &fakeThrottling{}, &logs)
	hooks := []asclient.Hook{
		{Name: "short-drain", Type: asclient.HookTerminate, DefaultTimeout: 5 * time.Minute},
		{Name: "long-drain", Type: asclient.HookTerminate, DefaultTimeout: time.Hour},
		{Name: "boot", Type: asclient.HookLaunch, DefaultTimeout: time.Minute},
	}
	p.learn(context.Background(), hooks)
	// The longest idle wait is 93.3 s x 1.2 = 112 s: 300 s holds 2.7 of them.
	w := published[1]
	for _, want := range []string{"terminate hook short-drain", "default_timeout 5m0s holds 2.7 idle polls", "one every 1m52s", "at least 6m0s", "poll.project_rate"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, "long-drain") || strings.Contains(w, "boot") {
		t.Errorf("warning names a hook that is long enough or not a terminate hook: %q", w)
	}
	p.learn(context.Background(), hooks)
	if n := strings.Count(logs.String(), "short-drain"); n != 1 {
		t.Errorf("the warning was logged %d times over two reads, want once:\n%s", n, logs.String())
	}
	size.Instances = 10 // the pace is the configured one again: 30 s at most
	p.learn(context.Background(), hooks)
	if published[1] != "" {
		t.Errorf("warning %q after the project shrank", published[1])
	}
}

// A project size that cannot be read keeps the last one known, and the
// failure is logged once, not at every read.
func TestProjectSizeFailureKeepsTheLastSize(t *testing.T) {
	var logs syncbuf.Buffer
	size, fail := asclient.ProjectSize{Groups: 1, Instances: 10000}, false
	p := newPacer(config.Default().Poll, Deps{
		Throttling: (&fakeThrottling{}).read,
		ProjectSize: func(context.Context) (asclient.ProjectSize, error) {
			if fail {
				return asclient.ProjectSize{}, errors.New("refused")
			}
			return size, nil
		},
	}, zerolog.New(&logs), func(string, string) {})
	p.learn(context.Background(), nil)
	want := p.idle(time.Now())
	fail = true
	p.learn(context.Background(), nil)
	p.learn(context.Background(), nil)
	if got := p.idle(time.Now()); got != want {
		t.Errorf("idle = %s after failed counts, want the last pace %s", got, want)
	}
	if n := strings.Count(logs.String(), "cannot count"); n != 1 {
		t.Errorf("the failure was logged %d times, want once", n)
	}
}

// idleProject is the default scenario with the local instance in service,
// its group with a terminate hook only (so the agent is idle from the
// start), and beside it a group of others instances: a project of others+1
// instances. The terminate hook times out after terminateTimeout seconds.
func idleProject(others, terminateTimeout int) *sim.Scenario {
	sc := sim.DefaultScenario()
	sc.Groups[0].Instances[0].State = sim.StateInService
	sc.Groups[0].Hooks = sc.Groups[0].Hooks[1:]
	sc.Groups[0].Hooks[0].DefaultTimeout = terminateTimeout
	big := sim.Group{ID: "g-others", Name: "others"}
	for i := range others {
		big.Instances = append(big.Instances, sim.Instance{ID: fmt.Sprintf("i-other-%05d", i)})
	}
	sc.Groups = append(sc.Groups, big)
	return sc
}

// requestsOf counts the requests to a route (the agent's alone: nothing
// else calls the simulator here), and how many of them were throttled.
func (h *harness) requestsOf(route sim.Route) (n, throttled int) {
	for _, r := range h.sim.RequestsTo(route) {
		n++
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	return n, throttled
}

// An idle agent in a project of 3,000 instances polls, and reads the hook
// list, at its share of poll.project_rate: 3000 x (1/25 + 2/300) / 12.5 =
// 11.2 times slower than configured, every 280 s and 56 min, and says so
// in its status.
func TestIdleAgentPacedByProjectSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, idleProject(2999, 3600))
		h.start()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		st := h.engine.Status()
		h.stop()
		// Rand is 0.5: no jitter. The first poll at start, then one every 280 s.
		if n, _ := h.requestsOf(sim.RouteListHookInstances); n < 25 || n > 27 {
			t.Errorf("%d polls in 2 h, want 26 (one every 280 s)", n)
		}
		if n, _ := h.requestsOf(sim.RouteListHooks); n != 3 {
			t.Errorf("%d hook-list reads in 2 h, want 3 (at start, then every 56 min)", n)
		}
		if n, _ := h.requestsOf(sim.RouteListGroups); n != 3 {
			t.Errorf("%d group listings in 2 h, want 3: one per hook-list read", n)
		}
		if !strings.Contains(st.Pace, "every 4m40s") || !strings.Contains(st.Pace, "3000 instances") || st.PaceWarning != "" {
			t.Errorf("status pace %q, warning %q", st.Pace, st.PaceWarning)
		}
	})
}

// A terminate hook too short for the pace is named in the status and
// logged once, with its numbers.
func TestShortHookInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, idleProject(999, 300))
		h.start()
		time.Sleep(3 * time.Hour) // three hook-list reads
		synctest.Wait()
		st := h.engine.Status()
		h.stop()
		// 1000 instances: every 93.3 s, 112 s at most with jitter.
		if !strings.Contains(st.PaceWarning, "terminate hook "+sim.DefaultTerminateHook) || !strings.Contains(st.PaceWarning, "holds 2.7 idle polls") {
			t.Errorf("status pace warning = %q", st.PaceWarning)
		}
		if n := strings.Count(h.logs.String(), "holds 2.7 idle polls"); n != 1 {
			t.Errorf("the warning was logged %d times, want once", n)
		}
	})
}

// In a project whose limit is spent, the agent does not keep polling into
// it: each 429 cuts its rate and holds its polls back, so most of its
// polls get through, where a poll every 25 s would meet a 429 most times.
func TestThrottledAgentBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, idleProject(0, 3600))
		h.sim.SetThrottle(1.0/120, 1) // one request every two minutes for the project
		h.start()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		h.stop()
		n, throttled := h.requestsOf(sim.RouteListHookInstances)
		t.Logf("%d polls, %d throttled", n, throttled)
		if throttled == 0 {
			t.Fatalf("no poll was throttled: the test tested nothing (%d polls)", n)
		}
		if throttled*3 > n {
			t.Errorf("%d of %d polls throttled: the agent kept polling into a spent limit", throttled, n)
		}
	})
}

// An agent whose group has no terminate hook does not poll at all, and its
// reads of the hook list are paced by the project's size too: every 56 min
// in a project of 3,000 instances, not every 5.
func TestHookListPacedWithoutTerminateHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := idleProject(2999, 3600)
		sc.Groups[0].Hooks = nil
		h := newHarness(t, sc)
		h.start()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		h.stop()
		if n, _ := h.requestsOf(sim.RouteListHookInstances); n != 0 {
			t.Errorf("%d polls, want none: nothing can hold the instance", n)
		}
		if n, _ := h.requestsOf(sim.RouteListHooks); n != 3 {
			t.Errorf("%d hook-list reads in 2 h, want 3 (at start, then every 56 min)", n)
		}
	})
}
