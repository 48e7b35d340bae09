package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes. They are part of the interface: systemd's unit keys
// RestartPreventExitStatus= on exitConfig, and scripts test for the others.
const (
	exitOK     = 0
	exitFailed = 1  // the command ran and its answer is "no" (a check failed, an API did not answer)
	exitUsage  = 2  // bad command line
	exitConfig = 78 // EX_CONFIG from sysexits.h: the configuration is invalid; restarting will not help
)

// command is one subcommand of the asagent binary.
type command struct {
	name    string
	summary string
	// run executes the command. It owns its flag set, which it builds with
	// newFlags so that -h and usage errors behave the same everywhere.
	run func(ctx context.Context, io cmdIO, args []string) int
}

// cmdIO is where a command writes; tests pass buffers.
type cmdIO struct {
	stdout, stderr io.Writer
}

// demoSummary is the demo's line in `asagent help`; the README's first
// command says the same (a test holds them to it).
const demoSummary = "run the whole product against the built-in simulator, in about 15 s"

// commands lists the subcommands in the order `asagent help` prints them.
func commands() []command {
	return []command{
		{"demo", demoSummary, runDemo},
		{"run", "run the agent (what the service runs)", runRun},
		{"service", "install, uninstall, start, stop, restart the system service, or show its status", runService},
		{"status", "show the running agent's phase, hooks and checks", runStatus},
		{"signal", "tell the running agent: ready, drained, fail or extend", runSignal},
		{"complete", "answer the current phase's hooks now (an operator's override)", runComplete},
		{"identity", "show what the agent sees of this instance and whether the AS API answers", runIdentity},
		{"checks", "run a phase's checks on this machine, without the cloud, and print the verdict", runChecks},
		{"validate", "check a configuration file and its drop-ins; print every problem", runValidate},
		{"bench", "benchmarks: a simulated fleet, API calls per hour, latencies, the binary's idle footprint", runBench},
		{"sim", "run the local Huawei Cloud simulator: metadata service and AS API on one address", runSim},
		{"version", "print the version, commit and Go version", runVersion},
		{"help", "print this help, or a command's with `help CMD`", nil},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dispatch(ctx, cmdIO{stdout, stderr}, args)
}

func dispatch(ctx context.Context, cio cmdIO, args []string) int {
	if len(args) == 0 {
		usage(cio.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" && !strings.HasPrefix(rest[0], "-") {
			// "asagent help CMD" is the same as "asagent CMD -h".
			return dispatch(ctx, cio, []string{rest[0], "-h"})
		}
		usage(cio.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, cio, rest)
		}
	}
	fmt.Fprintf(cio.stderr, "asagent: unknown command %q\n\n", name)
	usage(cio.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: asagent COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'asagent COMMAND -h' for a command's flags.")
}

// newFlags returns a flag set for one command whose usage names the command.
// Its messages go to the command's stderr, except the usage asked for with
// -h, which goes to stdout (so that `asagent CMD -h | less` works).
func newFlags(cio cmdIO, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&flagSink{cio: cio})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: asagent %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// flagSink is a flag set's output: stderr, or a buffer while parsing, so
// that the usage printed for -h can go to stdout instead.
type flagSink struct {
	cio cmdIO
	buf *bytes.Buffer
}

func (s *flagSink) Write(p []byte) (int, error) {
	if s.buf != nil {
		return s.buf.Write(p)
	}
	return s.cio.stderr.Write(p)
}

// parseFlags parses args and turns the flag package's outcomes into exit
// codes: ok is false when the caller should return code at once (0 after -h,
// 2 after a usage error). Positional arguments are a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	rest, code, ok := parseFlagsAndArgs(fs, args)
	if !ok {
		return code, false
	}
	if len(rest) > 0 {
		fmt.Fprintf(fs.Output(), "asagent %s: unexpected argument %q\n", fs.Name(), rest[0])
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// parseFlagsAndArgs is parseFlags for commands that take positional
// arguments, which it returns. Flags may come before, between and after
// them (`asagent signal drained --config F`); after "--" everything is
// positional.
func parseFlagsAndArgs(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool) {
	for {
		if err := parseOnce(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, exitOK, true
		}
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			return append(rest, left...), exitOK, true
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// parseOnce parses args with the usage of -h sent to stdout and any other
// message to stderr.
func parseOnce(fs *flag.FlagSet, args []string) error {
	sink, ok := fs.Output().(*flagSink)
	if !ok {
		return fs.Parse(args)
	}
	var buf bytes.Buffer
	sink.buf = &buf
	err := fs.Parse(args)
	sink.buf = nil
	to := sink.cio.stderr
	if errors.Is(err, flag.ErrHelp) {
		to = sink.cio.stdout
	}
	_, _ = to.Write(buf.Bytes())
	return err
}

// plural is "1 check" or "2 checks": output reads as English.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
