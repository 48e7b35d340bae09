package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/asagent/asagent/internal/testutil"
)

// metricsScraper reads the running agent's metrics: from its /metrics
// endpoint, whose address the agent logs, or from its textfile.
type metricsScraper struct {
	t    *testing.T
	addr string
}

// findMetricsEndpoint waits for the agent's log line that says where it
// serves /metrics (it listens on port 0).
func findMetricsEndpoint(t *testing.T, agentLog *lockedBuffer) *metricsScraper {
	t.Helper()
	m := &metricsScraper{t: t}
	testutil.Eventually(t, 20*time.Second, 50*time.Millisecond, "the metrics endpoint", func() bool {
		sc := bufio.NewScanner(strings.NewReader(agentLog.String()))
		for sc.Scan() {
			var line struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "serving metrics on /metrics" {
				m.addr = line.Listen
				return true
			}
		}
		return false
	})
	return m
}

// parseExposition reads the Prometheus text format with its own parser.
func parseExposition(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	return fams
}

// scrape GETs /metrics and parses it.
func (m *metricsScraper) scrape() map[string]*dto.MetricFamily {
	m.t.Helper()
	resp, err := http.Get("http://" + m.addr + "/metrics")
	if err != nil {
		m.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("scrape: %s", resp.Status)
	}
	return parseExposition(m.t, resp.Body)
}

// readTextfile parses the textfile at path.
func readTextfile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseExposition(t, f)
}

// metricValue is the value of the series of name whose labels include
// labels (name, value pairs): a counter's or gauge's value, a histogram's
// count; -1 when there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, mt := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range mt.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue()
		case mt.Gauge != nil:
			return mt.Gauge.GetValue()
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount())
		}
	}
	return -1
}

// metricWant is one expectation on a scrape: the value of a series, or
// at least that value.
type metricWant struct {
	name    string
	labels  []string
	value   float64
	atLeast bool
}

// until scrapes until every expectation holds (the agent counts a moment
// after the simulator logs what it answered), failing t after 20 s with
// what was last seen.
func (m *metricsScraper) until(stage string, wants ...metricWant) {
	m.t.Helper()
	var last []string
	ok := testutil.Within(20*time.Second, 100*time.Millisecond, func() bool {
		fams := m.scrape()
		last = last[:0]
		for _, w := range wants {
			got := metricValue(fams, w.name, w.labels...)
			if got != w.value && !(w.atLeast && got >= w.value) {
				last = append(last, w.name+strings.Join(w.labels, ",")+": "+strconv.FormatFloat(got, 'g', -1, 64))
			}
		}
		return len(last) == 0
	})
	if !ok {
		m.t.Fatalf("%s: metrics not as the lifecycle says: %v", stage, last)
	}
}
