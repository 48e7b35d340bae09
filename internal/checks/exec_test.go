//go:build !windows

package checks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/testutil"
)

// The script contract: exit 0 passes, 100 gives up at once, anything else is
// retried at the next interval; thresholds count consecutive attempts; a
// timeout or a program that cannot start is a "not yet".
func TestExecContract(t *testing.T) {
	cases := []struct {
		name      string
		body      string // the script; $COUNT is a file that counts attempts
		mode      os.FileMode
		interp    string // replaces the #! line when set
		success   int
		failure   int
		timeout   time.Duration
		want      State
		attempts  int
		wantError string
		wantOut   string
	}{
		{name: "pass", body: "echo ready; exit 0", want: Passed, attempts: 1, wantOut: "ready"},
		{name: "retry then pass", body: countUp + `[ "$n" -ge 3 ]`, want: Passed, attempts: 3},
		{name: "give up", body: "echo broken >&2; exit 100", want: Failed, attempts: 1, wantError: "exit 100: gave up", wantOut: "broken"},
		{name: "retry then give up", body: countUp + `[ "$n" -ge 2 ] && exit 100; exit 1`, want: Failed, attempts: 2, wantError: "exit 100"},
		{name: "failure threshold", body: "exit 3", failure: 4, want: Failed, attempts: 4, wantError: "4 attempts in a row did not pass; last: exit 3"},
		{name: "success threshold", body: "exit 0", success: 3, want: Passed, attempts: 3},
		{name: "success threshold resets on a miss", body: countUp + `[ "$n" -ne 2 ]`, success: 2, want: Passed, attempts: 4},
		{name: "failure threshold resets on a pass", body: countUp + `[ "$n" -eq 2 ]`, failure: 2, success: 2, want: Failed, attempts: 4, wantError: "2 attempts in a row"},
		{name: "killed by a signal", body: "kill -9 $$", failure: 1, want: Failed, attempts: 1, wantError: "ended by signal: killed"},
		{name: "timeout", body: "echo started; sleep 60", timeout: 300 * time.Millisecond, failure: 2, want: Failed, attempts: 2, wantError: "timed out; process group killed", wantOut: "started"},
		{name: "missing interpreter", interp: "#!/nonexistent/sh", body: "exit 0", failure: 1, want: Failed, attempts: 1, wantError: "missing file or #! interpreter"},
		{name: "not executable", body: "exit 0", mode: 0o644, failure: 1, want: Failed, attempts: 1, wantError: "permission denied"},
		{name: "non-UTF-8 output", body: `printf 'ok \377\376 \033[31m done\n'`, want: Passed, attempts: 1, wantOut: "ok \uFFFD\uFFFD \uFFFD[31m done"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mode := tc.mode
			if mode == 0 {
				mode = 0o755
			}
			body := strings.ReplaceAll(tc.body, "$COUNT", filepath.Join(dir, "count"))
			path := writeScript(t, dir, "check", body, mode)
			if tc.interp != "" {
				data, _ := os.ReadFile(path)
				data = bytes.Replace(data, []byte("#!/bin/sh"), []byte(tc.interp), 1)
				if err := os.WriteFile(path, data, mode); err != nil {
					t.Fatal(err)
				}
			}
			c := execCheck("check", path)
			c.SuccessThreshold, c.FailureThreshold = tc.success, tc.failure
			c.Timeout = config.Duration(tc.timeout)
			clock := clockwork.NewFakeClock()
			p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{c}, testOptions(t, clock))
			v := drive(t, clock, p, 2, 5*time.Second)
			st := checkStatus(t, p, "check")
			if v.State != tc.want || st.State != tc.want {
				t.Fatalf("verdict %+v, check %+v; want %s", v, st, tc.want)
			}
			if st.Attempts != tc.attempts {
				t.Errorf("attempts = %d, want %d", st.Attempts, tc.attempts)
			}
			if tc.want == Failed && v.Failed != "check" {
				t.Errorf("verdict names %q as failed, want check", v.Failed)
			}
			if !strings.Contains(st.LastError, tc.wantError) || !strings.Contains(v.Reason, tc.wantError) {
				t.Errorf("last error %q, reason %q; want %q in both", st.LastError, v.Reason, tc.wantError)
			}
			if !strings.Contains(st.LastOutput, tc.wantOut) || !utf8.ValidString(st.LastOutput) {
				t.Errorf("last output %q, want valid UTF-8 containing %q", st.LastOutput, tc.wantOut)
			}
		})
	}
}

// countUp is shell that counts attempts in the file $COUNT into $n.
const countUp = `n=$(cat $COUNT 2>/dev/null || echo 0); n=$((n+1)); echo $n > $COUNT; `

// A timed-out attempt kills the script's whole process group, including a
// child that ignores SIGTERM, whether or not the leader obeys SIGTERM and
// whether or not the child holds the output pipes.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	cases := []struct{ name, body string }{
		{"leader obeys TERM, child ignores it and holds stdout",
			`(trap '' TERM; exec sleep 1000) & echo $! > $PIDFILE; wait`},
		{"leader and child ignore TERM",
			`trap '' TERM; (exec sleep 1000) & echo $! > $PIDFILE; wait; wait`},
		{"child detached from the pipes ignores TERM",
			`(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 & echo $! > $PIDFILE; wait`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "pid")
			path := writeScript(t, dir, "hang", strings.ReplaceAll(tc.body, "$PIDFILE", pidfile), 0o755)
			c := execCheck("hang", path)
			c.Timeout = config.Duration(300 * time.Millisecond)
			c.FailureThreshold = 1
			clock := clockwork.NewFakeClock()
			p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{c}, testOptions(t, clock))
			v := p.Run(t.Context())
			if v.State != Failed || !strings.Contains(v.Reason, "timed out") {
				t.Fatalf("verdict %+v, want failed by timeout", v)
			}
			data, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 5*time.Second, 5*time.Millisecond, "child "+strconv.Itoa(pid)+" to be gone", func() bool { return processGone(pid) })
		})
	}
}

// processGone reports whether pid no longer runs: it does not exist, or it
// is a zombie that nobody has reaped yet (a container's init may not reap).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS != "linux"
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// A script that writes far more than OutputCap keeps only the tail, counts
// the rest, and does not make the agent hold its output in memory.
func TestHugeOutputIsCapped(t *testing.T) {
	const size = 64 << 20
	dir := t.TempDir()
	path := writeScript(t, dir, "chatty", "yes 0123456789abcdef | head -c "+strconv.Itoa(size)+"; echo; echo the-end", 0o755)
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{execCheck("chatty", path)}, testOptions(t, clock))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := p.Run(t.Context())
	runtime.ReadMemStats(&after)
	if v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	st := checkStatus(t, p, "chatty")
	if want := int64(size + len("\nthe-end\n")); st.OutputBytes != want {
		t.Errorf("output bytes = %d, want %d", st.OutputBytes, want)
	}
	if len(st.LastOutput) > OutputCap+len("…") || !strings.HasPrefix(st.LastOutput, "…") || !strings.HasSuffix(st.LastOutput, "the-end") {
		t.Errorf("last output is %d bytes, starting %q, ending %q", len(st.LastOutput), st.LastOutput[:10], st.LastOutput[len(st.LastOutput)-10:])
	}
	// Copying 64 MiB through 32 KiB buffers allocates little; keeping it
	// would allocate at least 64 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("allocated %d bytes for %d bytes of output", alloc, size)
	}
}

// Scripts see the contract's environment, evaluated at each attempt (the
// deadline moves after EXTEND), and nothing else of the agent's.
func TestScriptEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "leak")
	t.Setenv("TZ", "UTC")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	path := writeScript(t, dir, "env", `env | sort > `+out+`.$ASAGENT_ATTEMPT; pwd >> `+out+`.$ASAGENT_ATTEMPT; read x && exit 1; [ "$ASAGENT_ATTEMPT" -ge 2 ]`, 0o755)
	clock := clockwork.NewFakeClock()
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	opts := testOptions(t, clock)
	calls := 0
	opts.Env = func() Env {
		calls++
		return Env{InstanceID: "i-1", GroupID: "g-1", HookNames: []string{"h1", "h2"}, Deadline: deadline.Add(time.Duration(calls) * time.Hour)}
	}
	p := NewPhase("terminate", fastPhase(config.Sequential), []config.Check{execCheck("env", path)}, opts)
	if v := drive(t, clock, p, 2, 5*time.Second); v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	for attempt, wantDeadline := range map[int]string{1: "2030-01-02T04:04:05Z", 2: "2030-01-02T05:04:05Z"} {
		data, err := os.ReadFile(out + "." + strconv.Itoa(attempt))
		if err != nil {
			t.Fatal(err)
		}
		got := string(data)
		for _, want := range []string{
			"ASAGENT_PHASE=terminate\n", "ASAGENT_INSTANCE_ID=i-1\n", "ASAGENT_SCALING_GROUP_ID=g-1\n",
			"ASAGENT_HOOK_NAMES=h1,h2\n", "ASAGENT_DEADLINE=" + wantDeadline + "\n",
			"ASAGENT_ATTEMPT=" + strconv.Itoa(attempt) + "\n", "PATH=" + safePath + "\n", "TZ=UTC\n", "\n/\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("attempt %d: environment lacks %q:\n%s", attempt, want, got)
			}
		}
		if strings.Contains(got, "AWS_SECRET_ACCESS_KEY") {
			t.Errorf("the agent's environment leaked into the script:\n%s", got)
		}
	}
}

// A script that exits 0 but leaves a background child holding its stdout
// passes once the grace has passed, and the child is left alone.
func TestBackgroundChildHoldingOutput(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	path := writeScript(t, dir, "daemonize", "sleep 1000 & echo $! > "+pidfile+"; echo started", 0o755)
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{execCheck("daemonize", path)}, testOptions(t, clock))
	if v := p.Run(t.Context()); v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if processGone(pid) {
		t.Errorf("the background child %d was killed", pid)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if got := checkStatus(t, p, "daemonize").LastOutput; got != "started" {
		t.Errorf("last output = %q", got)
	}
}

// An exec check runs its argv without a shell, looking the program up in
// the scripts' PATH rather than the agent's; shell: runs through /bin/sh.
func TestExecCommandAndShell(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // the agent's own PATH must not matter
	runProbeCases(t, []probeCase{
		{name: "argv", check: config.Check{Type: config.TypeExec, Command: []string{"sh", "-c", "echo $0 $1", "x", "a b;c"}}, want: Passed, wantOut: "x a b;c"},
		{name: "argv is not a shell line", check: config.Check{Type: config.TypeExec, Command: []string{"echo", "$HOME;", "exit", "3"}}, want: Passed, wantOut: "$HOME; exit 3"},
		{name: "not in PATH", check: config.Check{Type: config.TypeExec, Command: []string{"asagent-no-such-program"}}, want: Pending, wantError: "asagent-no-such-program: not found in PATH=" + safePath},
		{name: "shell", check: config.Check{Type: config.TypeExec, Shell: `test "$ASAGENT_PHASE" = launch && echo phase ok`}, want: Passed, wantOut: "phase ok"},
		{name: "shell gives up", check: config.Check{Type: config.TypeExec, Shell: "exit 100"}, want: Failed, wantError: "exit 100: gave up"},
		{name: "both", check: config.Check{Type: config.TypeExec, Shell: "true", Command: []string{"true"}}, want: Failed, wantError: "both command and shell"},
	})
}

// The kept output starts at a whole line when its beginning was cut: the
// status shows lines as the script printed them, not half a word.
func TestTailStartsAtALine(t *testing.T) {
	filler := strings.Repeat("x", OutputCap)
	cases := []struct {
		name  string
		tail  string
		total int64
		want  string
	}{
		{"whole output", "one\ntwo\n", 8, "one\ntwo\n"},
		{"cut mid-line", "rd of line one\nline two\nline three\n", 1000, "…\nline two\nline three\n"},
		{"cut, last line unfinished", "lf\nend", 1000, "…\nend"},
		{"one line longer than the cap", filler + "yz", int64(OutputCap + 2), "…" + filler[2:] + "yz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tailString([]byte(tc.tail), tc.total); got != tc.want {
				t.Errorf("tailString(%.20q…, %d) = %.40q, want %.40q", tc.tail, tc.total, got, tc.want)
			}
		})
	}
}
