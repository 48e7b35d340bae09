package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asagent/asagent/internal/sim"
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

// Rows are the fleet's figures as report rows: the correctness figures,
// then the load on the project's limit, then the latencies.
func (r FleetResult) Rows() []Row {
	pre := fmt.Sprintf("fleet (%d agents): ", r.Instances)
	rows := []Row{
		{Figure: pre + "holds answered CONTINUE by their agent", Value: fmt.Sprintf("%d launch, %d terminate", r.Launched, r.Terminated),
			Goal: fmt.Sprintf("%d each", r.Instances), Verdict: verdict(r.Launched == r.Instances && r.Terminated == r.Instances)},
		{Figure: pre + "holds timed out into their default result", Value: fmt.Sprint(r.TimedOut), Goal: "0", Verdict: verdict(r.TimedOut == 0)},
		{Figure: pre + "double or contradicting results", Value: fmt.Sprintf("%d double, %d contradicting", r.Double, r.Contradicting), Goal: "0", Verdict: verdict(r.Double == 0 && r.Contradicting == 0)},
		{Figure: pre + "ABANDONs, holds left unanswered", Value: fmt.Sprintf("%d, %d", r.Abandoned, r.Unanswered), Goal: "0", Verdict: verdict(r.Abandoned == 0 && r.Unanswered == 0)},
	}
	rows = append(rows, r.loadRows(pre)...)
	rows = append(rows, r.latencyRows(pre)...)
	return append(rows, Row{Figure: pre + "simulated time, real time, Go memory (most seen)",
		Value: fmt.Sprintf("%s, %s, %s", r.Simulated.Round(time.Second), r.Wall.Round(100*time.Millisecond), mib(r.PeakMemory)),
		Goal:  "real < 10m", Verdict: verdict(r.Wall < 10*time.Minute)})
}

// maxThrottledPct is the goal for the share of 429s among AS requests.
const maxThrottledPct = 2

// maxWaveOverFloor is the goal for a launch wave: answered within this
// many times its floor.
const maxWaveOverFloor = 2.5

// loadRows are the figures of the load the fleet put on the project's limit.
func (r FleetResult) loadRows(pre string) []Row {
	share := pct(r.Throttled, r.Requests)
	rows := []Row{
		{Figure: pre + "AS requests, of which 429", Value: fmt.Sprintf("%d, %d (%.1f%%)", r.Requests, r.Throttled, share),
			Goal: fmt.Sprintf("429s < %d%%", maxThrottledPct), Verdict: verdict(share < maxThrottledPct)},
		{Figure: pre + "AS requests by call (429s)", Value: r.routeSummary()},
		{Figure: pre + "AS request rate, peak second and mean", Value: fmt.Sprintf("%d/s peak, %.1f/s mean", r.PeakRate, r.MeanRate)},
		{Figure: fmt.Sprintf("%sAS request rate per simulated minute (limit %g/s; see the chart)", pre, r.Limit), Value: r.minuteSummary()},
	}
	idle := Row{Figure: pre + "idle request rate (last launch wave answered to first scale-in)", Value: "no idle spell",
		Goal: fmt.Sprintf("<= %g/s (half the limit)", r.Limit/2), Verdict: verdict(false)}
	if r.IdleSpell > 0 {
		idle.Value = fmt.Sprintf("%.1f/s over %s (%.0f%% of the limit)", r.IdleRate, r.IdleSpell, 100*r.IdleRate/r.Limit)
		idle.Verdict = verdict(r.IdleRate <= r.Limit/2)
	}
	launch, ok := waveList(r.LaunchWaves)
	term, _ := waveList(r.TerminateWaves)
	return append(rows, idle,
		Row{Figure: pre + "launch waves: instances held to the last answered (times the floor)", Value: launch,
			Goal: fmt.Sprintf("<= %gx floor each", maxWaveOverFloor), Verdict: verdict(ok)},
		Row{Figure: pre + "terminate waves: removal to the last answered (times the floor)", Value: term},
		Row{Figure: pre + "EXTENDs sent", Value: fmt.Sprint(r.Extends)},
	)
}

// waveList is "1m50s (1.1x), ...; floor: calls 1m40s, apps 2m5s..2m9s"
// and whether every wave was answered within maxWaveOverFloor times its
// floor.
func waveList(ws []Wave) (string, bool) {
	if len(ws) == 0 {
		return "-", false
	}
	ok := true
	var parts []string
	appLo, appHi := ws[0].App, ws[0].App
	for _, w := range ws {
		appLo, appHi = min(appLo, w.App), max(appHi, w.App)
		if w.Answered == 0 {
			parts, ok = append(parts, "not all answered"), false
			continue
		}
		over := float64(w.Answered) / float64(w.Floor())
		ok = ok && over <= maxWaveOverFloor
		parts = append(parts, fmt.Sprintf("%s (%.2fx)", w.Answered.Round(time.Second), over))
	}
	return fmt.Sprintf("%s; floor: the calls 2W/R %s, the last application %s to %s", strings.Join(parts, ", "),
		ws[0].Calls.Round(time.Second), appLo.Round(time.Second), appHi.Round(time.Second)), ok
}

// routeSummary is "held-hook lists 51230 (120), callbacks ..." in a fixed order.
func (r FleetResult) routeSummary() string {
	var parts []string
	for _, rt := range []struct {
		route sim.Route
		name  string
	}{{sim.RouteListHookInstances, "held-hook lists"}, {sim.RouteCallback, "callbacks"},
		{sim.RouteListHooks, "hook lists"}, {sim.RouteListGroups, "group lists"}} {
		if c, ok := r.ByRoute[rt.route]; ok {
			parts = append(parts, fmt.Sprintf("%s %d (%d)", rt.name, c.Requests, c.Throttled))
		}
	}
	return strings.Join(parts, ", ")
}

// minuteSummary is the busiest simulated minute and how many minutes went
// over the limit.
func (r FleetResult) minuteSummary() string {
	mins := r.PerMinute()
	busiest, over := 0.0, 0
	for _, m := range mins {
		busiest = max(busiest, m.Rate)
		if m.Rate > r.Limit {
			over++
		}
	}
	return fmt.Sprintf("busiest minute %.1f/s; %d of %d minutes over the limit", busiest, over, len(mins))
}

// latencyRows are the detection and decision times.
func (r FleetResult) latencyRows(pre string) []Row {
	third := r.HookTimeout / 3
	rows := []Row{
		{Figure: pre + "launch detection (agent start to first check; it starts held)", Value: distString(r.LaunchDetect)},
		{Figure: pre + "terminate detection (hold to first check)", Value: distString(r.TerminateDetect),
			Goal: fmt.Sprintf("p99 < %s (a third of the hook's timeout)", third), Verdict: verdict(r.TerminateDetect.N > 0 && r.TerminateDetect.P99 < third)},
	}
	decision := Row{Figure: pre + "decision (last check passes to CONTINUE at the simulator), virtual time", Value: distString(r.Decision)}
	if r.Instances <= 1000 {
		decision.Goal, decision.Verdict = "p99 < 2s", verdict(r.Decision.N > 0 && r.Decision.P99 < 2*time.Second)
	}
	return append(rows, decision)
}

// MinuteRate is one simulated minute's mean AS request rate, and the part
// of it answered 429.
type MinuteRate struct {
	Rate, Throttled float64 // requests/s
}

// PerMinute is the request rate of each simulated minute of the run.
func (r FleetResult) PerMinute() []MinuteRate {
	var out []MinuteRate
	for i := 0; i < len(r.PerSecond); i += 60 {
		end := min(i+60, len(r.PerSecond))
		var m MinuteRate
		for _, s := range r.PerSecond[i:end] {
			m.Rate += float64(s.Requests)
			m.Throttled += float64(s.Throttled)
		}
		m.Rate, m.Throttled = m.Rate/60, m.Throttled/60
		out = append(out, m)
	}
	return out
}

// mib renders a byte count in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// mdEscape keeps a cell's pipes from splitting it.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
