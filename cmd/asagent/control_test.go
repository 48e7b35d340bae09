package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/control"
)

// The status table shows what an operator looks for: the phase, each hook
// with its deadline and extends, each check with its state and last output.
func TestRenderStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	st := control.Status{
		InstanceID: "i-1", GroupID: "g-1", GroupFrom: "config", Summary: "launch: 1/2 checks passed, hook expires 10:30:00",
		Phase: &control.PhaseProgress{
			Name: "launch", Started: now.Add(-time.Minute), Budget: now.Add(59 * time.Minute),
			Hooks:  []control.Hook{{Name: "boot", Timeout: now.Add(30 * time.Minute), Extends: 2}},
			Checks: []control.Check{{Name: "web", Type: "http", State: "pending", Attempts: 4, LastOutput: "line one\nconnection refused"}},
		},
		History: []control.PhaseProgress{{Name: "terminate", Result: "CONTINUE", Finished: now}},
	}
	var out bytes.Buffer
	renderStatus(&out, st, now)
	for _, want := range []string{"instance:", "i-1", "g-1 (config)", "launch: 1/2 checks passed", "boot", "30m0s", "2 ", "web", "pending", "connection refused", "terminate: CONTINUE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "line one") {
		t.Errorf("a table cell shows more than the last line of output:\n%s", out.String())
	}
}

// Names from the cloud and output from scripts cannot forge rows or send
// escape sequences to the operator's terminal: control characters show
// escaped.
func TestRenderStatusEscapes(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	st := control.Status{
		InstanceID: "i-1\x1b[2J", Summary: "ok",
		Phase: &control.PhaseProgress{
			Name:   "launch",
			Hooks:  []control.Hook{{Name: "boot\nforged-hook\t12:00:00", Timeout: now}},
			Checks: []control.Check{{Name: "web", LastOutput: "\x1b]0;owned\x07done"}},
		},
	}
	var out bytes.Buffer
	renderStatus(&out, st, now)
	if strings.ContainsAny(out.String(), "\x1b\x07") {
		t.Errorf("status passes control characters through:\n%q", out.String())
	}
	if strings.Contains(out.String(), "\nforged-hook") {
		t.Errorf("a hook name forged a row:\n%s", out.String())
	}
	for _, want := range []string{`i-1\x1b[2J`, `boot\nforged-hook\t12:00:00`, `\x1b]0;owned\adone`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks the escaped %s:\n%s", want, out.String())
		}
	}
}

// The control commands check their arguments before they talk to the agent,
// and say plainly when no agent runs.
func TestControlCommands(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	cases := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"signal", "--socket", sock}, exitUsage, "Usage: asagent signal"},
		{[]string{"complete", "--socket", sock}, exitUsage, "Usage: asagent complete"},
		{[]string{"status", "--socket", sock}, exitFailed, "the agent is not running"},
		{[]string{"signal", "--socket", sock, "ready"}, exitFailed, "the agent is not running"},
		{[]string{"complete", "--socket", sock, "--result", "CONTINUE"}, exitFailed, "the agent is not running"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args[:1], " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := dispatch(context.Background(), cmdIO{&out, &out}, tc.args); code != tc.wantCode {
				t.Errorf("exit %d, want %d: %s", code, tc.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q: %s", tc.want, out.String())
			}
		})
	}
}

// A check's table cell shows why it has not passed and then its last line
// of output, with no dangling colon when there is no output, and a long
// line is cut between words, never in one.
func TestOutputCell(t *testing.T) {
	long := "waiting for the database to accept connections on port 5432 before we continue" // 80 runes
	cases := []struct {
		name, err, output string
		want              string
	}{
		{"error and output", "exit status 1", "first\nwarming up, 9 s to go\n", "exit status 1: warming up, 9 s to go"},
		{"error alone", "exit status 1", "", "exit status 1"},
		{"error, blank output", "exit status 1", " \n", "exit status 1"},
		{"output alone", "", "ready\n", "ready"},
		{"neither", "", "", ""},
		{"long line cut at a word", "", long, "waiting for the database to accept connections on port 5432…"},
		{"no space to cut at", "", strings.Repeat("x", 70), strings.Repeat("x", 59) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := outputCell(tc.err, tc.output, 60); got != tc.want {
				t.Errorf("outputCell(%q, %q) = %q, want %q", tc.err, tc.output, got, tc.want)
			}
		})
	}
	var out bytes.Buffer
	renderStatus(&out, control.Status{Summary: "launch: 0/1 check passed", Phase: &control.PhaseProgress{Name: "launch",
		Checks: []control.Check{{Name: "web", State: "pending", LastError: "exit status 1", LastOutput: "a\nb\n"}}}}, time.Now())
	if !strings.Contains(out.String(), "exit status 1: b") {
		t.Errorf("the table hides the check's last error:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), ":") {
			t.Errorf("line ends in a colon: %q", line)
		}
	}
}
