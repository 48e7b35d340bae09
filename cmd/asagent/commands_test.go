package main

import (
	"bytes"
	"context"
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
		{"help for a command", []string{"help", "version"}, exitOK, "", "Usage: asagent version"},
		{"command -h", []string{"version", "-h"}, exitOK, "", "Usage: asagent version"},
		{"bad flag", []string{"version", "--nope"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"stray argument", []string{"version", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{"version", []string{"version"}, exitOK, "asagent dev (commit ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, tc.args)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr: %s)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
			if tc.wantStdout == "" && stdout.Len() > 0 {
				t.Errorf("unexpected stdout: %q", stdout.String())
			}
		})
	}
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
