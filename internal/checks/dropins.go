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
	"github.com/asagent/asagent/internal/trust"
)

// scan is what reading the drop-ins found.
type scan struct {
	specs    []spec
	problems []string // for the status and the log
	// unloaded names the drop-ins (files or directories) that were meant
	// to add checks but could not be read or are not trusted: the phase
	// cannot pass without them.
	unloaded []string
}

// scanScripts reads a drop-in directory by run-parts rules and returns one
// spec per candidate, in name order, with refused set on those that the
// safety rules turn down. A missing directory has no scripts and is no
// problem, when nobody but root or the agent could have created it; an
// unreadable or untrusted one keeps the phase from passing.
func scanScripts(dir string, ph config.Phase, policy trust.Policy, log zerolog.Logger) scan {
	var s scan
	if dir == "" {
		return s
	}
	dirErr := policy.Dir(dir)
	if errors.Is(dirErr, fs.ErrNotExist) {
		log.Debug().Str("dir", dir).Msg("no scripts directory")
		return s
	}
	var untrusted *trust.Error
	if dirErr != nil {
		s.problems = append(s.problems, fmt.Sprintf("scripts_dir %s: %v", dir, dirErr))
		s.unloaded = append(s.unloaded, dir)
		if !errors.As(dirErr, &untrusted) || untrusted.Err != nil {
			return s
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && dirErr == nil {
		// ReadDir may still have returned some entries; use them.
		s.problems = append(s.problems, fmt.Sprintf("scripts_dir %s: %v", dir, err))
		s.unloaded = append(s.unloaded, dir)
	}
	for _, e := range entries {
		name := e.Name()
		if !validDropInName(name, runtime.GOOS) {
			log.Debug().Str("file", name).Msg("skipped by the drop-in name rule")
			continue
		}
		path := filepath.Join(dir, name)
		why := ""
		if untrusted != nil {
			why = untrusted.Error()
		} else {
			why = scriptProblem(path, policy)
		}
		s.specs = append(s.specs, spec{
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
	return s
}

// scriptProblem says why the drop-in at path may not run, or "" when it
// may.
func scriptProblem(path string, policy trust.Policy) string {
	f, err := openScript(path, policy)
	if err != nil {
		return err.Error()
	}
	f.Close()
	return ""
}

// openScript opens the drop-in script at path for a run: the path and the
// open file pass policy, and the open file has an execute bit. The script
// that runs is this open file.
func openScript(path string, policy trust.Policy) (*os.File, error) {
	f, err := policy.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		if why := execProblem(fi); why != "" {
			err = errors.New(why)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
