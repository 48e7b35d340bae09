package checks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
)

// scanScripts reads a drop-in directory by run-parts rules and returns one
// spec per candidate, in name order, with refused set on those that the
// safety rules turn down. A missing directory has no scripts and is no
// problem; an unreadable one is.
func scanScripts(dir string, ph config.Phase, insecure bool, log zerolog.Logger) (specs []spec, problems []string) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		log.Debug().Str("dir", dir).Msg("no scripts directory")
		return nil, nil
	}
	if err != nil {
		// ReadDir may still have returned some entries; use them.
		problems = append(problems, fmt.Sprintf("scripts_dir: %v", err))
	}
	dirWhy := ""
	if !insecure {
		dirWhy = dirProblem(dir)
	}
	for _, e := range entries {
		name := e.Name()
		if !validDropInName(name, runtime.GOOS) {
			log.Debug().Str("file", name).Msg("skipped by the drop-in name rule")
			continue
		}
		path := filepath.Join(dir, name)
		why := dirWhy
		if why == "" {
			why = scriptProblem(path, insecure)
		}
		specs = append(specs, spec{
			check: config.Check{
				Name:             name,
				Type:             config.TypeExec,
				Interval:         ph.Interval,
				Timeout:          ph.Timeout,
				SuccessThreshold: 1,
				Command:          []string{path},
				Source:           path,
			},
			script:  path,
			refused: why,
		})
	}
	return specs, problems
}

// scriptProblem says why the drop-in at path may not run, or "" when it
// may. insecure skips the owner and mode rules, not the file-type rules.
func scriptProblem(path string, insecure bool) string {
	li, err := os.Lstat(path)
	if err != nil {
		return err.Error()
	}
	fi := li
	if li.Mode()&fs.ModeSymlink != 0 {
		fi, err = os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			target, _ := os.Readlink(path)
			return fmt.Sprintf("dangling symlink (to %s)", target)
		}
		if err != nil {
			return err.Error()
		}
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("not a regular file (%s)", fileKind(fi.Mode()))
	}
	if why := execProblem(fi); why != "" {
		return why
	}
	if insecure {
		return ""
	}
	return ownerProblem(fi)
}

// dirProblem says why no script of dir may run, or "" when they may: a
// directory that others can write to lets them add scripts.
func dirProblem(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return err.Error()
	}
	if why := ownerProblem(fi); why != "" {
		return "directory " + dir + ": " + why
	}
	return ""
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
