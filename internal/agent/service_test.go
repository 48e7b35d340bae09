package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/testutil"
)

// Two agents on one state_dir: the second refuses to start while the first
// runs, instead of running the checks again and taking over the socket.
func TestSecondAgentOnOneStateDirRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.ControlSocket = filepath.Join(dir, "agent.sock")
	cfg.Cloud.MetadataEndpoint = "http://127.0.0.1:9" // nothing answers: the first agent keeps starting
	log := zerolog.New(zerolog.NewTestWriter(t))

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- New(cfg, log, ServiceOptions{}).Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, "the first agent's socket", func() bool {
		_, err := os.Stat(cfg.ControlSocket)
		return err == nil
	})
	err := New(cfg, log, ServiceOptions{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another asagent is running") {
		t.Errorf("second agent: %v, want a refusal", err)
	}
	if _, statErr := os.Stat(cfg.ControlSocket); statErr != nil {
		t.Errorf("the second agent removed the first one's socket: %v", statErr)
	}
	cancel()
	if err := <-first; err != nil {
		t.Errorf("first agent: %v", err)
	}
}
