package agent

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/syncbuf"
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

// The "instance identified" line says where each fact came from: here the
// instance, project and region from the metadata service and the group
// from the config. It once said "config" for an instance ID that came from
// the metadata service.
func TestIdentifiedSaysWhereEachFactCameFrom(t *testing.T) {
	s, err := sim.New(sim.Options{AccessKey: testAK, SecretKey: testSK})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.ControlSocket = filepath.Join(dir, "agent.sock")
	cfg.Launch.ScriptsDir, cfg.Terminate.ScriptsDir, cfg.IncludeDir = "", "", ""
	cfg.Cloud.MetadataEndpoint, cfg.Cloud.ASEndpoint = srv.URL, srv.URL
	cfg.Cloud.Credentials = config.Credentials{AccessKey: testAK, SecretKey: testSK}
	cfg.Cloud.ScalingGroupID = sim.DefaultGroupID
	var buf syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cfg, zerolog.New(&buf), ServiceOptions{}).Run(ctx) }()
	var line struct {
		InstanceID string            `json:"instance_id"`
		FoundBy    map[string]string `json:"found_by"`
	}
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, "the instance identified line", func() bool {
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, `"message":"instance identified"`) {
				return json.Unmarshal([]byte(l), &line) == nil
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
	want := map[string]string{"instance_id": "metadata service", "project_id": "metadata service", "region": "metadata service", "scaling_group_id": "config"}
	if line.InstanceID != sim.DefaultInstanceID || !maps.Equal(line.FoundBy, want) {
		t.Errorf("instance %q found_by %v; want %s and %v", line.InstanceID, line.FoundBy, sim.DefaultInstanceID, want)
	}
}
