//go:build linux

package control

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

const childEnv = "ASAGENT_CONTROL_TEST_CHILD"

// TestMain lets the peer-credential test run this binary as another user.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		err := NewClient(path).Signal(context.Background(), SignalFail)
		fmt.Print(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Even if the socket's mode were loosened, a peer that is neither root nor
// the agent's user is refused by its credentials (SO_PEERCRED), and its
// signal never reaches the agent.
func TestPeerOtherThanRootIsRefused(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root to run a client as another user")
	}
	h := &recordingHandler{}
	path := serve(t, h)
	// Copy this test binary where user 65534 can run it, and open the way
	// to the socket (t.TempDir's directories are 0700).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range []string{path, filepath.Dir(path), filepath.Dir(filepath.Dir(path)), dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "child")
	copyFile(t, self, bin)

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "permission denied") {
		t.Errorf("child's signal was not refused: %q", out)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.signals) != 0 {
		t.Errorf("refused signal reached the agent: %v", h.signals)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
