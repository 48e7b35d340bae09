//go:build !windows

package checks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/syncbuf"
	"github.com/asagent/asagent/internal/testutil"
)

// logScript returns a check that appends "start NAME" and "end NAME" to
// log around body, which runs in a subshell.
func logScript(t *testing.T, dir, log, name, body string) config.Check {
	t.Helper()
	path := writeScript(t, dir, name, "echo start "+name+" >> "+log+"\n(\n"+body+"\n)\nrc=$?; echo end "+name+" >> "+log+"; exit $rc", 0o755)
	return execCheck(name, path)
}

// readLog returns the lines of the log at path joined by "; ", with spaces
// in a line written as "_".
func readLog(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(string(data), " ", "_")), "; ")
}

// In parallel mode all checks run at once: each script waits until all
// three have started, and gives up if they do not.
func TestParallelRunsAtOnce(t *testing.T) {
	dir := t.TempDir()
	var checks []config.Check
	for _, name := range []string{"a", "b", "c"} {
		body := `touch ` + dir + `/started.` + name + `; i=0
while [ $i -lt 1000 ]; do
  [ -e ` + dir + `/started.a ] && [ -e ` + dir + `/started.b ] && [ -e ` + dir + `/started.c ] && exit 0
  sleep 0.01; i=$((i+1))
done
exit 100`
		checks = append(checks, execCheck(name, writeScript(t, dir, name, body, 0o755)))
	}
	p := NewPhase("launch", fastPhase(config.Parallel), checks, testOptions(t, clockwork.NewFakeClock()))
	if v := p.Run(t.Context()); v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
}

// In sequential mode each check starts only after the one before it (in
// name order) has passed, retries included; a check that gives up stops the
// phase before the next one runs.
func TestSequentialOrder(t *testing.T) {
	cases := []struct {
		name    string
		bBody   string
		want    State
		wantLog string
	}{
		{"all pass", countUp + `[ "$n" -ge 3 ]`, Passed,
			"start_a; end_a; start_b; end_b; start_b; end_b; start_b; end_b; start_c; end_c"},
		{"b gives up", "exit 100", Failed, "start_a; end_a; start_b; end_b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			checks := []config.Check{
				logScript(t, dir, log, "c", "exit 0"),
				logScript(t, dir, log, "a", "exit 0"),
				logScript(t, dir, log, "b", strings.ReplaceAll(tc.bBody, "$COUNT", filepath.Join(dir, "count"))),
			}
			clock := clockwork.NewFakeClock()
			p := NewPhase("terminate", fastPhase(config.Sequential), checks, testOptions(t, clock))
			v := drive(t, clock, p, 2, 5*time.Second)
			if v.State != tc.want {
				t.Fatalf("verdict %+v", v)
			}
			if got := readLog(t, log); got != tc.wantLog {
				t.Errorf("ran %q, want %q", got, tc.wantLog)
			}
		})
	}
}

// max_wait bounds the phase: when it is spent the phase fails and names the
// checks still pending.
func TestMaxWait(t *testing.T) {
	dir := t.TempDir()
	ph := fastPhase(config.Parallel)
	ph.MaxWait = config.Duration(20 * time.Second)
	checks := []config.Check{
		execCheck("slow", writeScript(t, dir, "slow", "exit 1", 0o755)),
		execCheck("fast", writeScript(t, dir, "fast", "exit 0", 0o755)),
	}
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", ph, checks, testOptions(t, clock))
	v := drive(t, clock, p, 2, 5*time.Second)
	if v.State != Failed || v.Failed != "slow" || v.Reason != "max_wait 20s spent; still pending: slow" {
		t.Errorf("verdict %+v", v)
	}
	if s := p.Status(); s.State != Failed || s.Passed != 1 || s.Pending != 1 {
		t.Errorf("status %+v", s)
	}
}

// max_wait counts from Options.Started, the phase's first start, not from
// Run: a phase resumed after a restart gets only what is left, and one
// whose budget is already spent fails at once without running a check.
func TestMaxWaitCountsFromStarted(t *testing.T) {
	cases := []struct {
		name     string
		ago      time.Duration // how long before Run the phase started
		wantTook time.Duration // phase time until the verdict
		wantRun  bool          // the check made an attempt
	}{
		{"not started before", 0, 20 * time.Second, true},
		{"resumed with 5s left", 15 * time.Second, 5 * time.Second, true},
		{"resumed at the budget's end", 20 * time.Second, 0, false},
		{"resumed after it", time.Hour, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "ran")
			ph := fastPhase(config.Parallel)
			ph.MaxWait = config.Duration(20 * time.Second)
			clock := clockwork.NewFakeClock()
			opts := testOptions(t, clock)
			if tc.ago > 0 {
				opts.Started = clock.Now().Add(-tc.ago)
			}
			c := execCheck("slow", writeScript(t, dir, "slow", "touch "+marker+"; exit 1", 0o755))
			p := NewPhase("launch", ph, []config.Check{c}, opts)
			t0 := clock.Now()
			v := drive(t, clock, p, 2, 5*time.Second)
			if v.State != Failed || v.Failed != "slow" || v.Reason != "max_wait 20s spent; still pending: slow" {
				t.Errorf("verdict %+v", v)
			}
			if took := clock.Since(t0); took != tc.wantTook {
				t.Errorf("decided after %s of phase time, want %s", took, tc.wantTook)
			}
			if _, err := os.Stat(marker); (err == nil) != tc.wantRun {
				t.Errorf("the check ran: %v, want %v", err == nil, tc.wantRun)
			}
			if got, want := p.Status().Started, t0.Add(-tc.ago); !got.Equal(want) {
				t.Errorf("status started %v, want %v", got, want)
			}
		})
	}
}

// initial_delay holds a check's first attempt on the phase's clock.
func TestInitialDelay(t *testing.T) {
	dir := t.TempDir()
	c := execCheck("late", writeScript(t, dir, "late", "exit 0", 0o755))
	c.InitialDelay = config.Duration(30 * time.Second)
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{c}, testOptions(t, clock))
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * time.Second)
	if st := checkStatus(t, p, "late"); st.Attempts != 0 {
		t.Fatalf("attempted before its initial delay: %+v", st)
	}
	clock.Advance(time.Second)
	if v := <-done; v.State != Passed {
		t.Errorf("verdict %+v", v)
	}
}

// When Run's context ends the verdict is Pending and every check's process
// is gone by the time Run returns.
func TestCancelStopsChecks(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	c := execCheck("hang", writeScript(t, dir, "hang", "echo $$ > "+pidfile+".tmp; mv "+pidfile+".tmp "+pidfile+"; exec sleep 1000", 0o755))
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{c}, testOptions(t, clockwork.NewFakeClock()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "the script to start", func() bool { _, err := os.Stat(pidfile); return err == nil })
	cancel()
	v := <-done
	if v.State != Pending || v.Reason != "stopped: context canceled" {
		t.Errorf("verdict %+v", v)
	}
	data, _ := os.ReadFile(pidfile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if !processGone(pid) {
		t.Errorf("process %d outlived Run", pid)
	}
}

// Reload mid-phase: an added check joins at once, an unchanged one keeps
// its state and attempts, a removed one leaves, and the phase decides on
// the checks it has now.
func TestReloadMidPhase(t *testing.T) {
	dir := t.TempDir()
	a := execCheck("a", writeScript(t, dir, "a", "exit 1", 0o755))
	b := execCheck("b", writeScript(t, dir, "b", "exit 0", 0o755))
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{a}, testOptions(t, clock))
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	p.Reload([]config.Check{a, b})
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "b to pass", func() bool { return checkStatus(t, p, "b").State == Passed })
	clock.Advance(5 * time.Second)
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "a's second attempt", func() bool { return checkStatus(t, p, "a").Attempts == 2 })
	select {
	case v := <-done:
		t.Fatalf("decided with a pending: %+v", v)
	default:
	}
	p.Reload([]config.Check{b})
	if v := <-done; v.State != Passed || v.Reason != "its only check passed" {
		t.Errorf("verdict %+v", v)
	}
	if names := len(p.Status().Checks); names != 1 {
		t.Errorf("%d checks listed after removing a", names)
	}
}

// A check changed by a reload starts afresh, and only after its previous
// run has ended: a check never runs twice at once.
func TestReloadChangedCheckNeverOverlaps(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	pidfile := filepath.Join(dir, "pid")
	v1 := execCheck("app", writeScript(t, dir, "v1", "echo v1 >> "+log+"; echo $$ > "+pidfile+".tmp; mv "+pidfile+".tmp "+pidfile+"; exec sleep 1000", 0o755))
	v2 := execCheck("app", writeScript(t, dir, "v2", `kill -0 $(cat `+pidfile+`) 2>/dev/null && echo overlap >> `+log+`; echo v2 >> `+log, 0o755))
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{v1}, testOptions(t, clockwork.NewFakeClock()))
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "v1 to start", func() bool { _, err := os.Stat(pidfile); return err == nil })
	p.Reload([]config.Check{v2})
	if v := <-done; v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	if got := readLog(t, log); got != "v1; v2" {
		t.Errorf("log %q, want %q", got, "v1; v2")
	}
	if st := checkStatus(t, p, "app"); st.Attempts != 1 {
		t.Errorf("the changed check did not start afresh: %+v", st)
	}
}

// In sequential mode a check added mid-phase with an earlier name waits
// for the running step, then runs before the later ones.
func TestSequentialAddEarlierMidPhase(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	b := logScript(t, dir, log, "b", countUp+`[ "$n" -ge 2 ]`)
	b.Command = []string{"/bin/sh", "-c", strings.ReplaceAll(mustRead(t, b.Command[0]), "$COUNT", filepath.Join(dir, "count"))}
	c := logScript(t, dir, log, "c", "exit 0")
	a := logScript(t, dir, log, "a", "exit 0")
	clock := clockwork.NewFakeClock()
	p := NewPhase("terminate", fastPhase(config.Sequential), []config.Check{b, c}, testOptions(t, clock))
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	p.Reload([]config.Check{a, b, c})
	clock.Advance(5 * time.Second)
	if v := <-done; v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	if got, want := readLog(t, log), "start_b; end_b; start_b; end_b; start_a; end_a; start_c; end_c"; got != want {
		t.Errorf("ran %q, want %q", got, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Status is a consistent snapshot with counts, a one-line summary for
// systemd's STATUS=, and a JSON form for `asagent status`.
func TestStatusSummary(t *testing.T) {
	dir := t.TempDir()
	scripts := t.TempDir()
	writeScript(t, scripts, "noexec", "exit 0", 0o644)
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = scripts
	checks := []config.Check{
		execCheck("db", writeScript(t, dir, "db", "exit 1", 0o755)),
		execCheck("web", writeScript(t, dir, "web", "exit 1", 0o755)),
		execCheck("cache", writeScript(t, dir, "cache", "exit 0", 0o755)),
	}
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", ph, checks, testOptions(t, clock))
	if got, want := p.Status().Summary(), "launch: waiting on 3/4 checks (cache, db, web), 1 refused"; got != want {
		t.Errorf("before: %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(ctx) }()
	if err := clock.BlockUntilContext(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	// db and web sleep (with the budget, 3 waiters); cache may still be
	// finishing its real process.
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "cache to pass", func() bool { return p.Status().Passed == 1 })
	s := p.Status()
	if s.Passed != 1 || s.Pending != 2 || s.Refused != 1 || !s.Running || s.State != Pending {
		t.Errorf("counts %+v", s)
	}
	if got, want := s.Summary(), "launch: waiting on 2/4 checks (db, web), 1 refused"; got != want {
		t.Errorf("running: %q, want %q", got, want)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Error(err)
	}
	cancel()
	<-done
}

// Verdict.Result maps a verdict to the hook's answer.
func TestVerdictResult(t *testing.T) {
	cases := []struct {
		v       State
		want    config.Result
		decided bool
	}{
		{Passed, config.Continue, true},
		{Failed, config.Abandon, true},
		{Pending, "", false},
	}
	for _, tc := range cases {
		t.Run(string(tc.v), func(t *testing.T) {
			got, decided := Verdict{State: tc.v}.Result(config.Abandon)
			if got != tc.want || decided != tc.decided {
				t.Errorf("got %q, %v", got, decided)
			}
		})
	}
}

// Durations in the log carry their unit (Go duration strings, the one
// convention of the agent's logs and JSON): a number such as
// max_wait=3600000 leaves the reader guessing.
func TestLogDurationsCarryUnits(t *testing.T) {
	dir := t.TempDir()
	var buf syncbuf.Buffer
	opts := testOptions(t, clockwork.NewFakeClock())
	opts.Log = zerolog.New(&buf).Level(zerolog.DebugLevel)
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{execCheck("ok", writeScript(t, dir, "ok", "exit 0", 0o755))}, opts)
	if v := p.Run(t.Context()); v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	want := map[string]string{"phase started": "max_wait", "attempt": "took"}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		key, ok := want[rec["message"].(string)]
		if !ok {
			continue
		}
		seen[key] = true
		s, isString := rec[key].(string)
		if _, err := time.ParseDuration(s); !isString || err != nil {
			t.Errorf("%s = %#v in %q: want a duration string such as 1h0m0s", key, rec[key], line)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("saw %v of the fields %v in:\n%s", seen, want, buf.String())
	}
}
