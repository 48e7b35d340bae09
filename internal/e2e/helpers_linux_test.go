//go:build linux

package e2e

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/syncbuf"
	"github.com/asagent/asagent/internal/testutil"
)

// needRoot skips unless the test runs as root on Linux.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs Linux: %s", why)
	}
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s; CI runs as root", why)
	}
}

// hostCodename is this Debian's codename from /etc/os-release.
func hostCodename() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// eventually polls cond until it holds, failing after limit. It is for
// outside processes (a container, systemd, the simulator), which offer
// nothing to wait on.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	held := testutil.Within(limit, 200*time.Millisecond, func() bool {
		ok, state := cond()
		last = state
		return ok
	})
	if !held {
		t.Fatalf("still waiting after %v for %s; last seen:\n%s", limit, what, last)
	}
}

// lockedBuffer captures output while it is read (see package syncbuf).
type lockedBuffer = syncbuf.Buffer

// tail is the last n lines of s, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
