package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The command line is an interface that scripts depend on: these exit codes
// and outputs must not drift.
func TestDispatch(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, exitUsage, "", "Usage: asagent COMMAND"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, exitOK, "Commands:", ""},
		{"--help", []string{"--help"}, exitOK, "version", ""},
		{"help for a command", []string{"help", "version"}, exitOK, "Usage: asagent version", ""},
		{"command -h", []string{"version", "-h"}, exitOK, "Usage: asagent version", ""},
		{"command -h after an argument", []string{"signal", "ready", "-h"}, exitOK, "Usage: asagent signal", ""},
		{"bad flag", []string{"version", "--nope"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"stray argument", []string{"version", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{"version", []string{"version"}, exitOK, "asagent dev (commit ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkDispatch(t, tc.args, tc.wantCode, tc.wantStdout, tc.wantStderr)
		})
	}
}

// checkDispatch runs the command line and checks its exit code and that
// stdout and stderr contain what they should; an empty wantStdout means
// nothing at all on stdout.
func checkDispatch(t *testing.T, args []string, wantCode int, wantStdout, wantStderr string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, args)
	if code != wantCode {
		t.Errorf("exit code = %d, want %d (stderr: %s)", code, wantCode, stderr.String())
	}
	if !strings.Contains(stdout.String(), wantStdout) {
		t.Errorf("stdout = %q, want it to contain %q", stdout.String(), wantStdout)
	}
	if !strings.Contains(stderr.String(), wantStderr) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), wantStderr)
	}
	if wantStdout == "" && stdout.Len() > 0 {
		t.Errorf("unexpected stdout: %q", stdout.String())
	}
}

// Flags may follow the positional argument, a bad argument is exit 2 with
// a message that says what is wrong (before any config is read), and a
// --config that names a missing file is a configuration error, never the
// defaults.
func TestCommandLinePolish(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "agent.yml")
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("control_socket: "+filepath.Join(dir, "none.sock")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ASAGENT_CONFIG", "")
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"flag after the signal", []string{"signal", "drained", "--config", cfg}, exitFailed, "the agent is not running"},
		{"flag after the signal, missing config", []string{"signal", "drained", "--config", missing}, exitConfig, missing + ": no such file"},
		{"unknown signal", []string{"signal", "bogus", "--config", missing}, exitUsage, `unknown signal "bogus"; want one of ready, drained, fail, extend`},
		{"no signal", []string{"signal"}, exitUsage, "which signal?"},
		{"two signals", []string{"signal", "ready", "drained"}, exitUsage, "one signal at a time"},
		{"bad result", []string{"complete", "--result", "MAYBE"}, exitUsage, `--result must be CONTINUE or ABANDON, not "MAYBE"`},
		{"no result", []string{"complete"}, exitUsage, "--result is required"},
		{"status, missing config", []string{"status", "--config", missing}, exitConfig, "no such file"},
		{"status, stray argument", []string{"status", "now"}, exitUsage, `unexpected argument "now"`},
		{"checks, missing config", []string{"checks", "--phase", "launch", "--config", missing}, exitConfig, "no such file"},
		{"run, missing config", []string{"run", "--config", missing}, exitConfig, "no such file"},
		{"validate, missing config", []string{"validate", "--config", missing}, exitConfig, "no such file"},
		{"service, action after a flag", []string{"service", "--config", cfg, "bogus"}, exitUsage, `unknown action "bogus"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkDispatch(t, tc.args, tc.wantCode, "", tc.wantStderr)
		})
	}
	t.Run("ASAGENT_CONFIG names a missing file", func(t *testing.T) {
		t.Setenv("ASAGENT_CONFIG", missing)
		checkDispatch(t, []string{"status"}, exitConfig, "", "no such file")
	})
}

// Every command listed in help must be reachable and accept -h, so the
// help text never advertises a command that does not exist.
func TestEveryCommandAcceptsHelpFlag(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, []string{c.name, "-h"}); code != exitOK {
				t.Fatalf("%s -h: exit %d, stderr %q", c.name, code, stderr.String())
			}
		})
	}
}

// `asagent help` and the README say the same about how long the demo
// takes: they once said "under a minute" and "~15 s".
func TestHelpAndReadmeAgreeOnTheDemo(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(demoSummary, "in about ")
	if i < 0 {
		t.Fatalf("the demo's help line gives no duration: %q", demoSummary)
	}
	took := demoSummary[i+len("in "):]
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "asagent demo") {
			n++
			if !strings.Contains(line, took) {
				t.Errorf("README line about the demo does not say %q:\n%s", took, line)
			}
		}
	}
	if n < 2 {
		t.Errorf("found %d README lines about the demo, want the first command and the commands table", n)
	}
}
