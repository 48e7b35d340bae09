package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// addConfigFlag adds --config to fs. Its default is $ASAGENT_CONFIG, else
// the standard path, so every command reads the file the service reads.
func addConfigFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("ASAGENT_CONFIG")
	if def == "" {
		def = config.DefaultPath
	}
	return fs.String("config", def, "configuration `file` (env ASAGENT_CONFIG); only "+config.DefaultPath+" may be missing (then all defaults apply)")
}

// loadConfig loads path for a command. On failure it prints every problem
// and returns ok=false with exitConfig; warnings go to stderr too.
func loadConfig(cio cmdIO, path string) (cfg *config.Config, code int, ok bool) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent: invalid configuration:\n%v\n", err)
		return nil, exitConfig, false
	}
	printWarnings(cio, path, cfg)
	return cfg, exitOK, true
}

// printWarnings prints what is wrong with the file without stopping the
// agent (config.Warnings).
func printWarnings(cio cmdIO, path string, cfg *config.Config) {
	for _, w := range config.Warnings(path, cfg) {
		fmt.Fprintf(cio.stderr, "asagent: warning: %s\n", w)
	}
}

// runValidate is `asagent validate`: the configuration and everything it
// names, checked by the rules the agent applies, without running anything.
// It prints every error (what would keep a phase from passing, or a check
// from running) and warning, then what each phase would run; it exits 1 on
// an error, 0 with warnings only, 78 when the file named does not exist.
func runValidate(_ context.Context, cio cmdIO, args []string) int {
	flags := newFlags(cio, "validate", "[--config FILE]")
	path := addConfigFlag(flags)
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(cio.stderr, err)
		if _, statErr := os.Stat(*path); statErr != nil {
			return exitConfig // not even a file to check
		}
		return exitFailed
	}
	v := &validation{out: cio.stdout}
	for _, w := range config.Warnings(*path, cfg) {
		v.add(checks.Finding{Where: *path, Msg: w})
	}
	v.includeDir(cfg)
	var reports []checks.PhaseReport
	for _, phase := range []string{checks.PhaseLaunch, checks.PhaseTerminate} {
		r, err := checks.Inspect(cfg, phase)
		if err != nil {
			v.add(checks.Finding{Error: true, Where: phase, Msg: err.Error()})
			continue
		}
		for _, f := range r.Findings {
			v.add(f)
		}
		reports = append(reports, r)
	}
	_, statErr := os.Stat(*path)
	switch {
	case statErr != nil:
		fmt.Fprintf(cio.stdout, "%s: not found; the defaults apply\n", *path)
	case v.errors > 0:
		fmt.Fprintf(cio.stdout, "%s: the file is valid; what it names has the errors above\n", *path)
	default:
		fmt.Fprintf(cio.stdout, "%s: valid\n", *path)
	}
	for _, r := range reports {
		ph, _ := checks.PhaseConfig(cfg, r.Phase)
		fmt.Fprintf(cio.stdout, "%s: %s in the config, %d from %s, %s in %s\n", r.Phase, plural(r.Declared, "check"),
			r.Included, orDash(cfg.IncludeDir), plural(r.Scripts, "script"), orDash(ph.ScriptsDir))
	}
	fmt.Fprintf(cio.stdout, "%s, %s\n", plural(v.errors, "error"), plural(v.warnings, "warning"))
	if v.errors > 0 {
		return exitFailed
	}
	return exitOK
}

// validation collects and prints what validate finds.
type validation struct {
	out              io.Writer
	errors, warnings int
}

func (v *validation) add(f checks.Finding) {
	kind := "warning"
	if f.Error {
		kind = "error"
		v.errors++
	} else {
		v.warnings++
	}
	fmt.Fprintf(v.out, "%s: %s: %s\n", kind, f.Where, f.Msg)
}

// includeDir reports a missing include_dir and every YAML file in it that
// the agent would leave out (broken, or refused for its owner or mode):
// each was meant to add checks, and its phase does not pass without them.
func (v *validation) includeDir(cfg *config.Config) {
	if cfg.IncludeDir == "" {
		return
	}
	if _, err := os.Stat(cfg.IncludeDir); errors.Is(err, fs.ErrNotExist) {
		v.add(checks.Finding{Error: true, Where: cfg.IncludeDir, Msg: "include_dir does not exist: no check of it can be added"})
		return
	}
	_, _, errs := config.LoadDropIns(cfg.IncludeDir, cfg.InsecureDropins)
	for _, err := range errs {
		var ps config.Problems
		if !errors.As(err, &ps) {
			v.add(checks.Finding{Error: true, Where: cfg.IncludeDir, Msg: err.Error()})
			continue
		}
		for _, p := range ps {
			where := p.File
			if p.Line > 0 {
				where += ":" + strconv.Itoa(p.Line)
			}
			msg := p.Msg
			if p.Key != "" {
				msg = p.Key + ": " + msg
			}
			v.add(checks.Finding{Error: true, Where: where, Msg: msg + " (no phase passes without it)"})
		}
	}
}
