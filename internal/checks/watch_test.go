//go:build !windows

package checks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/testutil"
)

// replaceByRename writes a script the way dpkg and editors do: a temporary
// file (a dotfile, which the name rule skips) renamed over the target.
func replaceByRename(t *testing.T, dir, name, body string) {
	t.Helper()
	tmp := writeScript(t, dir, "."+name+".tmp", body, 0o755)
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// Watch reports every kind of change in a drop-in directory, including
// replacement by rename, and a directory that appears after Watch started
// (watched through its nearest existing ancestor until then).
func TestWatchSeesChanges(t *testing.T) {
	cases := []struct {
		name   string
		target func(root string) string // the watched directory
		setup  func(t *testing.T, dir string)
		change func(t *testing.T, dir string)
	}{
		{"file added", existing, nil, func(t *testing.T, dir string) { writeScript(t, dir, "new", "", 0o755) }},
		{"file replaced by rename", existing, withScript, func(t *testing.T, dir string) { replaceByRename(t, dir, "old", "exit 0") }},
		{"file removed", existing, withScript, func(t *testing.T, dir string) { mustDo(t, os.Remove(filepath.Join(dir, "old"))) }},
		{"file chmodded", existing, withScript, func(t *testing.T, dir string) { mustDo(t, os.Chmod(filepath.Join(dir, "old"), 0o644)) }},
		{"file written", existing, withScript, func(t *testing.T, dir string) {
			mustDo(t, os.WriteFile(filepath.Join(dir, "old"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
		}},
		{"directory created", missing, nil, func(t *testing.T, dir string) { mustDo(t, os.Mkdir(dir, 0o755)) }},
		{"directory and parent created", missingParent, nil, func(t *testing.T, dir string) { mustDo(t, os.MkdirAll(dir, 0o755)) }},
		{"directory removed", existing, withScript, func(t *testing.T, dir string) { mustDo(t, os.RemoveAll(dir)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.target(t.TempDir())
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			changes := make(chan struct{}, 16)
			ctx, cancel := context.WithCancel(t.Context())
			done, err := Watch(ctx, testLog(t), func() { changes <- struct{}{} }, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); <-done }()
			tc.change(t, dir)
			select {
			case <-changes:
			case <-time.After(10 * time.Second):
				t.Fatal("no change reported")
			}
		})
	}
}

func existing(root string) string { return root }
func missing(root string) string  { return filepath.Join(root, "launch.d") }
func missingParent(root string) string {
	return filepath.Join(root, "asagent", "launch.d")
}
func withScript(t *testing.T, dir string) { writeScript(t, dir, "old", "exit 1", 0o755) }

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A directory that appeared is then watched itself: a file added to it
// afterwards is reported too.
func TestWatchFollowsNewDirectory(t *testing.T) {
	dir := missing(t.TempDir())
	changes := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done, err := Watch(ctx, testLog(t), func() { changes <- struct{}{} }, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	mustDo(t, os.Mkdir(dir, 0o755))
	<-changes
	writeScript(t, dir, "late", "exit 0", 0o755)
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("a file in the new directory was not reported")
	}
}

// A script added to the scripts directory while its phase runs joins the
// phase through Watch and Reload; a script replaced by rename runs its new
// content.
func TestReloadThroughWatch(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "a", "exit 1", 0o755)
	ph := fastPhase(config.Parallel)
	ph.ScriptsDir = dir
	clock := clockwork.NewFakeClock()
	p := NewPhase("launch", ph, nil, testOptions(t, clock))
	var reloads atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	watched, err := Watch(ctx, testLog(t), func() { p.Reload(nil); reloads.Add(1) }, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-watched }()
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}

	replaceByRename(t, dir, "b", "echo b ran")
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "b to join and pass", func() bool {
		for _, c := range p.Status().Checks {
			if c.Name == "b" {
				return c.State == Passed
			}
		}
		return false
	})
	if got := checkStatus(t, p, "b").LastOutput; got != "b ran" {
		t.Errorf("b's output %q", got)
	}

	before := reloads.Load()
	replaceByRename(t, dir, "a", "echo a replaced")
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, "a reload after the rename", func() bool { return reloads.Load() > before })
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if v := <-done; v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	if got := checkStatus(t, p, "a").LastOutput; !strings.Contains(got, "a replaced") {
		t.Errorf("a's output %q: the old content ran", got)
	}
	for _, c := range p.Status().Checks {
		if strings.HasPrefix(c.Name, ".") {
			t.Errorf("the temporary file %s was listed", c.Name)
		}
	}
}
