package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asagent/asagent/internal/trust"
)

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

// One bad drop-in is reported and skipped; the good ones still load, and
// files that are not drop-ins by name are ignored as run-parts would.
func TestLoadDropIns(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "10-web.yaml"), "launch:\n  checks:\n    - {name: web, type: http, url: 'http://127.0.0.1:1/'}\n", 0o644)
	writeFile(t, filepath.Join(dir, "20-drain.yml"), "terminate:\n  checks:\n    - {name: drained, type: file, path: /run/x}\n", 0o644)
	writeFile(t, filepath.Join(dir, "30-bad.yaml"), "launch:\n  checks:\n    - {name: bad, type: nope}\n", 0o644)
	writeFile(t, filepath.Join(dir, "40-cloud.yaml"), "cloud:\n  region: x\n", 0o644)
	writeFile(t, filepath.Join(dir, "50-old.yaml.dpkg-old"), "launch: {checks: [{name: old, type: signal, signal: ready}]}\n", 0o644)
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "launch: {checks: [{name: hidden, type: signal, signal: ready}]}\n", 0o644)

	launch, terminate, errs := LoadDropIns(dir, false)
	if len(launch) != 1 || launch[0].Name != "web" || launch[0].Line != 3 || !strings.HasSuffix(launch[0].Source, "10-web.yaml") {
		t.Errorf("launch = %+v", launch)
	}
	if launch[0].Interval != 0 || launch[0].Method != "" {
		t.Errorf("drop-in checks come back as written, for the phase's defaults: %+v", launch[0])
	}
	if len(terminate) != 1 || terminate[0].Name != "drained" {
		t.Errorf("terminate = %+v", terminate)
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		`30-bad.yaml:3: launch.checks[0].type: must be one of exec, http, tcp, file, cloud-init, signal, not "nope"`,
		`40-cloud.yaml:1: cloud: unknown key; allowed: launch, terminate`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if len(errs) != 2 {
		t.Errorf("want 2 errors, got %d:\n%s", len(errs), got)
	}

	if l, tm, errs := LoadDropIns(filepath.Join(dir, "missing"), false); l != nil || tm != nil || errs != nil {
		t.Errorf("missing dir: %v %v %v", l, tm, errs)
	}
}

// A drop-in anyone could write is refused unless insecure_dropins is set:
// its exec checks would run as the agent.
func TestDropInOwnershipRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown test files")
	}
	dir := t.TempDir()
	body := "launch:\n  checks:\n    - {name: x, type: signal, signal: ready}\n"
	writable := filepath.Join(dir, "writable.yaml")
	writeFile(t, writable, body, 0o666)
	foreign := filepath.Join(dir, "foreign.yaml")
	writeFile(t, foreign, body, 0o644)
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{writable, "group- or world-writable"},
		{foreign, "owned by uid 65534"},
	} {
		_, _, err := loadDropIn(tc.path, trust.Agent(false))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.path, err, tc.want)
		}
		if l, _, err := loadDropIn(tc.path, trust.Agent(true)); err != nil || len(l) != 1 {
			t.Errorf("%s with insecure: %v %v", tc.path, l, err)
		}
	}
}
