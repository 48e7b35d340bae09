package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/asagent/asagent/internal/config"
)

// addConfigFlag adds --config to fs. Its default is $ASAGENT_CONFIG, else
// the standard path, so every command reads the file the service reads.
func addConfigFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("ASAGENT_CONFIG")
	if def == "" {
		def = config.DefaultPath
	}
	return fs.String("config", def, "configuration `file` (env ASAGENT_CONFIG); a missing file means all defaults")
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

func runValidate(_ context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "validate", "[--config FILE]")
	path := addConfigFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(cio.stderr, err)
		return exitFailed
	}
	printWarnings(cio, *path, cfg)
	launch, terminate, errs := config.LoadDropIns(cfg.IncludeDir, cfg.InsecureDropins)
	for _, err := range errs {
		fmt.Fprintln(cio.stderr, err)
	}
	if len(errs) > 0 {
		return exitFailed
	}
	if _, err := os.Stat(*path); err != nil {
		fmt.Fprintf(cio.stdout, "%s: not found; the defaults apply\n", *path)
	} else {
		fmt.Fprintf(cio.stdout, "%s: valid\n", *path)
	}
	fmt.Fprintf(cio.stdout, "launch: %d checks (+%d from %s), scripts in %s\n", len(cfg.Launch.Checks), len(launch), cfg.IncludeDir, cfg.Launch.ScriptsDir)
	fmt.Fprintf(cio.stdout, "terminate: %d checks (+%d from %s), scripts in %s\n", len(cfg.Terminate.Checks), len(terminate), cfg.IncludeDir, cfg.Terminate.ScriptsDir)
	return exitOK
}
