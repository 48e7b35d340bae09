//go:build !windows

package checks

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/testutil"
	"github.com/asagent/asagent/internal/trust"
)

// dropInDir builds a scripts directory with one file of every kind that the
// name and safety rules must sort out, and returns it.
func dropInDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	outside := t.TempDir()
	// Files the name rule skips; each would fail the phase if it ran.
	for _, name := range []string{"README.md", "web.dpkg-old", "web~", ".web.swp"} {
		writeScript(t, dir, name, "exit 100", 0o755)
	}
	writeScript(t, dir, "10-good", "echo good", 0o755)
	writeScript(t, dir, "20-noexec", "exit 100", 0o644)
	writeScript(t, dir, "30-group-writable", "exit 100", 0o775)
	writeScript(t, dir, "31-world-writable", "exit 100", 0o757)
	writeScript(t, dir, "40-bad-owner", "exit 100", 0o755)
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(dir, "40-bad-owner"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	target := writeScript(t, outside, "target", "echo via link", 0o755)
	mustSymlink(t, target, filepath.Join(dir, "50-link-good"))
	mustSymlink(t, filepath.Join(outside, "nowhere"), filepath.Join(dir, "51-link-dangling"))
	mustSymlink(t, outside, filepath.Join(dir, "52-link-dir"))
	if err := os.Mkdir(filepath.Join(dir, "60-subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "61-fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// Drop-in scripts run by run-parts' name rule and cron's and sudo's safety
// rules: a file that breaks a rule is refused with its reason in the status
// and the phase does not wait for it; a name that breaks the name rule is
// not even listed. insecure_dropins lifts the owner and mode rules only.
func TestDropInRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: the bad-owner case cannot chown and is left out")
	}
	cases := []struct {
		name     string
		insecure bool
		want     map[string]string // check name -> "passed", or the refusal reason
	}{
		{"secure", false, map[string]string{
			"10-good":           "passed",
			"20-noexec":         "not executable",
			"30-group-writable": "group- or world-writable (mode 0775)",
			"31-world-writable": "group- or world-writable (mode 0757)",
			"40-bad-owner":      "owned by uid 65534, not by root or the agent's user (uid 0)",
			"50-link-good":      "passed",
			"51-link-dangling":  "dangling symlink",
			"52-link-dir":       "not a regular file (a directory)",
			"60-subdir":         "not a regular file (a directory)",
			"61-fifo":           "not a regular file (a named pipe)",
		}},
		{"insecure", true, map[string]string{
			"10-good":           "passed",
			"20-noexec":         "not executable",
			"30-group-writable": "gave up",
			"31-world-writable": "gave up",
			"40-bad-owner":      "gave up",
			"50-link-good":      "passed",
			"51-link-dangling":  "dangling symlink",
			"52-link-dir":       "not a regular file",
			"60-subdir":         "not a regular file",
			"61-fifo":           "not a regular file",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := dropInDir(t)
			if os.Geteuid() != 0 {
				delete(tc.want, "40-bad-owner")
			}
			ph := fastPhase(config.Parallel)
			ph.ScriptsDir = dir
			opts := testOptions(t, clockwork.NewFakeClock())
			opts.Insecure = tc.insecure
			p := NewPhase("launch", ph, nil, opts)
			v := p.RunOnce(t.Context())
			st := p.Status()
			got := map[string]CheckStatus{}
			for _, c := range st.Checks {
				got[c.Name] = c
			}
			for name, want := range tc.want {
				c, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s: not listed", name)
				case want == "passed" && c.State != Passed:
					t.Errorf("%s: %s (%s), want passed", name, c.State, c.LastError)
				case want == "gave up" && (c.State != Failed || !strings.Contains(c.LastError, "exit 100")):
					t.Errorf("%s: %s (%s), want it to run and give up", name, c.State, c.LastError)
				case want != "passed" && want != "gave up" && (c.State != Refused || !strings.Contains(c.LastError, want)):
					t.Errorf("%s: %s (%q), want refused: %q", name, c.State, c.LastError, want)
				}
				delete(got, name)
			}
			for name := range got {
				if name != "40-bad-owner" {
					t.Errorf("%s is listed; the name rule should have skipped it", name)
				}
			}
			if !tc.insecure && (v.State != Pending || !strings.Contains(v.Reason, "refused, so not run")) {
				t.Errorf("verdict %+v: refused drop-ins must keep the phase from passing", v)
			}
			if tc.insecure && v.State != Failed {
				t.Errorf("verdict %+v: the insecure run should have run the writable scripts", v)
			}
			if got := checkStatus(t, p, "50-link-good").LastOutput; got != "via link" {
				t.Errorf("symlinked script output %q", got)
			}
		})
	}
}

// A scripts directory that others can write to makes all of its scripts
// untrusted: every one is refused.
func TestDropInDirectoryRule(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "good", "exit 0", 0o755)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = dir
	p := NewPhase("launch", ph, nil, testOptions(t, clockwork.NewFakeClock()))
	if st := checkStatus(t, p, "good"); st.State != Refused || !strings.Contains(st.LastError, "directory "+dir+": group- or world-writable (mode 0777)") {
		t.Errorf("status %+v", st)
	}
}

// A script made unsafe after the directory was read is refused at its next
// attempt, not run, and the phase cannot pass without it.
func TestDropInRecheckedBeforeEachAttempt(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "step", "exit 1", 0o755)
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = dir
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", ph, nil, testOptions(t, clock))
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	writeScript(t, dir, "step", "exit 100", 0o777)
	clock.Advance(5 * time.Second)
	// Refused, the check does not run (its exit 100 would have failed the
	// phase), and the phase cannot pass without it: it waits out max_wait.
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "the refusal", func() bool { return checkStatus(t, p, "step").State == Refused })
	if st := checkStatus(t, p, "step"); !strings.Contains(st.LastError, "world-writable") {
		t.Errorf("status %+v", st)
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if v := <-done; v.State != Failed || !strings.Contains(v.Reason, "refused, so not run: step") {
		t.Errorf("verdict %+v, want failed at max_wait because step was refused", v)
	}
}

// Scripts and declarative checks share one namespace: sorted together by
// name (byte order, as the C locale), and a second check of the same name
// is refused and reported, and keeps the phase from passing.
func TestScriptsAndChecksMerged(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "order")
	for _, name := range []string{"a", "C", "d"} {
		writeScript(t, dir, name, "echo "+name+" >> "+log, 0o755)
	}
	declared := writeScript(t, t.TempDir(), "declared", `echo "$1" >> `+log, 0o755)
	checks := []config.Check{
		{Name: "b", Type: config.TypeExec, Command: []string{declared, "b"}, Source: "/etc/asagent/conf.d/app.yaml"},
		{Name: "d", Type: config.TypeExec, Command: []string{declared, "d-declared"}, Source: "/etc/asagent/agent.yaml"},
	}
	ph := fastPhase(config.Sequential)
	ph.ScriptsDir = dir
	p := NewPhase("terminate", ph, checks, testOptions(t, clockwork.NewFakeClock()))
	// Every check that runs passes, but the refused duplicate keeps the
	// phase from passing: a name clash is a mistake to fix, not to skip.
	if v := p.RunOnce(t.Context()); v.State != Pending || !strings.Contains(v.Reason, "refused, so not run: d") {
		t.Fatalf("verdict %+v", v)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "C\na\nb\nd-declared\n"; got != want {
		t.Errorf("ran in order %q, want %q", got, want)
	}
	st := p.Status()
	var dupe *CheckStatus
	for i, c := range st.Checks {
		if c.Name == "d" && c.Source == filepath.Join(dir, "d") {
			dupe = &st.Checks[i]
		}
	}
	if dupe == nil || dupe.State != Refused || !strings.Contains(dupe.LastError, "duplicate name: first defined in /etc/asagent/agent.yaml") {
		t.Errorf("the duplicate script: %+v", dupe)
	}
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "duplicate name") {
		t.Errorf("problems %q", st.Problems)
	}
}

// A missing scripts directory is no error; an unreadable one is a problem
// in the status.
func TestMissingScriptsDir(t *testing.T) {
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = filepath.Join(t.TempDir(), "launch.d")
	p := NewPhase("launch", ph, nil, testOptions(t, clockwork.NewFakeClock()))
	if st := p.Status(); len(st.Checks) != 0 || len(st.Problems) != 0 {
		t.Errorf("status %+v", st)
	}
	if v := p.Run(t.Context()); v.State != Passed {
		t.Errorf("a phase without checks: %+v", v)
	}
	ph.ScriptsDir = writeScript(t, t.TempDir(), "not-a-dir", "", 0o755)
	p = NewPhase("launch", ph, nil, testOptions(t, clockwork.NewFakeClock()))
	if st := p.Status(); len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "scripts_dir") {
		t.Errorf("problems %q", st.Problems)
	}
}

// otherUID stands for another local user: neither root nor the agent.
const otherUID = 65534

// needRoot skips a test that must give files to another user.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user (chown); the rules are tested in package trust")
	}
}

// The path to a script is checked component by component, as OpenSSH's
// StrictModes does: a scripts directory under a world-writable parent (or
// a symlink into a world-writable directory) is refused, since another
// user could swap what runs; a sticky root-owned directory (as /tmp) is
// fine for entries of root, not for another user's. Each case runs the
// phase once: a refused script never runs and keeps the phase from
// passing.
func TestDropInPathRules(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name  string
		build func(t *testing.T, root string) (scriptsDir string)
		want  string // "" to run and pass, else in the verdict's reason
	}{
		{"world-writable parent", func(t *testing.T, root string) string {
			parent := mkdirMode(t, filepath.Join(root, "etc"), 0o777)
			d := mkdirMode(t, filepath.Join(parent, "launch.d"), 0o755)
			writeScript(t, d, "10-app", "touch "+root+"/ran", 0o755)
			return d
		}, "drop-ins not loaded: ROOT/etc/launch.d"},
		{"symlink into a world-writable directory", func(t *testing.T, root string) string {
			open := mkdirMode(t, filepath.Join(root, "open"), 0o777)
			target := writeScript(t, open, "app", "touch "+root+"/ran", 0o755)
			d := mkdirMode(t, filepath.Join(root, "launch.d"), 0o755)
			mustSymlink(t, target, filepath.Join(d, "10-app"))
			return d
		}, "refused, so not run: 10-app"},
		{"sticky root directory, root's script", func(t *testing.T, root string) string {
			d := mkdirMode(t, filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
			writeScript(t, d, "10-app", "touch "+root+"/ran", 0o755)
			return d
		}, ""},
		{"sticky root directory, another user's script", func(t *testing.T, root string) string {
			d := mkdirMode(t, filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
			mustDo(t, os.Chown(writeScript(t, d, "10-app", "touch "+root+"/ran", 0o755), otherUID, otherUID))
			return d
		}, "refused, so not run: 10-app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ph := fastPhase(config.Parallel)
			ph.ScriptsDir = tc.build(t, root)
			p := NewPhase("launch", ph, nil, testOptions(t, clockwork.NewFakeClock()))
			v := p.RunOnce(t.Context())
			_, err := os.Stat(filepath.Join(root, "ran"))
			want := strings.ReplaceAll(tc.want, "ROOT", root)
			switch {
			case want == "" && (v.State != Passed || err != nil):
				t.Errorf("verdict %+v, ran: %v; want it run and passed", v, err == nil)
			case want != "" && (v.State != Pending || !strings.Contains(v.Reason, want)):
				t.Errorf("verdict %+v, want pending: %s", v, want)
			case want != "" && err == nil:
				t.Error("a refused script ran")
			}
		})
	}
}

// With a world-writable parent, another user can rename the scripts
// directory away: the phase must not pass with "all 0 checks passed".
func TestDropInDirectoryRenamedAway(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	parent := mkdirMode(t, filepath.Join(root, "etc"), 0o777)
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = filepath.Join(parent, "launch.d") // gone
	p := NewPhase("launch", ph, nil, testOptions(t, clockwork.NewFakeClock()))
	if v := p.RunOnce(t.Context()); v.State != Pending || !strings.Contains(v.Reason, "drop-ins not loaded: "+ph.ScriptsDir) {
		t.Errorf("verdict %+v, want pending on the untrusted scripts directory", v)
	}
	if probs := p.Status().Problems; len(probs) != 1 || !strings.Contains(probs[0], "directory "+parent+": group- or world-writable (mode 0777)") {
		t.Errorf("problems %q", probs)
	}
}

// A script runs from the file that was opened and checked, by its
// descriptor: renaming another file over its name after the check changes
// nothing, and a #! script still runs (its interpreter reads it through the
// descriptor, which stays open in the child). It learns its path from
// ASAGENT_SCRIPT.
func TestScriptRunsFromCheckedFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("scripts run by descriptor on Linux only")
	}
	dir := t.TempDir()
	path := writeScript(t, dir, "10-app", `echo "checked $ASAGENT_SCRIPT"`, 0o755)
	f, err := openScript(path, trust.Agent(false))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	swapped := writeScript(t, dir, ".swap", "echo swapped", 0o755)
	mustDo(t, os.Rename(swapped, path))
	cmd, err := scriptCommand(t.Context(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = environ(Env{}, 1, path)
	out, err := cmd.CombinedOutput()
	if got, want := strings.TrimSpace(string(out)), "checked "+path; err != nil || got != want {
		t.Errorf("ran %q (%v), want %q", got, err, want)
	}
}

func mkdirMode(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	mustDo(t, os.Mkdir(path, mode))
	mustDo(t, os.Chmod(path, mode)) // umask-proof
	return path
}
