package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/config"
)

// tableOutputWidth bounds the "last output" column so that a table row
// fits a terminal line; `asagent status` has the whole output.
const tableOutputWidth = 72

// runChecks is `asagent checks`: a dry run of one phase's checks on this
// machine, with no cloud at all. It exits 0 when the agent would answer
// CONTINUE, 1 when it would not (or has not decided), 78 on a bad config.
func runChecks(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "checks", "--phase launch|terminate [--once] [--yes] [--config FILE]")
	phase := fs.String("phase", "", "the phase whose checks run: launch or terminate")
	once := fs.Bool("once", false, "one attempt of each check, then the verdict (default: until the phase decides or max_wait passes)")
	yes := fs.Bool("yes", false, "terminate: run the real drain steps without asking (required when stdin is not a terminal)")
	path := addConfigFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *phase != checks.PhaseLaunch && *phase != checks.PhaseTerminate {
		fmt.Fprintf(cio.stderr, "asagent checks: --phase must be launch or terminate, not %q\n", *phase)
		fs.Usage()
		return exitUsage
	}
	cfg, code, ok := loadConfig(cio, *path)
	if !ok {
		return code
	}
	ph, _ := checks.PhaseConfig(cfg, *phase)
	// Checks log from several goroutines; stderr may be a plain buffer.
	log := zerolog.New(zerolog.SyncWriter(zerolog.ConsoleWriter{Out: cio.stderr, NoColor: true, TimeFormat: "15:04:05"})).
		With().Timestamp().Logger().Level(zerolog.InfoLevel)
	// No hook holds the instance: the deadline scripts see is the end of
	// the phase's budget.
	deadline := time.Now().Add(ph.MaxWait.D())
	env := func() checks.Env {
		return checks.Env{Phase: *phase, InstanceID: cfg.Cloud.InstanceID, GroupID: cfg.Cloud.ScalingGroupID, Deadline: deadline}
	}
	p, _ := checks.FromConfig(cfg, *phase, checks.Options{Log: log, Env: env})
	if *phase == checks.PhaseTerminate {
		if code, ok := confirmDrain(cio, os.Stdin, p.Status(), *yes); !ok {
			return code
		}
	}
	var v checks.Verdict
	if *once {
		v = p.RunOnce(ctx)
	} else {
		v = p.Run(ctx)
	}
	st := p.Status()
	printChecks(cio.stdout, st)
	res, decided := v.Result(ph.OnFailure)
	answer := "no answer yet"
	switch {
	case v.State == checks.Failed:
		answer = "on_failure " + string(res)
	case decided:
		answer = string(res)
	}
	verdict := string(v.State)
	if v.Reason != "" {
		verdict += ": " + v.Reason
	}
	fmt.Fprintf(cio.stdout, "\n%s: %s -> %s\n", *phase, verdict, answer)
	if decided && res == config.Continue {
		return exitOK
	}
	return exitFailed
}

// confirmDrain says that the terminate phase's checks are the real drain
// steps, run on this machine now, and asks before it goes on: yes answers
// for the user; without it a terminal is asked, and anything else (a
// script, a pipe) is refused, since no one is there to read the warning.
func confirmDrain(cio cmdIO, stdin *os.File, st checks.PhaseStatus, yes bool) (code int, ok bool) {
	names := make([]string, 0, len(st.Checks))
	for _, c := range st.Checks {
		names = append(names, c.Name)
	}
	fmt.Fprintf(cio.stderr, "asagent checks: the terminate phase runs the real drain steps on this machine, now: %s\n",
		orDash(strings.Join(names, ", ")))
	switch {
	case yes:
		return exitOK, true
	case !isTerminal(stdin):
		fmt.Fprintln(cio.stderr, "asagent checks: not on a terminal; pass --yes to run them")
		return exitUsage, false
	}
	fmt.Fprint(cio.stderr, "Run them? [y/N] ")
	if !confirmed(stdin) {
		fmt.Fprintln(cio.stderr, "asagent checks: not run")
		return exitFailed, false
	}
	return exitOK, true
}

// confirmed reads one line and reports whether it says yes.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// printChecks prints the status as a table, then the load's problems.
func printChecks(w io.Writer, st checks.PhaseStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTYPE\tSTATE\tATTEMPTS\tDURATION\tLAST OUTPUT")
	for _, c := range st.Checks {
		dur := "-"
		switch {
		case c.Attempts == 0:
		case c.LastDuration < time.Millisecond:
			dur = "<1ms"
		default:
			dur = c.LastDuration.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Type, c.State, strconv.Itoa(c.Attempts), dur, lastOutput(c))
	}
	_ = tw.Flush()
	for _, p := range st.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// lastOutput is the check's cell of the LAST OUTPUT column: why it has
// not passed (if it has not), then the last line it printed.
func lastOutput(c checks.CheckStatus) string {
	why := ""
	if c.State != checks.Passed {
		why = c.LastError
	}
	return outputCell(why, c.LastOutput, tableOutputWidth)
}

// outputCell is one table cell from a check's last error and output: the
// error first (it says why the check has not passed), then the last line
// of the output, cut at a word boundary to width runes. Never a dangling
// "error: " when there is no output.
func outputCell(lastErr, output string, width int) string {
	out := strings.TrimSpace(output)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = strings.TrimSpace(out[i+1:])
	}
	lastErr = strings.TrimSpace(lastErr)
	switch {
	case lastErr != "" && out != "":
		out = lastErr + ": " + out
	case lastErr != "":
		out = lastErr
	}
	return cutAtWord(strings.ReplaceAll(out, "\t", " "), width)
}

// cutAtWord cuts s to at most width runes, at the last space that keeps at
// least half of it (a word is not cut in two), and marks the cut with "…".
func cutAtWord(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	cut := width - 1
	for i := cut; i > width/2; i-- {
		if r[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(r[:cut]), " ") + "…"
}
