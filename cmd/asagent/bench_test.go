package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

// `asagent bench fleet` runs a fleet on virtual time with a progress line
// and prints its figures; a correct fleet exits 0. `asagent bench` with no
// or an unknown subcommand is a usage error.
func TestBenchFleetCommand(t *testing.T) {
	cases := []struct {
		name             string
		args             []string
		code             int
		stdout, progress string
	}{
		{"small fleet", []string{"bench", "fleet", "--instances", "8", "--waves", "2", "--wave-every", "1m", "--idle", "2m", "--step", "1s"},
			exitOK, "holds timed out into their default result", "t=0s"},
		{"no subcommand", []string{"bench"}, exitUsage, "", "Subcommands:"},
		{"unknown subcommand", []string{"bench", "nope"}, exitUsage, "", `unknown subcommand "nope"`},
		{"bad instances", []string{"bench", "fleet", "--instances", "0"}, exitUsage, "", "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, tc.args); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.progress) {
				t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

// The footprint probe runs the real binary (asagent sim and asagent run),
// waits for launch to complete and reads the idle agent from /proc, with
// metrics off and then on; here with a short window.
func TestBenchFootprintRealBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	bin := buildBinary(t)
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, []string{"bench", "footprint", "--binary", bin, "--window", "2s"}); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"idle RSS of asagent run", "idle CPU", "open fds", "metrics on: idle RSS", "metrics on: idle CPU"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("no %q in:\n%s", want, stdout.String())
		}
	}
}
