package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate prints every problem with file and line and exits 1; a valid file
// (or none) exits 0.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("poll:\n  launch_interval: fast\nlog:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noDropins := "include_dir: " + filepath.Join(dir, "conf.d") + "\n"
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(noDropins), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(keys, []byte(noDropins+"cloud:\n  credentials:\n    access_key: AKEXAMPLE\n    secret_key: sk-never-shown\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"secret readable by others", []string{"--config", keys}, exitOK, []string{"warning: " + keys + " holds cloud.credentials and others can read it (mode 0644)", "keys.yaml: valid"}},
		{"bad", []string{"--config", bad}, exitFailed, []string{"bad.yaml:2: poll.launch_interval:", "bad.yaml:4: log.level:"}},
		{"good", []string{"--config", good}, exitOK, []string{"good.yaml: valid", "launch: 0 checks"}},
		{"example", []string{"--config", filepath.Join("..", "..", "agent.yaml.example")}, exitOK, []string{"valid", "launch: 5 checks"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := dispatch(context.Background(), cmdIO{&out, &out}, append([]string{"validate"}, tc.args...))
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
