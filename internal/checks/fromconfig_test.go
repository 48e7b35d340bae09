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
// scripts; while it runs, a drop-in added to include_dir joins it. The
// bad drop-in keeps the phase from passing until it is fixed.
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
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "main to pass", func() bool { return p.Status().Passed == 4 })
	select {
	case v := <-done:
		t.Fatalf("decided while bad.yaml does not load: %+v", v)
	default:
	}
	mustDo(t, os.Remove(filepath.Join(root, "conf.d", "bad.yaml")))
	if v := <-done; v.State != Passed || v.Reason != "all 4 checks passed" {
		t.Errorf("verdict %+v", v)
	}
}

// A YAML drop-in that is refused (mode 0664), does not parse or cannot
// be read was meant to add checks: it keeps both phases from passing,
// named in the verdict and the status, as a refused script does, and the
// phase fails at max_wait.
func TestUnloadedYAMLDropInBlocksPhase(t *testing.T) {
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string // in the status's problems
	}{
		{"group-writable", "launch:\n  checks:\n    - {name: app, type: signal, signal: ready}\n", 0o664, "refused: group- or world-writable (mode 0664)"},
		{"does not parse", "launch: [\n", 0o644, "invalid YAML"},
		{"invalid check", "terminate:\n  checks:\n    - {name: x, type: nope}\n", 0o644, "must be one of"},
	}
	for _, tc := range cases {
		for _, phase := range []string{PhaseLaunch, PhaseTerminate} {
			t.Run(tc.name+"/"+phase, func(t *testing.T) {
				root := t.TempDir()
				mustDo(t, os.Mkdir(filepath.Join(root, "conf.d"), 0o755))
				bad := filepath.Join(root, "conf.d", "app.yaml")
				mustDo(t, os.WriteFile(bad, []byte(tc.body), tc.mode))
				mustDo(t, os.Chmod(bad, tc.mode))
				cfg := writeConfig(t, root, "terminate:\n  max_wait: 1h\n")
				clock := clockwork.NewFakeClock()
				opts := testOptions(t, clock)
				opts.NoWatch = true
				p, errs := FromConfig(cfg, phase, opts)
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), bad) {
					t.Fatalf("errs %v, want one naming %s", errs, bad)
				}
				if probs := p.Status().Problems; len(probs) != 1 || !strings.Contains(probs[0], bad) || !strings.Contains(probs[0], tc.want) {
					t.Errorf("problems %q, want %q about %s", probs, tc.want, bad)
				}
				if v := p.RunOnce(t.Context()); v.State != Pending || v.Reason != "drop-ins not loaded: "+bad {
					t.Errorf("once: %+v", v)
				}
				v := drive(t, clock, p, 1, time.Hour)
				if v.State != Failed || v.Reason != "max_wait 1h0m0s spent; drop-ins not loaded: "+bad {
					t.Errorf("verdict %+v", v)
				}
			})
		}
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
