package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one figure of a report: what, the value, the baseline measured in
// the same run (if any), the goal (if any) and whether it is met.
type Row struct {
	Figure, Value, Baseline, Goal, Verdict string
}

// WriteTable prints rows as an aligned plain-text table.
func WriteTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tbaseline\tgoal\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Figure, r.Value, dash(r.Baseline), dash(r.Goal), r.Verdict)
	}
	tw.Flush()
}

// WriteMarkdown prints rows as a Markdown table.
func WriteMarkdown(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| figure | value | baseline | goal | |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mdEscape(r.Figure), mdEscape(r.Value), mdEscape(dash(r.Baseline)), mdEscape(dash(r.Goal)), r.Verdict)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verdict is "ok" or "MISSED".
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// dur renders a duration with a precision that suits its size.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// distString is "p50 X, p99 Y (n=N)".
func distString(d Dist) string {
	return fmt.Sprintf("p50 %s, p99 %s (n=%d)", dur(d.P50), dur(d.P99), d.N)
}

// Rows are the fleet's figures as report rows.
func (r FleetResult) Rows() []Row {
	pre := fmt.Sprintf("fleet (%d agents): ", r.Instances)
	return []Row{
		{Figure: pre + "holds answered CONTINUE by their agent", Value: fmt.Sprintf("%d launch, %d terminate", r.Launched, r.Terminated),
			Goal: fmt.Sprintf("%d each", r.Instances), Verdict: verdict(r.Launched == r.Instances && r.Terminated == r.Instances)},
		{Figure: pre + "holds timed out into their default result", Value: fmt.Sprint(r.TimedOut), Goal: "0", Verdict: verdict(r.TimedOut == 0)},
		{Figure: pre + "double or contradicting results", Value: fmt.Sprintf("%d double, %d contradicting", r.Double, r.Contradicting), Goal: "0", Verdict: verdict(r.Double == 0 && r.Contradicting == 0)},
		{Figure: pre + "ABANDONs, holds left unanswered", Value: fmt.Sprintf("%d, %d", r.Abandoned, r.Unanswered), Goal: "0", Verdict: verdict(r.Abandoned == 0 && r.Unanswered == 0)},
		{Figure: pre + "AS requests, of which 429", Value: fmt.Sprintf("%d, %d (%.1f%%)", r.Requests, r.Throttled, pct(r.Throttled, r.Requests))},
		{Figure: pre + "AS request rate, peak and mean", Value: fmt.Sprintf("%d/s peak, %.1f/s mean", r.PeakRate, r.MeanRate)},
		{Figure: pre + "EXTENDs sent", Value: fmt.Sprint(r.Extends)},
		{Figure: pre + "launch detection (agent start to first check; it starts held)", Value: distString(r.LaunchDetect)},
		{Figure: pre + "terminate detection (hold to first check)", Value: distString(r.TerminateDetect)},
		{Figure: pre + "decision (last check passes to CONTINUE at the simulator), virtual time", Value: distString(r.Decision)},
		{Figure: pre + "simulated time, real time", Value: fmt.Sprintf("%s, %s", r.Simulated.Round(time.Second), r.Wall.Round(100*time.Millisecond))},
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// mdEscape keeps a cell's pipes from splitting it.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
