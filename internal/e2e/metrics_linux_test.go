//go:build linux

package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// checkContainerMetrics reads the metrics of the agent in the container
// once its launch hook was answered: from /metrics on the container's
// loopback (dialled inside its network namespace) and from the textfile,
// which node_exporter's user must be able to read. Both must parse with
// the Prometheus text parser and show the launch answered by the checks.
func checkContainerMetrics(t *testing.T, ctx context.Context, c *container, nsPath string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: dialInNetns(nsPath)}}
	launched := func(fams map[string]*dto.MetricFamily) (bool, string) {
		held := value(fams, "asagent_holds_seen_total", "phase", "launch")
		passed := value(fams, "asagent_phases_finished_total", "phase", "launch", "result", "CONTINUE", "how", "passed")
		accepted := value(fams, "asagent_callbacks_total", "phase", "launch", "result", "CONTINUE", "outcome", "accepted")
		return held == 1 && passed == 1 && accepted == 1, "holds seen, phases passed, CONTINUEs accepted: " +
			strings.Join([]string{fmtValue(held), fmtValue(passed), fmtValue(accepted)}, ", ")
	}
	eventually(t, 30*time.Second, "the launch in the scraped metrics", func() (bool, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:9469/metrics", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			return false, "does not parse: " + err.Error()
		}
		return launched(fams)
	})
	eventually(t, 30*time.Second, "the launch in the textfile", func() (bool, string) {
		out, err := c.run(ctx, "cat", containerTextfile)
		if err != nil {
			return false, out
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(out))
		if err != nil {
			return false, "does not parse: " + err.Error()
		}
		return launched(fams)
	})
	if mode := strings.TrimSpace(c.mustRun(t, ctx, "stat", "-c", "%a %U", containerTextfile)); mode != "644 root" {
		t.Errorf("textfile mode and owner %q, want 644 root: node_exporter runs as its own user", mode)
	}
}

// value is the value of the series of name with exactly these labels, or
// -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			found := false
			for j := 0; j+1 < len(labels); j += 2 {
				found = found || (labels[j] == l.GetName() && labels[j+1] == l.GetValue())
			}
			match = match && found
		}
		if match {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func fmtValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
