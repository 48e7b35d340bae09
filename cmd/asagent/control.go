package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/asagent/asagent/internal/control"
)

// controlTimeout bounds a control-socket request. `complete` may wait for a
// callback with retries, so it gets more.
const (
	controlTimeout  = 10 * time.Second
	completeTimeout = 2 * time.Minute
)

// controlClient parses the socket flags shared by status, signal and
// complete, then checks the command's own arguments with valid (a message
// for a usage error, "" when they are right) before it reads the config:
// a bad command line is exit 2 whatever the config says. The socket path
// comes from the same config the agent reads.
func controlClient(cio cmdIO, name, synopsis string, args []string, extra func(*flag.FlagSet), valid func(rest []string) string) (*control.Client, []string, int, bool) {
	fs := newFlags(cio, name, synopsis)
	path := addConfigFlag(fs)
	socket := fs.String("socket", "", "control socket `path` (default: control_socket from the config)")
	if extra != nil {
		extra(fs)
	}
	rest, code, ok := parseFlagsAndArgs(fs, args)
	if !ok {
		return nil, nil, code, false
	}
	if msg := valid(rest); msg != "" {
		fmt.Fprintf(cio.stderr, "asagent %s: %s\n", name, msg)
		fs.Usage()
		return nil, nil, exitUsage, false
	}
	if *socket == "" {
		cfg, code, ok := loadConfig(cio, *path)
		if !ok {
			return nil, nil, code, false
		}
		*socket = cfg.ControlSocket
	}
	return control.NewClient(*socket), rest, exitOK, true
}

// noArgs accepts no positional argument.
func noArgs(rest []string) string {
	if len(rest) > 0 {
		return fmt.Sprintf("unexpected argument %q", rest[0])
	}
	return ""
}

func runStatus(ctx context.Context, cio cmdIO, args []string) int {
	var asJSON *bool
	c, _, code, ok := controlClient(cio, "status", "[--json] [--config FILE] [--socket PATH]", args, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the status as JSON, for machines")
	}, noArgs)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent status: %v\n", err)
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(cio.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return exitOK
	}
	renderStatus(cio.stdout, st, time.Now())
	return exitOK
}

// renderStatus prints st as a readable table.
func renderStatus(out io.Writer, st control.Status, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "instance:\t%s\n", printable(orDash(st.InstanceID)))
	group := orDash(st.GroupID)
	if st.GroupFrom != "" {
		group += " (" + st.GroupFrom + ")"
	}
	fmt.Fprintf(w, "scaling group:\t%s\n", printable(group))
	fmt.Fprintf(w, "state:\t%s\n", printable(st.Summary))
	if st.ASClockOffset != "" {
		fmt.Fprintf(w, "AS clock:\t%s ahead of this instance's\n", st.ASClockOffset)
	}
	if st.Pace != "" {
		fmt.Fprintf(w, "pace:\t%s\n", printable(st.Pace))
	}
	if st.PaceWarning != "" {
		fmt.Fprintf(w, "WARNING:\t%s\n", printable(st.PaceWarning))
	}
	w.Flush()
	if st.Phase != nil {
		renderPhase(out, *st.Phase, now)
	}
	for _, ph := range st.History {
		fmt.Fprintf(out, "\n%s: %s at %s", ph.Name, orDash(ph.Result), ph.Finished.Local().Format(time.DateTime))
		if ph.Reason != "" {
			fmt.Fprintf(out, " (%s)", ph.Reason)
		}
		fmt.Fprintln(out)
	}
}

func renderPhase(out io.Writer, ph control.PhaseProgress, now time.Time) {
	fmt.Fprintf(out, "\n%s phase, started %s, budget ends in %s\n", ph.Name, ph.Started.Local().Format(time.TimeOnly), ph.Budget.Sub(now).Round(time.Second))
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "HOOK\tEXPIRES\tIN\tEXTENDS\tRESULT")
	for _, h := range ph.Hooks {
		res := h.Sent
		if h.Outcome != "" {
			res = h.Outcome
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", printable(h.Name), h.Timeout.Local().Format(time.TimeOnly), h.Timeout.Sub(now).Round(time.Second), h.Extends, orDash(res))
	}
	w.Flush()
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tTYPE\tSTATE\tATTEMPTS\tTOOK\tLAST OUTPUT")
	for _, c := range ph.Checks {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", printable(c.Name), c.Type, c.State, c.Attempts, c.Duration.D().Round(time.Millisecond), printable(outputCell(c.LastError, c.LastOutput, statusOutputWidth)))
	}
	w.Flush()
}

// statusOutputWidth bounds the LAST OUTPUT column of `asagent status`;
// `asagent status --json` has the whole output.
const statusOutputWidth = 60

// printable escapes what a terminal would act on (control characters,
// escape sequences, a newline that would forge a row): names come from
// the cloud and output from scripts.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// signals are the names `asagent signal` takes, in help order.
var signals = []string{control.SignalReady, control.SignalDrained, control.SignalFail, control.SignalExtend}

func runSignal(ctx context.Context, cio cmdIO, args []string) int {
	c, rest, code, ok := controlClient(cio, "signal", "ready|drained|fail|extend [--config FILE] [--socket PATH]", args, nil, func(rest []string) string {
		switch {
		case len(rest) == 0:
			return "which signal? one of " + strings.Join(signals, ", ")
		case len(rest) > 1:
			return fmt.Sprintf("one signal at a time, not %q", strings.Join(rest, " "))
		case !slices.Contains(signals, rest[0]):
			return fmt.Sprintf("unknown signal %q; want one of %s", rest[0], strings.Join(signals, ", "))
		}
		return ""
	})
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	if err := c.Signal(ctx, rest[0]); err != nil {
		fmt.Fprintf(cio.stderr, "asagent signal: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runComplete(ctx context.Context, cio cmdIO, args []string) int {
	var result, hook *string
	c, _, code, ok := controlClient(cio, "complete", "--result CONTINUE|ABANDON [--hook NAME] [--config FILE] [--socket PATH]", args, func(fs *flag.FlagSet) {
		result = fs.String("result", "", "CONTINUE or ABANDON (required)")
		hook = fs.String("hook", "", "answer only this hook (default: every hook of the phase)")
	}, func(rest []string) string {
		if msg := noArgs(rest); msg != "" {
			return msg
		}
		switch strings.ToUpper(*result) {
		case "":
			return "--result is required: CONTINUE or ABANDON"
		case "CONTINUE", "ABANDON":
			return ""
		}
		return fmt.Sprintf("--result must be CONTINUE or ABANDON, not %q", *result)
	})
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	if err := c.Complete(ctx, strings.ToUpper(*result), *hook); err != nil {
		fmt.Fprintf(cio.stderr, "asagent complete: %v\n", err)
		return exitFailed
	}
	return exitOK
}
