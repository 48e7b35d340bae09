package agent

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// eventLine is the part of a log line that docs/events.md promises.
type eventLine struct {
	Event    string    `json:"event"`
	Instance string    `json:"instance_id"`
	Group    string    `json:"scaling_group_id"`
	Phase    string    `json:"phase"`
	Hook     string    `json:"hook"`
	Result   string    `json:"result"`
	Reason   string    `json:"reason"`
	Deadline time.Time `json:"deadline"`
}

func (h *harness) events() []eventLine {
	h.t.Helper()
	var out []eventLine
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	for sc.Scan() {
		var ev eventLine
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			h.t.Fatalf("a log line that is not JSON: %q", sc.Text())
		}
		if ev.Event != "" {
			out = append(out, ev)
		}
	}
	return out
}

// A whole life (launch, then scale-in and drain) emits its decisions as
// events in order, each with the fields docs/events.md promises.
func TestLifecycleEmitsEventsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.cfg.Launch.Interval = h.cfg.Launch.Interval * 60                 // a check every 5 minutes
		h.script(PhaseLaunch, "10-ready", `[ "$ASAGENT_ATTEMPT" -ge 12 ]`) // passes after 55 min: one EXTEND first
		h.script(PhaseTerminate, "10-drain", `true`)
		h.start()
		h.scaleIn(time.Hour, 1)
		h.stop()

		var got []string
		for _, ev := range h.events() {
			got = append(got, ev.Phase+"/"+ev.Event)
			if ev.Instance != h.local || ev.Group != h.group || ev.Phase == "" {
				t.Errorf("%s: instance %q group %q phase %q, want all three", ev.Event, ev.Instance, ev.Group, ev.Phase)
			}
			if ev.Hook != "" && ev.Deadline.IsZero() {
				t.Errorf("%s of hook %s has no deadline", ev.Event, ev.Hook)
			}
			if strings.HasPrefix(ev.Event, "result_") && (ev.Result == "" || ev.Reason == "") {
				t.Errorf("%s without its result and reason: %+v", ev.Event, ev)
			}
		}
		want := []string{
			"launch/hold_seen", "launch/phase_started", "launch/extend_sent", "launch/check_passed",
			"launch/result_decided", "launch/result_sent", "launch/hold_released",
			"terminate/hold_seen", "terminate/phase_started", "terminate/check_passed",
			"terminate/result_decided", "terminate/result_sent", "terminate/hold_released",
		}
		if !slices.Equal(got, want) {
			t.Errorf("events:\n got %v\nwant %v", got, want)
		}
	})
}
