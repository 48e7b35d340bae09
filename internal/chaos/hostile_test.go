//go:build linux

package chaos

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// hostileRSSLimitKiB is the memory bound the agent must keep while a check
// attacks it: 64 MiB, about four times what an idle agent uses (the kill
// suite measures ~14 MiB), far below the 1 GB a check writes.
const hostileRSSLimitKiB = 64 << 10

// Budgets of the hostile runs: an attempt may last 3 s, the phase 10 s; the
// hook lasts 60 s and defaults to CONTINUE, so an agent that misses the
// phase's deadline shows as a hook answered by timeout.
const (
	hostileAttempt = 3 * time.Second
	hostileMaxWait = 10 * time.Second
)

func hostileScenario(id string) *sim.Scenario {
	return &sim.Scenario{
		LocalInstance: id,
		Groups: []sim.Group{{
			ID: "g-hostile", Name: "hostile",
			Hooks: []sim.Hook{
				{Name: "boot", Type: sim.HookLaunch, DefaultTimeout: 60, DefaultResult: sim.ResultContinue},
			},
			Instances: []sim.Instance{{ID: id, Held: true}},
		}},
	}
}

// A check that attacks the agent (forks a daemon that keeps its stdout,
// ignores SIGTERM, writes 1 GB, sleeps forever, deletes itself) cannot make
// the agent miss the phase's deadline, grow past its memory bound, or leave
// the processes of a killed attempt behind.
func TestHostileChecks(t *testing.T) {
	needBinary(t)
	cases := []struct {
		name string
		// body gets the marker that tags every process it starts.
		body func(marker string) string
		want string // the result: CONTINUE when the check exits 0, ABANDON when it cannot pass
		// leftovers: processes of the check may stay after the phase (a
		// daemon the check meant to start).
		leftovers bool
		// attempt and maxWait override hostileAttempt and hostileMaxWait.
		attempt, maxWait time.Duration
		// bug, when set, names a known bug the case shows: it is skipped
		// unless ASAGENT_CHAOS_BUGS=1, and the owner removes the field with
		// the fix.
		bug string
	}{
		{name: "forks-daemon-and-exits", want: sim.ResultContinue, leftovers: true, attempt: 5 * time.Second,
			body: func(m string) string { return "sh -c 'sleep 300; : " + m + "' &\necho started a daemon\nexit 0" }},
		{name: "forks-daemon-and-exits-short-timeout", want: sim.ResultContinue, leftovers: true,
			body: func(m string) string { return "sh -c 'sleep 300; : " + m + "' &\necho started a daemon\nexit 0" }},
		{name: "ignores-sigterm", want: sim.ResultAbandon,
			body: func(m string) string {
				return "trap '' TERM\nsh -c \"trap '' TERM; sleep 300; : " + m + "\" &\nwhile :; do sleep 1; done"
			}},
		// 1 GB takes a few seconds through a pipe on a loaded machine.
		{name: "writes-1GB-no-newlines", want: sim.ResultContinue, attempt: 40 * time.Second, maxWait: 60 * time.Second,
			body: func(string) string { return "head -c 1073741824 /dev/zero\nexit 0" }},
		{name: "writes-1GB-of-lines", want: sim.ResultContinue, attempt: 40 * time.Second, maxWait: 60 * time.Second,
			body: func(string) string { return "yes 'a line of output' | head -c 1073741824\nexit 0" }},
		{name: "sleeps-forever", want: sim.ResultAbandon,
			body: func(m string) string { return "sh -c 'sleep 100000; : " + m + "'" }},
		{name: "deletes-itself", want: sim.ResultAbandon,
			body: func(string) string { return `rm -f "$ASAGENT_SCRIPT"` + "\nexit 1" }},
	}
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() {
			t.Run(tc.name, func(t *testing.T) {
				if tc.bug != "" && os.Getenv("ASAGENT_CHAOS_BUGS") != "1" {
					t.Skip("bug: " + tc.bug)
				}
				attempt, maxWait := cmp.Or(tc.attempt, hostileAttempt), cmp.Or(tc.maxWait, hostileMaxWait)
				marker := fmt.Sprintf("asagent-hostile-%d-%d", os.Getpid(), i)
				t.Cleanup(func() { killTagged(marker) })
				id := "i-hostile-" + strconv.Itoa(i)
				c := newCloud(t, sim.Options{Scenario: hostileScenario(id), MinHookTimeout: time.Second})
				d := newAgentDir(t, c, agentOpts{group: "g-hostile", staticCreds: true,
					launchMax: maxWait.String(), timeout: attempt.String()})
				script(t, d.launchD, "10-hostile", tc.body(marker))
				var out lockedBuffer
				start := time.Now()
				p := startAgent(t, d, &out)
				defer func() {
					if t.Failed() {
						t.Logf("agent output (first 20 KB):\n%.20000s", out.String())
					}
				}()
				rss := 0
				// Boot plus the phase's budget plus a margin for the callback.
				testutil.Eventually(t, maxWait+15*time.Second, 50*time.Millisecond, "the hook's answer", func() bool {
					if p.exited() {
						t.Fatalf("the agent exited: %v", p.err)
					}
					rss = max(rss, p.peakRSS())
					return len(outcomesOf(c.sim, id)["boot"]) > 0
				})
				took := time.Since(start)
				rss = max(rss, p.peakRSS())
				o := outcomesOf(c.sim, id)["boot"]
				if len(o) != 1 || o[0].By != sim.ByCallback || o[0].Result != tc.want {
					t.Errorf("outcomes %+v, want one %s by callback", o, tc.want)
				}
				if rss > hostileRSSLimitKiB {
					t.Errorf("agent peak RSS %d KiB, above the bound of %d KiB", rss, hostileRSSLimitKiB)
				}
				if !tc.leftovers {
					testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, "the check's processes to be gone", func() bool { return len(tagged(marker)) == 0 })
				}
				left := len(tagged(marker))
				p.stop(t, 10*time.Second)
				noSecrets(t, c.secretList(), map[string]string{"agent output": out.String()})
				t.Logf("FIGURES hostile check=%s result=%s answered_after=%s agent_peak_rss_kib=%d leftover_processes=%d",
					tc.name, o[0].Result, took.Round(100*time.Millisecond), rss, left)
			})
		})
	}
	wg.Wait()
}

// tagged lists the processes whose command line contains marker.
func tagged(marker string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killTagged kills what a test's check left behind, by pid: only processes
// that carry the test's own marker.
func killTagged(marker string) {
	for _, pid := range tagged(marker) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
