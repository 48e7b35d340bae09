//go:build !windows

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agent.yaml decides what runs as root, so it follows the drop-ins' rules
// whatever insecure_dropins says in it: a file others can write, a file of
// another user, or one under a directory others can write is refused; a
// missing file under trusted directories still means the defaults.
func TestLoadRefusesUntrustedConfig(t *testing.T) {
	const body = "insecure_dropins: true\nlaunch:\n  checks:\n    - {name: x, type: exec, shell: id}\n"
	cases := []struct {
		name     string
		build    func(t *testing.T, dir string) string
		needRoot bool
		want     string // "" to load
	}{
		{"root's 0644", func(t *testing.T, dir string) string {
			return writeMode(t, filepath.Join(dir, "agent.yaml"), body, 0o644)
		}, false, ""},
		{"world-writable", func(t *testing.T, dir string) string {
			return writeMode(t, filepath.Join(dir, "agent.yaml"), body, 0o666)
		}, false, "refused: group- or world-writable (mode 0666) (only root or the agent's user may be able to change it: agent.yaml decides what the agent runs as root)"},
		{"another user's", func(t *testing.T, dir string) string {
			p := writeMode(t, filepath.Join(dir, "agent.yaml"), body, 0o644)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p
		}, true, "refused: owned by uid 65534"},
		{"under a world-writable directory", func(t *testing.T, dir string) string {
			open := filepath.Join(dir, "open")
			mustMkdirMode(t, open, 0o777)
			return writeMode(t, filepath.Join(open, "agent.yaml"), body, 0o644)
		}, false, "refused: directory DIR/open: group- or world-writable (mode 0777)"},
		{"missing under a world-writable directory", func(t *testing.T, dir string) string {
			open := filepath.Join(dir, "open")
			mustMkdirMode(t, open, 0o777)
			return filepath.Join(open, "agent.yaml")
		}, false, "refused: directory DIR/open: group- or world-writable (mode 0777)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root to give the file to another user")
			}
			dir := t.TempDir()
			path := tc.build(t, dir)
			cfg, err := Load(path)
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			switch {
			case want == "" && (err != nil || !cfg.InsecureDropins):
				t.Errorf("Load: %v", err)
			case want != "" && err == nil:
				t.Errorf("loaded, want refused: %s", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Errorf("Load: %v\nwant %q", err, want)
			}
		})
	}
}

// Static keys in a file others can read are worth a warning; the same
// file without keys, or with keys and mode 0600, is not.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	keys := "cloud:\n  credentials:\n    access_key: AKEXAMPLE\n    secret_key: sk-example-never-shown\n"
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"keys, 0644", keys, 0o644, "holds cloud.credentials and others can read it (mode 0644): chmod 600"},
		{"keys, 0640", keys, 0o640, "(mode 0640)"},
		{"keys, 0600", keys, 0o600, ""},
		{"no keys, 0644", "log:\n  level: info\n", 0o644, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeMode(t, filepath.Join(dir, string(rune('a'+i))+".yaml"), tc.body, tc.mode)
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(Warnings(path, cfg), "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "sk-example-never-shown") {
				t.Errorf("the warning shows the secret: %s", got)
			}
		})
	}
}

func writeMode(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	writeFile(t, path, body, mode)
	return path
}

func mustMkdirMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// Aliases are bounded: a few kilobytes of aliases of a long list (the
// classic "billion laughs") are refused at once with a reason, in
// agent.yaml and in a drop-in alike, instead of expanding to millions of
// values.
func TestAliasExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("launch:\n  checks:\n    - name: c0\n      type: exec\n      command: &cmd [")
	for i := range 4000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("x")
	}
	b.WriteString("]\n")
	for i := 1; i < 4000; i++ {
		fmt.Fprintf(&b, "    - {name: c%d, type: exec, command: *cmd}\n", i)
	}
	doc := []byte(b.String())
	const want = "more than 100000 values once aliases are expanded"
	if _, err := Parse("agent.yaml", doc); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("agent.yaml of %d bytes: %v, want %q", len(doc), err, want)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "laughs.yaml"), string(doc), 0o644)
	if _, _, errs := LoadDropIns(dir, false); len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Errorf("drop-in: %v, want %q", errs, want)
	}
}
