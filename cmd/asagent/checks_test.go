//go:build !windows

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checksConfig writes an agent.yaml whose phases take their scripts from
// fresh directories, writes the given scripts there, and returns the
// config's path. extra is appended to the launch section.
func checksConfig(t *testing.T, extra string, launch, terminate map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for dir, scripts := range map[string]map[string]string{"launch.d": launch, "terminate.d": terminate} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range scripts {
			path := filepath.Join(root, dir, name)
			if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := "include_dir: " + filepath.Join(root, "conf.d") + "\n" +
		"terminate:\n  scripts_dir: " + filepath.Join(root, "terminate.d") + "\n  interval: 1s\n" +
		"launch:\n  scripts_dir: " + filepath.Join(root, "launch.d") + "\n  interval: 1s\n" + extra
	path := filepath.Join(root, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `asagent checks` runs a phase's checks with no cloud, prints a table and
// the answer the agent would give, and exits 0 exactly when that answer is
// CONTINUE: a failed terminate phase still continues by default, a failed
// launch abandons, and one attempt that is "not yet" is no answer.
func TestChecksCommand(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("launch:\n  mode: sideways\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	retry := `f=$(dirname "$ASAGENT_SCRIPT")/../count; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n+1)) > "$f"; echo "attempt $((n+1))"; [ "$n" -ge 1 ]`
	cases := []struct {
		name       string
		args       []string
		config     string // "bad" for the bad file
		extra      string
		launch     map[string]string
		terminate  map[string]string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{name: "once passes", args: []string{"--phase", "launch", "--once"},
			launch:   map[string]string{"10-web": "echo listening on :80", "20-db": "exit 0"},
			wantCode: exitOK, wantStdout: []string{"CHECK", "LAST OUTPUT", "10-web", "passed", "listening on :80", "launch: passed: all 2 checks passed -> CONTINUE"}},
		{name: "once not yet", args: []string{"--phase", "launch", "--once"},
			launch:   map[string]string{"10-web": "echo starting; exit 1"},
			wantCode: exitFailed, wantStdout: []string{"pending", "exit 1: starting", "-> no answer yet"}},
		{name: "until decided", args: []string{"--phase", "launch"},
			launch:   map[string]string{"10-web": retry},
			wantCode: exitOK, wantStdout: []string{"10-web", "passed", "2 ", "attempt 2", "-> CONTINUE"}},
		{name: "launch gives up", args: []string{"--phase", "launch"},
			launch:   map[string]string{"10-web": "echo no disk >&2; exit 100"},
			wantCode: exitFailed, wantStdout: []string{"failed", "exit 100: gave up: no disk", "-> on_failure ABANDON"}},
		{name: "terminate fails but continues", args: []string{"--phase", "terminate", "--yes"},
			terminate: map[string]string{"10-drain": "exit 100", "20-after": "exit 0"},
			wantCode:  exitOK, wantStdout: []string{"10-drain", "failed", "20-after", "pending", "-> on_failure CONTINUE"}},
		{name: "declared checks too", args: []string{"--phase", "launch", "--once"},
			extra:    "  checks:\n    - {name: marker, type: file, path: /nonexistent/asagent-test}\n",
			wantCode: exitFailed, wantStdout: []string{"marker", "file", "does not exist yet"}},
		{name: "bad config", args: []string{"--phase", "launch"}, config: "bad",
			wantCode: exitConfig, wantStderr: "invalid configuration"},
		{name: "no phase", args: []string{"--once"},
			wantCode: exitUsage, wantStderr: `--phase must be launch or terminate, not ""`},
		{name: "bad phase", args: []string{"--phase", "boot"},
			wantCode: exitUsage, wantStderr: "Usage: asagent checks --phase launch|terminate"},
		{name: "terminate says what it runs", args: []string{"--phase", "terminate", "--once", "--yes"},
			terminate: map[string]string{"10-drain": "exit 0"},
			wantCode:  exitOK, wantStderr: "the terminate phase runs the real drain steps on this machine, now: 10-drain"},
		{name: "terminate off a terminal without --yes", args: []string{"--phase", "terminate", "--once"},
			terminate: map[string]string{"10-drain": "touch $(dirname $ASAGENT_SCRIPT)/../ran"},
			wantCode:  exitUsage, wantStderr: "not on a terminal; pass --yes to run them"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := bad
			if tc.config != "bad" {
				path = checksConfig(t, tc.extra, tc.launch, tc.terminate)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"checks", "--config", path}, tc.args...)
			code := dispatch(t.Context(), cmdIO{&stdout, &stderr}, args)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "ran")); code == exitUsage && err == nil {
				t.Error("a drain step ran although the command was refused")
			}
		})
	}
}

// Only "y" or "yes" on the terminal runs the drain steps.
func TestConfirmed(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes ": true, "\n": false, "n\n": false, "": false, "sure\n": false} {
		if got := confirmed(strings.NewReader(in)); got != want {
			t.Errorf("confirmed(%q) = %v, want %v", in, got, want)
		}
	}
}

// Ctrl-C stops a dry run that has not decided: the table is still printed
// and the exit code says "no answer".
func TestChecksCommandInterrupted(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	path := checksConfig(t, "", map[string]string{"10-wait": "touch " + started + "; exit 1"}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, cmdIO{&stdout, &stderr}, []string{"checks", "--config", path, "--phase", "launch"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the script never ran")
		}
		time.Sleep(5 * time.Millisecond) // polling for a file, bounded above
	}
	cancel()
	if code := <-done; code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if out := stdout.String(); !strings.Contains(out, "10-wait") || !strings.Contains(out, "launch: pending: stopped: context canceled -> no answer yet") {
		t.Errorf("stdout:\n%s", out)
	}
}

// /dev/null is a character device but no terminal: a command run from
// cron or a unit must not be taken for a person who can answer.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("isTerminal(/dev/null) = true")
	}
}
