package checks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
)

// Finding is one thing about a phase's checks that `asagent validate`
// reports: an error keeps the phase from passing or a check from running;
// a warning is worth a look.
type Finding struct {
	Error bool
	// Where is the file or directory, with ":line" when there is one.
	Where string
	Msg   string
}

// PhaseReport is what the agent would make of one phase's checks, found
// without running any of them.
type PhaseReport struct {
	Phase string
	// Declared counts the checks of agent.yaml, Included those of
	// include_dir's YAML files, Scripts the drop-in scripts (refused ones
	// too).
	Declared, Included, Scripts int
	Findings                    []Finding
}

// Inspect builds the phase called name as the agent would, with the same
// rules, and reports every drop-in script it would refuse (owner, mode,
// execute bit, directory, duplicate name) or skip (the run-parts name rule),
// a scripts_dir that is missing or unreadable, and a phase with no checks
// at all. Problems of include_dir's YAML files are config.LoadDropIns's to
// report: they concern both phases.
func Inspect(cfg *config.Config, name string) (PhaseReport, error) {
	ph, err := PhaseConfig(cfg, name)
	if err != nil {
		return PhaseReport{}, err
	}
	p, loadErrs := FromConfig(cfg, name, Options{Log: zerolog.Nop(), NoWatch: true})
	st := p.Status()
	decl, _ := declared(cfg, name)
	r := PhaseReport{Phase: name, Declared: len(ph.Checks), Included: len(decl) - len(ph.Checks),
		Scripts: len(st.Checks) - len(decl)}
	for _, c := range st.Checks {
		if c.State == Refused {
			r.Findings = append(r.Findings, Finding{Error: true, Where: c.Source, Msg: "refused: " + c.LastError})
		}
	}
	loaded := make([]string, len(loadErrs))
	for i, e := range loadErrs {
		loaded[i] = e.Error()
	}
	for _, msg := range st.Problems {
		if !slices.Contains(loaded, msg) {
			r.Findings = append(r.Findings, Finding{Error: true, Where: ph.ScriptsDir, Msg: msg})
		}
	}
	r.Findings = append(r.Findings, scriptsDirFindings(name, ph.ScriptsDir)...)
	if len(st.Checks) == 0 && len(loadErrs) == 0 {
		r.Findings = append(r.Findings, Finding{Where: name, Msg: "no checks at all: the phase passes as soon as a hook holds the instance"})
	}
	return r, nil
}

// scriptsDirFindings reports a scripts_dir that does not exist, and the
// names in it that the run-parts rule skips (dotfiles aside, which are
// meant to be hidden).
func scriptsDirFindings(phase, dir string) []Finding {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Finding{{Error: true, Where: dir, Msg: phase + ".scripts_dir does not exist: no script of this phase can run"}}
	}
	var out []Finding
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || validDropInName(e.Name(), runtime.GOOS) {
			continue
		}
		out = append(out, Finding{Where: filepath.Join(dir, e.Name()), Msg: "skipped: " + skipReason(runtime.GOOS)})
	}
	return out
}

// skipReason says which names run, for goos.
func skipReason(goos string) string {
	if goos == "windows" {
		return "only names ending in .exe, .cmd, .bat or .ps1, and otherwise of letters, digits, '_' and '-', run"
	}
	return "only names of letters, digits, '_' and '-' run (run-parts rules; rename check.sh to check)"
}
