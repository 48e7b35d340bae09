package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// recordingHandler records what the socket passed on.
type recordingHandler struct {
	mu       sync.Mutex
	signals  []string
	complete []string
}

func (h *recordingHandler) Status() Status {
	return Status{InstanceID: "i-1", State: "launch", Phase: &PhaseProgress{Name: "launch", Checks: []Check{{Name: "web", State: "pending", Attempts: 3}}}}
}

func (h *recordingHandler) Signal(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if name == "bogus" {
		return &UserError{"unknown signal \"bogus\""}
	}
	h.signals = append(h.signals, name)
	return nil
}

func (h *recordingHandler) Complete(_ context.Context, result, hook string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.complete = append(h.complete, result+"/"+hook)
	return nil
}

func serve(t *testing.T, h Handler) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.sock")
	// A stale socket file from a crashed agent must not stop a new one.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, path, h, zerolog.New(zerolog.NewTestWriter(t))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after shutdown: %v", err)
		}
	})
	waitForSocket(t, path)
	return path
}

// waitForSocket polls, bounded, until the server answers.
func waitForSocket(t *testing.T, path string) {
	t.Helper()
	c := NewClient(path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Status(context.Background()); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("control socket never answered: %v", err)
		}
		runtime.Gosched()
	}
}

// Status, signals and overrides reach the handler, and its refusals come back
// as the caller's error.
func TestControlRoundTrip(t *testing.T) {
	h := &recordingHandler{}
	path := serve(t, h)
	c := NewClient(path)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || st.InstanceID != "i-1" || st.Phase.Checks[0].Attempts != 3 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := c.Signal(ctx, SignalReady); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(ctx, "bogus"); err == nil || err.Error() != `unknown signal "bogus"` {
		t.Errorf("refusal = %v", err)
	}
	if err := c.Complete(ctx, "ABANDON", "hook-1"); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if fmt.Sprint(h.signals) != "[ready]" || fmt.Sprint(h.complete) != "[ABANDON/hook-1]" {
		t.Errorf("handler saw signals %v, complete %v", h.signals, h.complete)
	}

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}
}

// With no agent, the client says so plainly.
func TestClientNotRunning(t *testing.T) {
	_, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(context.Background())
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("err = %v, want ErrNotRunning", err)
	}
}
