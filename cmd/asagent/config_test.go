package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validateTree is a configuration with its drop-in directories: files maps
// a path under the tree to its content and mode; a path ending in "/" is a
// directory. The config's include_dir and scripts_dirs point into the tree.
func validateTree(t *testing.T, extra string, files map[string]os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for name, mode := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(path, mode); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		body := "#!/bin/sh\nexit 0\n"
		switch {
		case strings.HasSuffix(name, "broken.yaml"):
			body = "launch:\n  checks:\n    - name: web\n      url: [\n"
		case strings.HasSuffix(name, ".yaml"):
			body = "terminate:\n  checks:\n    - {name: drained, type: file, path: /run/drained}\n"
		}
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "include_dir: " + filepath.Join(dir, "conf.d") + "\n" +
		"launch:\n  scripts_dir: " + filepath.Join(dir, "launch.d") + "\n" +
		"terminate:\n  scripts_dir: " + filepath.Join(dir, "terminate.d") + "\n" + extra
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// validate tells the whole truth: everything that would keep a phase from
// passing or a check from running is an error (exit 1), with its file and
// line or path; what is only worth a look is a warning (exit 0).
func TestValidate(t *testing.T) {
	dirs := map[string]os.FileMode{"launch.d/": 0o755, "terminate.d/": 0o755, "conf.d/": 0o755}
	with := func(more map[string]os.FileMode) map[string]os.FileMode {
		m := map[string]os.FileMode{}
		for k, v := range dirs {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name     string
		extra    string
		files    map[string]os.FileMode
		wantCode int
		want     []string
	}{
		{name: "all well", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o755, "conf.d/drain.yaml": 0o644}),
			wantCode: exitOK, want: []string{"agent.yaml: valid", "launch: 0 checks in the config, 0 from ", "1 script in ",
				"terminate: 0 checks in the config, 1 from ", "0 errors, 0 warnings"}},
		{name: "not executable", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o644, "conf.d/drain.yaml": 0o644}),
			wantCode: exitFailed, want: []string{"error: ", "launch.d/10-ready: refused: not executable", "1 error, 0 warnings",
				"the file is valid; what it names has the errors above"}},
		{name: "group-writable", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o775, "conf.d/drain.yaml": 0o644}),
			wantCode: exitFailed, want: []string{"launch.d/10-ready: refused: group- or world-writable (mode 0775)"}},
		{name: "world-writable YAML", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o755, "conf.d/drain.yaml": 0o666}),
			wantCode: exitFailed, want: []string{"error: ", "conf.d/drain.yaml: refused: group- or world-writable (mode 0666)", "(no phase passes without it)"}},
		{name: "broken YAML", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o755, "conf.d/broken.yaml": 0o644}),
			wantCode: exitFailed, want: []string{"conf.d/broken.yaml:4: invalid YAML: ", "(no phase passes without it)"}},
		{name: "missing directories", files: map[string]os.FileMode{"launch.d/10-ready": 0o755},
			wantCode: exitFailed, want: []string{"terminate.d: terminate.scripts_dir does not exist", "conf.d: include_dir does not exist", "2 errors"}},
		{name: "skipped names and an empty phase warn", files: with(map[string]os.FileMode{"launch.d/10-ready": 0o755, "launch.d/check.sh": 0o755, "launch.d/.hidden": 0o755}),
			wantCode: exitOK, want: []string{"warning: ", "launch.d/check.sh: skipped: only names of letters, digits, '_' and '-' run",
				"warning: terminate: no checks at all", "0 errors, 2 warnings"}},
		{name: "duplicate names", extra: "  checks:\n    - {name: 10-drain, type: file, path: /run/x}\n",
			files:    with(map[string]os.FileMode{"launch.d/10-ready": 0o755, "terminate.d/10-drain": 0o755}),
			wantCode: exitFailed, want: []string{"terminate.d/10-drain: refused: duplicate name"}},
		{name: "bad config", extra: "poll:\n  launch_interval: fast\nlog:\n  level: loud\n", files: dirs,
			wantCode: exitFailed, want: []string{"agent.yaml:7: poll.launch_interval:", "agent.yaml:9: log.level:"}},
		{name: "secret readable by others", extra: "cloud:\n  credentials:\n    access_key: AKEXAMPLE\n    secret_key: sk-never-shown\n", files: dirs,
			wantCode: exitOK, want: []string{"holds cloud.credentials and others can read it (mode 0644)", "agent.yaml: valid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := validateTree(t, tc.extra, tc.files)
			var out bytes.Buffer
			code := dispatch(context.Background(), cmdIO{&out, &out}, []string{"validate", "--config", path})
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), ".hidden") {
				t.Errorf("a dotfile is reported:\n%s", out.String())
			}
		})
	}
}

// A drop-in owned by someone other than root and the agent's user is
// refused, and validate says so (needs root, to give the file away).
func TestValidateRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a file to another user")
	}
	path := validateTree(t, "", map[string]os.FileMode{"launch.d/": 0o755, "terminate.d/": 0o755, "conf.d/": 0o755, "launch.d/10-ready": 0o755})
	script := filepath.Join(filepath.Dir(path), "launch.d", "10-ready")
	if err := os.Chown(script, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := dispatch(context.Background(), cmdIO{&out, &out}, []string{"validate", "--config", path}); code != exitFailed ||
		!strings.Contains(out.String(), "launch.d/10-ready: refused: owned by uid 4242") {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}
