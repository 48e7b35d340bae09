//go:build !windows

package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/testutil"
)

// writeConfig writes an agent.yaml whose phases use scripts and include
// directories under root, loads it and returns it.
func writeConfig(t *testing.T, root, extra string) *config.Config {
	t.Helper()
	path := filepath.Join(root, "agent.yaml")
	body := "include_dir: " + filepath.Join(root, "conf.d") + "\n" +
		"launch:\n  scripts_dir: " + filepath.Join(root, "launch.d") + "\n  max_wait: 1h\n" + extra
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A phase built from the config has agent.yaml's checks, include_dir's
// drop-ins (a bad one left out and reported, the others kept) and the
// scripts; while it runs, a drop-in added to include_dir joins it.
func TestFromConfigFollowsDropIns(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"conf.d", "launch.d"} {
		mustDo(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	marker := filepath.Join(root, "ready")
	mustDo(t, os.WriteFile(marker, nil, 0o644))
	writeScript(t, filepath.Join(root, "launch.d"), "10-script", "exit 0", 0o755)
	mustDo(t, os.WriteFile(filepath.Join(root, "conf.d", "bad.yaml"), []byte("launch:\n  checks:\n    - {name: x, type: nope}\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(root, "conf.d", "app.yaml"), []byte("launch:\n  checks:\n    - {name: app, type: file, path: "+marker+"}\n"), 0o644))
	cfg := writeConfig(t, root, "  checks:\n    - {name: main, type: signal, signal: ready}\n")

	clock := clockwork.NewFakeClock()
	opts := testOptions(t, clock)
	opts.Signals = NewSignalBoard(clock)
	p, errs := FromConfig(cfg, PhaseLaunch, opts)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "bad.yaml") {
		t.Fatalf("errs = %v", errs)
	}
	var names []string
	for _, c := range p.Status().Checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); got != "10-script app main" {
		t.Fatalf("checks %q", got)
	}
	if probs := p.Status().Problems; len(probs) != 1 || !strings.Contains(probs[0], "bad.yaml") {
		t.Errorf("problems %q", probs)
	}

	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	// main waits for its signal; the others have passed.
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	mustDo(t, os.WriteFile(filepath.Join(root, "conf.d", "late.yaml"), []byte("launch:\n  checks:\n    - {name: late, type: file, path: "+marker+"}\n"), 0o644))
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "the late drop-in to join and pass", func() bool {
		for _, c := range p.Status().Checks {
			if c.Name == "late" {
				return c.State == Passed
			}
		}
		return false
	})
	mustDo(t, opts.Signals.Raise("ready"))
	if v := <-done; v.State != Passed || v.Reason != "all 4 checks passed" {
		t.Errorf("verdict %+v", v)
	}
}

// PhaseConfig knows only the two phases.
func TestPhaseConfigNames(t *testing.T) {
	cfg := config.Default()
	if ph, err := PhaseConfig(cfg, PhaseTerminate); err != nil || ph.Mode != config.Sequential {
		t.Errorf("terminate: %+v, %v", ph, err)
	}
	if _, err := PhaseConfig(cfg, "boot"); err == nil {
		t.Error("boot: no error")
	}
	if _, errs := FromConfig(cfg, "boot", Options{}); len(errs) != 1 {
		t.Errorf("FromConfig(boot): %v", errs)
	}
}
