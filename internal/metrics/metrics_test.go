package metrics

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/cloud"
)

// parse reads an exposition with the Prometheus text parser (classic
// metric names: the stricter rules), failing t on any error.
func parse(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// scrape renders the registry and parses it.
func scrape(t testing.TB, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	return parse(t, &b)
}

// sample finds the series of fam whose labels are exactly labels (name,
// value pairs) and returns its value: a counter's or gauge's value, a
// histogram's count. ok is false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// Everything the agent reports lands in the series its name and labels
// say, in a family of the right type, and the whole parses with the
// Prometheus text parser.
func TestRegistryCountsWhatItIsTold(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := New(clk)
	now := clk.Now()
	for _, ev := range []agent.Event{
		{Name: "hold_seen", Phase: "launch", Hook: "boot"},
		{Name: "phase_started", Phase: "launch"},
		{Name: "extend_sent", Phase: "launch", Hook: "boot"},
		{Name: "extend_sent", Phase: "launch", Hook: "boot"},
		{Name: "extend_failed", Phase: "launch", Hook: "boot"},
		{Name: "result_decided", Phase: "launch", Result: "CONTINUE"},
		{Name: "result_failed", Phase: "launch", Hook: "boot", Result: "CONTINUE"},
		{Name: "result_sent", Phase: "launch", Hook: "boot", Result: "CONTINUE"},
		{Name: "hold_released", Phase: "launch", Result: "CONTINUE", How: agent.EndedPassed, Duration: 90 * time.Second},
		{Name: "answered_elsewhere", Phase: "terminate", Hook: "drain"}, // no result of ours: not a callback
		{Name: "answered_elsewhere", Phase: "terminate", Hook: "drain", Result: "CONTINUE"},
		{Name: "hold_released", Phase: "terminate", How: agent.EndedElsewhere, Duration: time.Minute},
	} {
		r.Event(ev)
	}
	r.Attempt("launch", "web", checks.AttemptFailed, 20*time.Millisecond)
	r.Attempt("launch", "web", checks.AttemptTimeout, 2*time.Second)
	r.Attempt("launch", "web", checks.AttemptPassed, 10*time.Millisecond)
	r.ASRequest(cloud.OpListHeldHooks, 200)
	r.ASRequest(cloud.OpListHeldHooks, 429)
	r.ASRequest(cloud.OpCallback, 0)
	r.ASRequest(cloud.OpCallback, 503)
	r.CredentialsFetched(nil)
	r.CredentialsFetched(errors.New("metadata service down"))
	r.CredentialsFetched(errors.New("metadata service down"))
	r.Polled(now.Add(-10 * time.Second))
	r.NearestDeadline(now.Add(10 * time.Minute))
	r.SetClockOffset(-1500 * time.Millisecond)

	fams := scrape(t, r)
	cases := []struct {
		name   string
		labels []string
		want   float64
	}{
		{NameBuildInfo, []string{"version", "dev", "commit", "unknown", "goversion", goVersion()}, 1},
		{NameHoldsSeen, []string{"phase", "launch"}, 1},
		{NameHoldsSeen, []string{"phase", "terminate"}, 0},
		{NameExtends, []string{"phase", "launch"}, 2},
		{NameExtendFailures, []string{"phase", "launch"}, 1},
		{NameCallbacks, []string{"phase", "launch", "result", "CONTINUE", "outcome", "accepted"}, 1},
		{NameCallbacks, []string{"phase", "launch", "result", "CONTINUE", "outcome", "failed"}, 1},
		{NameCallbacks, []string{"phase", "terminate", "result", "CONTINUE", "outcome", "not_held"}, 1},
		{NameCallbacks, []string{"phase", "terminate", "result", "ABANDON", "outcome", "accepted"}, 0},
		{NamePhasesFinished, []string{"phase", "launch", "result", "CONTINUE", "how", "passed"}, 1},
		{NamePhasesFinished, []string{"phase", "terminate", "result", "none", "how", "answered_elsewhere"}, 1},
		{NamePhasesFinished, []string{"phase", "launch", "result", "CONTINUE", "how", "timeout"}, 0},
		{NamePhaseDuration, []string{"phase", "launch"}, 1},
		{NamePhaseDuration, []string{"phase", "terminate"}, 1},
		{NameCheckAttempts, []string{"phase", "launch", "check", "web", "outcome", "fail"}, 1},
		{NameCheckAttempts, []string{"phase", "launch", "check", "web", "outcome", "timeout"}, 1},
		{NameCheckAttempts, []string{"phase", "launch", "check", "web", "outcome", "pass"}, 1},
		{NameCheckAttempts, []string{"phase", "launch", "check", "web", "outcome", "give_up"}, 0},
		{NameCheckDuration, []string{"phase", "launch", "check", "web"}, 3},
		{NameASRequests, []string{"operation", "list_held_hooks", "code", "2xx"}, 1},
		{NameASRequests, []string{"operation", "list_held_hooks", "code", "4xx"}, 1},
		{NameASRequests, []string{"operation", "callback", "code", "error"}, 1},
		{NameASRequests, []string{"operation", "callback", "code", "5xx"}, 1},
		{NameASThrottled, []string{"operation", "list_held_hooks"}, 1},
		{NameASThrottled, []string{"operation", "callback"}, 0},
		{NameCredRefreshes, nil, 1},
		{NameCredFailures, nil, 2},
		{NameLastPollSuccess, nil, float64(now.Add(-10 * time.Second).Unix())},
		{NameDeadlineLeft, nil, 600},
		{NameClockOffset, nil, -1.5},
	}
	for _, tc := range cases {
		got, ok := sample(fams, tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if h := fams[NamePhaseDuration].GetMetric(); len(h) != 2 || h[0].GetHistogram().GetSampleSum()+h[1].GetHistogram().GetSampleSum() != 150 {
		t.Errorf("phase durations: %v, want 90 s and 60 s", h)
	}
	types := map[string]dto.MetricType{NameBuildInfo: dto.MetricType_GAUGE, NamePhaseDuration: dto.MetricType_HISTOGRAM,
		NameCheckDuration: dto.MetricType_HISTOGRAM, NameDeadlineLeft: dto.MetricType_GAUGE, NameLastPollSuccess: dto.MetricType_GAUGE,
		NameClockOffset: dto.MetricType_GAUGE}
	for _, name := range r.Names() {
		fam := fams[name]
		if fam == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		want, ok := types[name]
		if !ok {
			want = dto.MetricType_COUNTER
		}
		if fam.GetType() != want || fam.GetHelp() == "" || !strings.HasPrefix(name, "asagent_") {
			t.Errorf("%s: type %v help %q, want %v with a help text", name, fam.GetType(), fam.GetHelp(), want)
		}
	}
	if len(fams) != len(r.Names()) {
		t.Errorf("%d families exported, %d named", len(fams), len(r.Names()))
	}
}

func goVersion() string {
	var b bytes.Buffer
	(&Registry{}).writeBuildInfo(&b, time.Time{})
	_, after, _ := strings.Cut(b.String(), `goversion="`)
	v, _, _ := strings.Cut(after, `"`)
	return v
}

// A fresh registry exports the build and every series whose labels are
// known ahead at zero (so the first increment shows in increase()), and no
// gauge it knows nothing of yet: no deadline while nothing is held, no
// poll time before the first poll, no clock offset before one is
// estimated. A deadline goes again once no hook is held.
func TestFreshRegistry(t *testing.T) {
	clk := clockwork.NewFakeClock()
	r := New(clk)
	fams := scrape(t, r)
	for _, name := range []string{NameDeadlineLeft, NameLastPollSuccess, NameClockOffset, NameCheckAttempts, NameCheckDuration, NameASRequests} {
		if fams[name] != nil {
			t.Errorf("%s is exported before anything was told: %v", name, fams[name])
		}
	}
	if v, ok := sample(fams, NamePhasesFinished, "phase", "terminate", "result", "CONTINUE", "how", "failed"); !ok || v != 0 {
		t.Errorf("phases finished not at zero: %v %v", v, ok)
	}
	r.NearestDeadline(clk.Now().Add(time.Minute))
	if _, ok := sample(scrape(t, r), NameDeadlineLeft); !ok {
		t.Error("no deadline while a hook is held")
	}
	r.NearestDeadline(time.Time{})
	if _, ok := sample(scrape(t, r), NameDeadlineLeft); ok {
		t.Error("a deadline with no hook held")
	}
}

// Label values are escaped as the text format requires, whatever a check
// is called.
func TestLabelValuesAreEscaped(t *testing.T) {
	for _, name := range []string{`plain`, `with "quotes"`, `back\slash`, "new\nline", `{braces},=`} {
		r := New(clockwork.NewFakeClock())
		r.Attempt("launch", name, checks.AttemptPassed, time.Millisecond)
		if v, ok := sample(scrape(t, r), NameCheckAttempts, "phase", "launch", "check", name, "outcome", "pass"); !ok || v != 1 {
			t.Errorf("check %q: %v %v", name, v, ok)
		}
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 302: "3xx", 401: "4xx", 429: "4xx", 503: "5xx", 600: "error", -1: "error"} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// Names lists each family once.
func TestNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range New(nil).Names() {
		if seen[n] {
			t.Errorf("%s twice", n)
		}
		seen[n] = true
	}
}
