package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
// complete. The socket path comes from the same config the agent reads.
func controlClient(cio cmdIO, name, synopsis string, args []string, extra func(*flag.FlagSet)) (*control.Client, []string, int, bool) {
	fs := newFlags(cio, name, synopsis)
	path := addConfigFlag(fs)
	socket := fs.String("socket", "", "control socket `path` (default: control_socket from the config)")
	if extra != nil {
		extra(fs)
	}
	if code, ok := parseFlagsAndArgs(fs, args); !ok {
		return nil, nil, code, false
	}
	if *socket == "" {
		cfg, code, ok := loadConfig(cio, *path)
		if !ok {
			return nil, nil, code, false
		}
		*socket = cfg.ControlSocket
	}
	return control.NewClient(*socket), fs.Args(), exitOK, true
}

func runStatus(ctx context.Context, cio cmdIO, args []string) int {
	var asJSON *bool
	c, rest, code, ok := controlClient(cio, "status", "[--json] [--config FILE] [--socket PATH]", args, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the status as JSON, for machines")
	})
	if !ok {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(cio.stderr, "asagent status: unexpected argument %q\n", rest[0])
		return exitUsage
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
	fmt.Fprintf(w, "instance:\t%s\n", printable(st.InstanceID))
	group := st.GroupID
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
		last := c.LastOutput
		if c.LastError != "" {
			last = c.LastError + ": " + last
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", printable(c.Name), c.Type, c.State, c.Attempts, c.Duration.Round(time.Millisecond), printable(oneLine(last, 60)))
	}
	w.Flush()
}

// oneLine keeps the last line of s, cut to n runes, for a table cell.
func oneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if r := []rune(s); len(r) > n {
		s = "…" + string(r[len(r)-n+1:])
	}
	return s
}

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

func runSignal(ctx context.Context, cio cmdIO, args []string) int {
	c, rest, code, ok := controlClient(cio, "signal", "ready|drained|fail|extend [--config FILE] [--socket PATH]", args, nil)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintln(cio.stderr, "Usage: asagent signal ready|drained|fail|extend")
		return exitUsage
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
	c, rest, code, ok := controlClient(cio, "complete", "--result CONTINUE|ABANDON [--hook NAME] [--config FILE] [--socket PATH]", args, func(fs *flag.FlagSet) {
		result = fs.String("result", "", "CONTINUE or ABANDON (required)")
		hook = fs.String("hook", "", "answer only this hook (default: every hook of the phase)")
	})
	if !ok {
		return code
	}
	if len(rest) > 0 || *result == "" {
		fmt.Fprintln(cio.stderr, "Usage: asagent complete --result CONTINUE|ABANDON [--hook NAME]")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	if err := c.Complete(ctx, strings.ToUpper(*result), *hook); err != nil {
		fmt.Fprintf(cio.stderr, "asagent complete: %v\n", err)
		return exitFailed
	}
	return exitOK
}
