// Package metrics owns the agent's Prometheus metrics: the registry, the
// HTTP /metrics endpoint (metrics.listen) and the file for node_exporter's
// textfile collector (metrics.textfile). The engine, the checks and the
// cloud clients each declare a small observer hook; Registry implements
// them all (see agent.Metrics), so the producing packages know nothing of
// Prometheus.
//
// The values are kept by github.com/VictoriaMetrics/metrics, a small
// library chosen over prometheus/client_golang for the idle footprint (see
// docs/benchmarks.md); the exposition is the Prometheus text format, with a
// HELP and TYPE line per family written here.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/version"
)

// The metric names. They are part of the user interface (alert rules and
// dashboards name them): renaming one breaks someone's alert.
const (
	NameBuildInfo       = "asagent_build_info"
	NameHoldsSeen       = "asagent_holds_seen_total"
	NamePhasesFinished  = "asagent_phases_finished_total"
	NamePhaseDuration   = "asagent_phase_duration_seconds"
	NameExtends         = "asagent_extends_total"
	NameExtendFailures  = "asagent_extend_failures_total"
	NameCallbacks       = "asagent_callbacks_total"
	NameCheckAttempts   = "asagent_check_attempts_total"
	NameCheckDuration   = "asagent_check_attempt_duration_seconds"
	NameASRequests      = "asagent_as_requests_total"
	NameASThrottled     = "asagent_as_throttled_requests_total"
	NameCredRefreshes   = "asagent_credential_refreshes_total"
	NameCredFailures    = "asagent_credential_refresh_failures_total"
	NameClockOffset     = "asagent_as_clock_offset_seconds"
	NameDeadlineLeft    = "asagent_deadline_remaining_seconds"
	NameLastPollSuccess = "asagent_last_successful_poll_timestamp_seconds"
)

// The family types of the text format.
const (
	counterTypeName   = "counter"
	gaugeTypeName     = "gauge"
	histogramTypeName = "histogram"
)

// Bucket bounds, in seconds. A phase lasts from a second (a check that
// passes at once) to max_wait (an hour by default, extended hooks hold up to
// a day); a check attempt from milliseconds (a file check) to its timeout
// (a minute for launch scripts, five for drain scripts).
var (
	phaseBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}
	checkBuckets = []float64{0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
)

// family is one metric family: its metadata and either a set of series
// kept by the library or a function that writes its samples at exposition
// (gauges read when scraped).
type family struct {
	name, help, typ string
	set             *vm.Set
	write           func(w io.Writer, now time.Time)
}

// Registry holds the agent's metrics. It is safe for concurrent use; the
// observer methods are cheap and never block.
type Registry struct {
	clock    clockwork.Clock
	families []*family // in exposition order
	byName   map[string]*family
	changes  chan struct{} // a change not yet written to the textfile

	mu     sync.Mutex
	checks map[[2]string]bool // (phase, check) pairs whose series exist

	deadline  atomic.Int64 // unix nanoseconds of the nearest held hook's timeout; 0: none held
	lastPoll  atomic.Int64 // unix nanoseconds of the last list AS answered; 0: none yet
	offset    atomic.Int64 // the estimated AS clock offset, nanoseconds
	offsetSet atomic.Bool
}

// New returns a registry with every series whose labels are known ahead
// at zero, so that the first increment is seen as one by rate() and
// increase(). clock is the real clock in production.
func New(clock clockwork.Clock) *Registry {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	r := &Registry{clock: clock, byName: map[string]*family{}, changes: make(chan struct{}, 1), checks: map[[2]string]bool{}}
	r.gauge(NameBuildInfo, "The running build: 1, with its version, commit and Go version as labels.", r.writeBuildInfo)
	r.counter(NameHoldsSeen, "Lifecycle hooks seen holding this instance, by phase.")
	r.counter(NamePhasesFinished, "Phases finished (no hook waits for the agent any more), by phase, result (CONTINUE, ABANDON, none) and how they ended (passed, failed, override, timeout, answered_elsewhere).")
	r.histogram(NamePhaseDuration, "How long phases took, from the first hold seen to no hook waiting, by phase.")
	r.counter(NameExtends, "EXTENDs that AS accepted, by phase.")
	r.counter(NameExtendFailures, "EXTENDs that failed (they are tried again), by phase.")
	r.counter(NameCallbacks, "Results (CONTINUE, ABANDON) sent to AS, by phase, result and outcome: accepted; failed (a round AS did not accept); not_held (the hook no longer held the instance).")
	r.counter(NameCheckAttempts, "Check attempts, by phase, check and outcome (pass, fail, timeout, give_up, refused).")
	r.histogram(NameCheckDuration, "How long check attempts took, by phase and check.")
	r.counter(NameASRequests, "HTTP requests to the AS API, retries included, by operation and status class (2xx, 4xx, 5xx, error: no answer).")
	r.counter(NameASThrottled, "AS requests answered 429 (throttled), by operation.")
	r.counter(NameCredRefreshes, "Fetches of the agency's temporary credentials from the metadata service that worked.")
	r.counter(NameCredFailures, "Fetches of the agency's temporary credentials that failed.")
	r.gauge(NameClockOffset, "The estimated offset of AS's clock from this instance's, in seconds (positive: AS is ahead).", r.writeOffset)
	r.gauge(NameDeadlineLeft, "Seconds until the held hook that times out first does; absent when no hook holds the instance.", r.writeDeadline)
	r.gauge(NameLastPollSuccess, "When AS last answered a list of the hooks holding this instance or of the group's hooks (Unix time); absent before the first.", r.writeLastPoll)
	r.precreate()
	return r
}

func (r *Registry) add(f *family) {
	r.families = append(r.families, f)
	r.byName[f.name] = f
}

func (r *Registry) counter(name, help string) {
	r.add(&family{name: name, help: help, typ: counterTypeName, set: vm.NewSet()})
}

func (r *Registry) histogram(name, help string) {
	r.add(&family{name: name, help: help, typ: histogramTypeName, set: vm.NewSet()})
}

func (r *Registry) gauge(name, help string, write func(io.Writer, time.Time)) {
	r.add(&family{name: name, help: help, typ: gaugeTypeName, write: write})
}

// Names lists the metric families the agent exports, in exposition order.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.families))
	for _, f := range r.families {
		out = append(out, f.name)
	}
	return out
}

// WritePrometheus writes every family that has a sample in the Prometheus
// text format (version 0.0.4), each with its HELP and TYPE lines.
func (r *Registry) WritePrometheus(w io.Writer) error {
	now := r.clock.Now()
	var out, body bytes.Buffer
	for _, f := range r.families {
		body.Reset()
		if f.set != nil {
			f.set.WritePrometheus(&body)
		} else {
			f.write(&body, now)
		}
		if body.Len() == 0 {
			continue
		}
		fmt.Fprintf(&out, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		out.Write(body.Bytes())
	}
	_, err := w.Write(out.Bytes())
	return err
}

// ContentType is the exposition's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// inc adds one to the named counter's series with these labels (name,
// value pairs) and notes a change.
func (r *Registry) inc(name string, labels ...string) {
	r.series(name, labels...).Inc()
	r.changed()
}

// series returns the named counter's series with these labels, creating it.
func (r *Registry) series(name string, labels ...string) *vm.Counter {
	return r.byName[name].set.GetOrCreateCounter(name + labelString(labels))
}

// observe adds v to the named histogram's series with these labels.
func (r *Registry) observe(name string, v float64, buckets []float64, labels ...string) {
	r.byName[name].set.GetOrCreatePrometheusHistogramExt(name+labelString(labels), buckets).Update(v)
	r.changed()
}

// changed notes that the textfile is out of date. It never blocks: one
// pending change stands for any number.
func (r *Registry) changed() {
	select {
	case r.changes <- struct{}{}:
	default:
	}
}

// labelString renders label pairs as {a="x",b="y"}, escaped as the text
// format requires; empty for none.
func labelString(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// labelEscaper escapes a label value for the text format.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func (r *Registry) writeBuildInfo(w io.Writer, _ time.Time) {
	fmt.Fprintf(w, "%s%s 1\n", NameBuildInfo, labelString([]string{"version", version.Version, "commit", version.Commit, "goversion", runtime.Version()}))
}

func (r *Registry) writeOffset(w io.Writer, _ time.Time) {
	if r.offsetSet.Load() {
		fmt.Fprintf(w, "%s %s\n", NameClockOffset, num(time.Duration(r.offset.Load()).Seconds()))
	}
}

func (r *Registry) writeDeadline(w io.Writer, now time.Time) {
	if ns := r.deadline.Load(); ns != 0 {
		fmt.Fprintf(w, "%s %s\n", NameDeadlineLeft, num(time.Unix(0, ns).Sub(now).Round(time.Millisecond).Seconds()))
	}
}

func (r *Registry) writeLastPoll(w io.Writer, _ time.Time) {
	if ns := r.lastPoll.Load(); ns != 0 {
		fmt.Fprintf(w, "%s %s\n", NameLastPollSuccess, num(float64(time.Unix(0, ns).UnixMilli())/1000))
	}
}

// SetClockOffset implements agent.Observer: it records the estimated
// offset of AS's clock from this instance's (positive: AS is ahead); the
// gauge is absent until it is first called.
func (r *Registry) SetClockOffset(d time.Duration) {
	old := r.offset.Swap(int64(d))
	if first := !r.offsetSet.Swap(true); first || old != int64(d) {
		r.changed()
	}
}

// num formats a sample value without an exponent, as people read it.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
