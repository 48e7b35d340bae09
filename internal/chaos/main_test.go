//go:build linux

package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// agentBin is the asagent binary that TestMain builds once for every test of
// the package; empty with -short, where the suites skip.
var agentBin string

// TestMain builds the real binary once: every suite runs it as a process.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "asagent-chaos-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// 0755 so the peer-credential test can run the binary as another user.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bin := filepath.Join(dir, "asagent")
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/asagent")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "go build:", err)
			return 1
		}
		agentBin = bin
	}
	return m.Run()
}

// needBinary skips a test when the binary was not built (-short).
func needBinary(t *testing.T) {
	t.Helper()
	if agentBin == "" {
		t.Skip("runs the real binary; skipped with -short")
	}
}
