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
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/testutil"
)

const (
	childEnv = "ASAGENT_CONTROL_TEST_CHILD" // the child is a client
	serveEnv = "ASAGENT_CONTROL_TEST_SERVE" // the child is a server
)

// TestMain lets the peer-credential tests run this binary as another user.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		err := NewClient(path).Signal(context.Background(), SignalFail)
		fmt.Print(err)
		os.Exit(0)
	}
	if path := os.Getenv(serveEnv); path != "" {
		// Until the parent kills it.
		fmt.Print(Serve(context.Background(), path, &recordingHandler{}, zerolog.Nop()))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// A socket served by another user (who could put one where a loose socket
// directory let them) is refused by the client, which reads the server's
// credentials: root's `asagent status` shows nothing of it and `complete`
// fails instead of exiting 0 without reaching the agent.
func TestClientRefusesAServerOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a server as another user")
	}
	dir := t.TempDir()
	sockDir := filepath.Join(dir, "run")
	if err := os.Mkdir(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sockDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "child")
	copyFile(t, self, bin)
	path := filepath.Join(sockDir, "agent.sock")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), serveEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, "the other user's server", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
	_, err = NewClient(path).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "served by user 65534") {
		t.Errorf("status from another user's server: %v, want a refusal naming the user (server said: %s)", err, out.String())
	}
	if err := NewClient(path).Complete(context.Background(), "CONTINUE", ""); err == nil {
		t.Error("complete through another user's server succeeded")
	}
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

// The agent refuses to serve its socket in a directory others may write
// to: they could replace the socket with their own or remove it.
func TestServeRefusesALooseDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := Serve(context.Background(), filepath.Join(dir, "agent.sock"), &recordingHandler{}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("Serve in a 0777 directory: %v, want a refusal", err)
	}
}
