package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
)

// startSimCommand runs `asagent sim` in process with args (plus a free
// port) until the test ends, and returns what it printed up to the
// complete snippet and the URL.
func startSimCommand(t *testing.T, args ...string) snippet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- dispatch(ctx, cmdIO{outW, &stderr}, append([]string{"sim", "--listen", "127.0.0.1:0"}, args...))
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != exitOK {
			t.Errorf("asagent sim: exit %d\n%s", code, stderr.String())
		}
	})
	return readSnippet(t, outR)
}

// simCmd runs one `asagent sim` control command and returns its exit code
// and output.
func simCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, append([]string{"sim"}, args...))
	return code, stdout.String(), stderr.String()
}

// `asagent sim --workdir DIR` makes a rehearsal directory where missing: a
// complete agent.yaml whose every path is under DIR and that points at this
// simulator, a scenario with the instance outside its group, and
// directories the agent trusts. A second start keeps the files and says
// when the kept agent.yaml points elsewhere.
func TestSimWorkdir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rehearsal")
	s := startSimCommand(t, "--workdir", dir)
	cfg, err := config.Load(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatalf("agent.yaml: %v", err)
	}
	for key, path := range map[string]string{"launch.scripts_dir": cfg.Launch.ScriptsDir, "terminate.scripts_dir": cfg.Terminate.ScriptsDir,
		"include_dir": cfg.IncludeDir, "state_dir": cfg.StateDir, "control_socket": cfg.ControlSocket} {
		if !strings.HasPrefix(path, dir+"/") {
			t.Errorf("%s = %s, outside %s", key, path, dir)
		}
	}
	if cfg.Cloud.MetadataEndpoint != s.url || cfg.Cloud.ASEndpoint != s.url {
		t.Errorf("endpoints %s, %s; want %s", cfg.Cloud.MetadataEndpoint, cfg.Cloud.ASEndpoint, s.url)
	}
	for name, mode := range map[string]os.FileMode{"launch.d": 0o755, "terminate.d": 0o755, "conf.d": 0o755, "state": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || fi.Mode().Perm() > mode {
			t.Errorf("%s: %v %v, want a directory no one else can write", name, fi.Mode(), err)
		}
	}
	code, out, _ := simCmd(t, "status", "--sim", s.url, "--json")
	var ans sim.ControlAnswer
	if err := json.Unmarshal([]byte(out), &ans); code != exitOK || err != nil || ans.Status.LifeCycleState != sim.StateRemoved {
		t.Errorf("status at the start: exit %d, %v, %s", code, err, out)
	}
	if !strings.Contains(strings.Join(s.lines, "\n"), "then: asagent sim scale-out --sim "+s.url) {
		t.Errorf("the output does not name the next step:\n%s", strings.Join(s.lines, "\n"))
	}

	again := startSimCommand(t, "--workdir", dir)
	text := strings.Join(again.lines, "\n")
	if !strings.Contains(text, "kept its agent.yaml") || !strings.Contains(text, "does not point at "+again.url) {
		t.Errorf("second start:\n%s", text)
	}
}

// Without --workdir the snippet is just as complete, in a temporary
// directory it names and removes when it stops.
func TestSimTemporaryWorkdir(t *testing.T) {
	var tmp string
	t.Run("serving", func(t *testing.T) {
		s := startSimCommand(t)
		text := strings.Join(s.lines, "\n")
		i := strings.Index(text, "work directory ")
		if i < 0 {
			t.Fatalf("no work directory named:\n%s", text)
		}
		tmp = strings.Fields(text[i+len("work directory "):])[0]
		cfg, err := config.Load(filepath.Join(tmp, "agent.yaml"))
		if err != nil || cfg.StateDir != filepath.Join(tmp, "state") || cfg.Launch.ScriptsDir != filepath.Join(tmp, "launch.d") {
			t.Errorf("agent.yaml in %s: %+v, %v", tmp, cfg, err)
		}
		if !strings.Contains(text, "the instance is in its group already") {
			t.Errorf("the default scenario holds the instance at start; the output should say so:\n%s", text)
		}
	})
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("%s still there after the simulator stopped: %v", tmp, err)
	}
}

// The control commands drive a running simulator and print what they did;
// what the instance's state does not allow exits 1 and says why; a bad
// command line exits 2; no simulator is exit 1 with a hint.
func TestSimControlCommands(t *testing.T) {
	s := startSimCommand(t, "--workdir", filepath.Join(t.TempDir(), "w"))
	cases := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{[]string{"scale-in"}, exitFailed, "REMOVED, in no scaling group", "is in no group; scale-out first"},
		{[]string{"scale-out"}, exitOK, "scale-out: instance " + sim.DefaultInstanceID + " is now PENDING_WAIT, held by launch-hook", ""},
		{[]string{"scale-out"}, exitFailed, "", "scale-in first"},
		{[]string{"complete", "--result", "extend"}, exitOK, "launch-hook  EXTEND  third party (asagent sim complete)  204", ""},
		{[]string{"complete", "--hook", "launch-hook", "--result", "CONTINUE"}, exitOK, "is now INSERVICE", ""},
		{[]string{"status"}, exitOK, "CONTINUE by callback at", ""},
		{[]string{"complete", "--result", "MAYBE"}, exitUsage, "", `--result must be CONTINUE, ABANDON or EXTEND, not "MAYBE"`},
		{[]string{"status", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := simCmd(t, append(tc.args, "--sim", s.url)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantStdout) || !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tc.wantCode, tc.wantStdout, out, tc.wantStderr, errOut)
			}
		})
	}
	code, _, errOut := simCmd(t, "status", "--sim", "http://127.0.0.1:9")
	if code != exitFailed || !strings.Contains(errOut, "no simulator answers at http://127.0.0.1:9") {
		t.Errorf("no simulator: exit %d, %s", code, errOut)
	}
	if code, out, _ := simCmd(t, "scale-out", "-h"); code != exitOK || !strings.Contains(out, "Usage: asagent sim scale-out") {
		t.Errorf("scale-out -h: exit %d, %s", code, out)
	}
}
