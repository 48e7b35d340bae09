package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/asagent/asagent/internal/config"
)

// cloudInitPythonModules are the Python libraries cloud-init's code needs
// (its Debian package's python3-* dependencies). .ci/run installs them as
// Debian packages; cloud-init itself is never installed on the host.
const cloudInitPythonModules = "yaml, jsonschema, configobj, jinja2, jsonpatch, netifaces, oauthlib, requests, serial"

// debianPython is Debian's interpreter, the one Debian's python3-*
// packages serve (a python3 earlier on PATH may be another).
const debianPython = "/usr/bin/python3"

// cloudInitTree returns a directory holding the unpacked files of Debian's
// cloud-init package, fetched with `apt-get download` (not installed: an
// installed cloud-init would bring units, a generator and ds-identify that
// act on the host at its next boot). The unpacked tree is cached by the
// package's file name.
func cloudInitTree(t *testing.T, ctx context.Context) string {
	t.Helper()
	needTool(t, "apt-get", "apt")
	needTool(t, "dpkg-deb", "dpkg")
	if _, err := os.Stat(debianPython); err != nil {
		if inCI() {
			t.Fatalf("%s is missing; .ci/run must install python3", debianPython)
		}
		t.Skipf("needs Debian's %s", debianPython)
	}
	if out, err := exec.CommandContext(ctx, debianPython, "-c", "import "+cloudInitPythonModules).CombinedOutput(); err != nil {
		if inCI() {
			t.Fatalf("cloud-init's Python libraries are missing; .ci/run must install them: %s", out)
		}
		t.Skipf("cloud-init's Python libraries are missing (see .ci/run): %s", strings.TrimSpace(string(out)))
	}
	cache := filepath.Join(rootCacheDir, "cloud-init")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		cache = t.TempDir() // not root: no shared cache
	}
	dl := t.TempDir()
	cmd := exec.CommandContext(ctx, "apt-get", "download", "cloud-init")
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download cloud-init: %v\n%s", err, out)
	}
	deb := onlyFile(t, dl, "cloud-init_*.deb")
	tree := filepath.Join(cache, strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(tree, "usr", "bin", "cloud-init")); err == nil {
		return tree
	}
	tmp, err := os.MkdirTemp(cache, ".unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, tree); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(tree, "usr", "bin", "cloud-init")); statErr != nil {
			t.Fatal(err)
		}
	}
	return tree
}

// cloudInitSchema runs `cloud-init schema --config-file path` from tree.
func cloudInitSchema(ctx context.Context, tree, path string) (string, error) {
	cmd := exec.CommandContext(ctx, debianPython, filepath.Join(tree, "usr", "bin", "cloud-init"), "schema", "--config-file", path)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "PYTHONPATH=" + filepath.Join(tree, "usr", "lib", "python3", "dist-packages")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The cloud-init example is valid user data by cloud-init's own schema (the
// version Debian ships), and the validator does reject a broken copy, so a
// pass means something.
func TestCloudInitExampleSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches Debian's cloud-init package; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	example := filepath.Join(repoRoot(t), "packaging", "cloud-init", "user-data.yaml")
	text, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(text), "runcmd:", "packages: 5\nruncmd:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := cloudInitTree(t, ctx)
	cases := []struct {
		name, path string
		valid      bool
	}{
		{"the example", example, true},
		{"a broken copy", broken, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cloudInitSchema(ctx, tree, tc.path)
			switch {
			case tc.valid && (err != nil || !strings.Contains(out, "Valid cloud-config")):
				t.Errorf("cloud-init schema rejects it: %v\n%s", err, out)
			case !tc.valid && err == nil:
				t.Errorf("cloud-init schema accepts it:\n%s", out)
			}
		})
	}
}

// What the example writes is what the agent accepts: agent.yaml is a valid
// configuration, the drop-ins are root-owned executables the agent will
// run, and nothing in runcmd waits for the agent.
func TestCloudInitExampleContents(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "cloud-init", "user-data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(text), "#cloud-config\n") {
		t.Fatal("user data must start with #cloud-config")
	}
	var ud struct {
		WriteFiles []struct {
			Path, Owner, Permissions, Content string
		} `yaml:"write_files"`
		Runcmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(text, &ud); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, f := range ud.WriteFiles {
		files[f.Path] = true
		t.Run(f.Path, func(t *testing.T) {
			if f.Owner != "root:root" {
				t.Errorf("owner %q: the agent runs only root-owned drop-ins", f.Owner)
			}
			switch {
			case f.Path == "/etc/asagent/agent.yaml":
				if _, err := config.Parse(f.Path, []byte(f.Content)); err != nil {
					t.Errorf("not a valid configuration: %v", err)
				}
			case strings.HasPrefix(f.Path, "/etc/asagent/launch.d/"), strings.HasPrefix(f.Path, "/etc/asagent/terminate.d/"):
				if f.Permissions != "0755" {
					t.Errorf("permissions %s, want 0755 (executable, not group- or world-writable)", f.Permissions)
				}
				if !strings.HasPrefix(f.Content, "#!") {
					t.Error("a drop-in script needs a #! line")
				}
			}
		})
	}
	for _, want := range []string{"/etc/asagent/agent.yaml", "/etc/asagent/launch.d/50-app-ready"} {
		if !files[want] {
			t.Errorf("the example writes no %s", want)
		}
	}
	for _, cmd := range ud.Runcmd {
		line := strings.Join(cmd, " ")
		if strings.Contains(line, "systemctl") && !strings.Contains(line, "--no-block") {
			t.Errorf("runcmd %q would make cloud-init wait for the agent's READY", line)
		}
		if strings.Contains(line, "apt-get install") && !strings.Contains(line, "--force-confold") {
			t.Errorf("runcmd %q lets dpkg ask about the agent.yaml written above", line)
		}
	}
}
