package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/control"
)

// The status shows the agent's polling pace and, when there is one, the
// warning about terminate hooks too short for it; neither line when the
// agent has not set them.
func TestRenderStatusPace(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	st := control.Status{InstanceID: "i-1", GroupID: "g-1", Summary: "idle: watching for a terminate hook",
		Pace:        "idle polls every 15m33s: 10000 instances in the project share poll.project_rate 50/s",
		PaceWarning: "terminate hook drain: default_timeout 10m0s holds 0.5 idle polls (one every 18m40s at most)"}
	var out bytes.Buffer
	renderStatus(&out, st, now)
	for _, want := range []string{"pace:", "every 15m33s", "WARNING:", "terminate hook drain"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	st.Pace, st.PaceWarning = "", ""
	out.Reset()
	renderStatus(&out, st, now)
	if strings.Contains(out.String(), "pace:") || strings.Contains(out.String(), "WARNING") {
		t.Errorf("status shows a pace the agent did not set:\n%s", out.String())
	}
}
