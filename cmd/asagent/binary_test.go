package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the real asagent binary into a temporary directory, with
// the given extra go build flags, and returns its path. Tests that need a real
// process (version stamping, end-to-end runs) use it.
func buildBinary(t *testing.T, extra ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "asagent")
	args := append([]string{"build", "-o", bin}, extra...)
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// Release builds stamp version and commit with -ldflags -X; the variables'
// import path is what the Makefile and packaging pass, so it must stay right.
func TestVersionStampedByLdflags(t *testing.T) {
	const pkg = "github.com/asagent/asagent/internal/version"
	bin := buildBinary(t, "-ldflags", "-X "+pkg+".Version=9.8.7 -X "+pkg+".Commit=cafef00d")
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("asagent version: %v", err)
	}
	if got := string(out); !strings.HasPrefix(got, "asagent 9.8.7 (commit cafef00d, go") {
		t.Errorf("asagent version = %q", got)
	}
}

// stopGently stops a process started by a test with SIGTERM, as a service
// manager would, so that it cleans up after itself; SIGKILL after limit.
func stopGently(cmd *exec.Cmd, limit time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
	}
}
