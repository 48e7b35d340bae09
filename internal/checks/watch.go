package checks

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// Debounce is how long Watch waits after the last event before calling
// onChange: dpkg, rpm and editors replace a file in several steps (write a
// temporary file, rename it over the old one), and one reload should see
// the end result.
const Debounce = 100 * time.Millisecond

// Watch watches dirs (drop-in script directories and include_dir) and calls
// onChange once things have been quiet for Debounce after a change: a file
// added, removed, renamed, written or chmodded, or a watched directory
// created or removed. It watches directories, not files, so a file replaced
// by rename is seen. A directory that does not exist (yet) is not an error:
// Watch watches its nearest existing ancestor instead and switches to the
// directory itself when it appears, calling onChange then too.
//
// The watches are in place when Watch returns, so start it before the first
// load, and nothing can change unseen in between. onChange runs on Watch's
// goroutine, never twice at once. The debounce is in real time: it paces
// file system events, not phase time. The returned channel is closed once
// the goroutine has stopped after ctx ended.
func Watch(ctx context.Context, log zerolog.Logger, onChange func(), dirs ...string) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	ws := &watchSet{w: w, log: log}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if !slices.Contains(ws.targets, d) {
			ws.targets = append(ws.targets, d)
		}
	}
	ws.sync()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		debounce := time.NewTimer(time.Hour)
		debounce.Stop()
		defer debounce.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				appeared := ws.sync()
				if appeared || ws.relevant(ev) {
					log.Debug().Str("path", ev.Name).Str("op", ev.Op.String()).Msg("drop-in change")
					debounce.Reset(Debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow loses events: reload to be sure.
				log.Warn().Err(err).Msg("watching drop-in directories")
				ws.sync()
				debounce.Reset(Debounce)
			case <-debounce.C:
				onChange()
			}
		}
	}()
	return done, nil
}

// watchSet keeps a watch on every target directory, or on its nearest
// existing ancestor while it does not exist.
type watchSet struct {
	w       *fsnotify.Watcher
	log     zerolog.Logger
	targets []string
	direct  []string // targets watched directly now
}

// sync adds and removes watches to match what exists now; it returns true
// when a target became watchable (it appeared) since the last sync.
func (ws *watchSet) sync() (appeared bool) {
	want := map[string]bool{}
	var direct []string
	for _, t := range ws.targets {
		if fi, err := os.Stat(t); err == nil && fi.IsDir() {
			want[t] = true
			direct = append(direct, t)
			if !slices.Contains(ws.direct, t) {
				appeared = true
			}
			continue
		}
		if a := existingAncestor(t); a != "" {
			want[a] = true
		}
	}
	have := map[string]bool{}
	for _, p := range ws.w.WatchList() {
		have[p] = true
		if !want[p] {
			_ = ws.w.Remove(p)
		}
	}
	for p := range want {
		if have[p] {
			continue
		}
		if err := ws.w.Add(p); err != nil {
			ws.log.Warn().Err(err).Str("dir", p).Msg("cannot watch drop-in directory")
			if slices.Contains(direct, p) {
				direct = slices.DeleteFunc(direct, func(d string) bool { return d == p })
			}
		}
	}
	// A target that vanished and came back between two syncs also counts.
	ws.direct = direct
	return appeared
}

// relevant reports whether ev concerns a target: an entry in a watched
// target, or a step on the way to a missing one.
func (ws *watchSet) relevant(ev fsnotify.Event) bool {
	for _, t := range ws.targets {
		if filepath.Dir(ev.Name) == t || ev.Name == t ||
			strings.HasPrefix(t, ev.Name+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// existingAncestor returns the nearest ancestor directory of p that exists,
// or "" when not even the root does.
func existingAncestor(p string) string {
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return ""
		}
		p = parent
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			return p
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return ""
		}
	}
}
