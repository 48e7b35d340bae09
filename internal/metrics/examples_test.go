package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gopkg.in/yaml.v3"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/checks"
	"github.com/asagent/asagent/internal/cloud"
)

// examplesDir holds the alert rules and the dashboard.
var examplesDir = filepath.Join("..", "..", "examples", "prometheus")

// exported is what the agent exports once it has been told everything it
// can be told: for each family, each label name and the values it takes.
func exported(t *testing.T) map[string]map[string]map[string]bool {
	t.Helper()
	clk := clockwork.NewFakeClock()
	r := New(clk)
	for _, ph := range phases {
		r.Event(agent.Event{Name: "hold_released", Phase: ph, Result: "CONTINUE", How: agent.EndedPassed})
		for _, o := range attemptOutcomes {
			r.Attempt(ph, "web", o, time.Millisecond)
		}
	}
	for _, op := range cloud.ASOperations() {
		for _, status := range []int{0, 200, 302, 429, 500} {
			r.ASRequest(op, status)
		}
	}
	r.Polled(clk.Now())
	r.NearestDeadline(clk.Now().Add(time.Hour))
	r.SetClockOffset(time.Second)
	out := map[string]map[string]map[string]bool{}
	for name, fam := range scrape(t, r) {
		labels := map[string]map[string]bool{}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] == nil {
					labels[l.GetName()] = map[string]bool{}
				}
				labels[l.GetName()][l.GetValue()] = true
			}
		}
		out[name] = labels
		if fam.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				out[name+suffix] = labels
			}
		}
	}
	return out
}

// ruleFile is the part of a Prometheus rule file the test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboardPanel is the part of a Grafana panel the test reads; rows nest
// panels.
type dashboardPanel struct {
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// examples returns every PromQL expression of the examples, by where it is.
func examples(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	data, err := os.ReadFile(filepath.Join(examplesDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alerts.yml "+r.Alert] = r.Expr
		}
	}
	data, err = os.ReadFile(filepath.Join(examplesDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				exprs["dashboard.json "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(rules.Groups) == 0 || len(exprs) < 10 {
		t.Fatalf("only %d expressions found in the examples", len(exprs))
	}
	return exprs
}

var (
	metricName = regexp.MustCompile(`\basagent_[a-z_]+`)
	selector   = regexp.MustCompile(`\b(asagent_[a-z_]+)\s*\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	plainWords = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)
)

// Every metric the alert rules and the dashboard name is one the agent
// exports, every label they select on or group by is one it carries, and
// every label value they match (each alternative of a =~ of plain words)
// is one it takes: an example that names a metric, label or value the
// agent does not export would never fire or would show nothing.
func TestExamplesNameExportedMetrics(t *testing.T) {
	have := exported(t)
	// Labels a Prometheus server adds, and Grafana's own.
	targetLabels := map[string]bool{"instance": true, "job": true, "le": true}
	for where, expr := range examples(t) {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: names no asagent metric: %s", where, expr)
		}
		labels := map[string]bool{}
		for _, n := range names {
			fam, ok := have[n]
			if !ok {
				t.Errorf("%s: %s is not a metric the agent exports", where, n)
				continue
			}
			for l := range fam {
				labels[l] = true
			}
		}
		for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
			fam := have[sel[1]]
			for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
				label, op, value := m[1], m[2], m[3]
				if targetLabels[label] {
					continue
				}
				values, ok := fam[label]
				if !ok {
					t.Errorf("%s: %s has no label %s", where, sel[1], label)
					continue
				}
				if (op == "=" || op == "=~") && plainWords.MatchString(value) {
					for _, v := range strings.Split(value, "|") {
						if !values[v] {
							t.Errorf("%s: %s never has %s=%q", where, sel[1], label, v)
						}
					}
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labels[l] && !targetLabels[l] {
					t.Errorf("%s: groups by %s, which none of %v carries", where, l, names)
				}
			}
		}
	}
}

// The test above would see nothing if the patterns it relies on matched
// nothing: check them on a known expression, and that a wrong name, label
// and value are caught.
func TestExamplePatterns(t *testing.T) {
	expr := `sum by (phase, how) (increase(asagent_phases_finished_total{phase="launch", how=~"timeout|answered_elsewhere"}[1h]))`
	if got := metricName.FindAllString(expr, -1); len(got) != 1 || got[0] != NamePhasesFinished {
		t.Errorf("metric names: %v", got)
	}
	sel := selector.FindAllStringSubmatch(expr, -1)
	if len(sel) != 1 || len(matcher.FindAllStringSubmatch(sel[0][2], -1)) != 2 {
		t.Errorf("selectors: %q", sel)
	}
	if g := grouping.FindAllStringSubmatch(expr, -1); len(g) != 1 || g[0][1] != "phase, how" {
		t.Errorf("grouping: %q", g)
	}
	have := exported(t)
	if _, ok := have["asagent_phases_finished"]; ok {
		t.Error("a name without its _total suffix is exported")
	}
	if have[NamePhasesFinished]["how"]["timed_out"] || !have[NamePhasesFinished]["how"][agent.EndedTimeout] {
		t.Error("label values are not what the agent exports")
	}
	if !have[NameCheckAttempts]["outcome"][checks.AttemptGaveUp] || !have[NamePhaseDuration+"_bucket"]["phase"]["launch"] {
		t.Error("exported labels incomplete")
	}
}
