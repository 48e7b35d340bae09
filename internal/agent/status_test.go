package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/checks"
)

// The headline of `asagent status` agrees with the table beside it in
// every snapshot, and counts refused checks: it once said "0/3 checks
// passed" beside two passed checks until the engine's next wake, and left
// refused ones out of the count.
func TestStatusHeadlineAgreesWithTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.script(PhaseLaunch, "a-ok", "exit 0")
		h.script(PhaseLaunch, "b-wait", `[ -e "`+h.dir+`/ready" ]`)
		h.script(PhaseLaunch, "c-refused", "exit 0")
		if err := os.Chmod(filepath.Join(h.cfg.Launch.ScriptsDir, "c-refused"), 0o644); err != nil {
			t.Fatal(err) // no exec bit: refused
		}
		h.start()
		defer h.stop()
		last := ""
		h.waitFor(time.Minute, "a-ok to pass", func() bool {
			st := h.engine.Status()
			if st.Phase == nil {
				return false
			}
			passed := 0
			for _, c := range st.Phase.Checks {
				if c.State == string(checks.Passed) {
					passed++
				}
			}
			last = st.Summary
			if !strings.HasPrefix(st.Summary, fmt.Sprintf("launch: %d/3 checks passed, 1 refused", passed)) {
				t.Fatalf("headline %q beside %d passed checks of 3 (1 refused)", st.Summary, passed)
			}
			return passed == 1
		})
		if !strings.Contains(last, ", hook expires ") {
			t.Errorf("headline %q lacks the hook's deadline", last)
		}
	})
}

// The check count reads as English: one check, two checks, and refused
// ones named.
func TestCheckCount(t *testing.T) {
	cases := []struct {
		cs   checks.PhaseStatus
		want string
	}{
		{checks.PhaseStatus{Pending: 1}, "0/1 check passed"},
		{checks.PhaseStatus{Passed: 1}, "1/1 check passed"},
		{checks.PhaseStatus{Passed: 2, Pending: 1}, "2/3 checks passed"},
		{checks.PhaseStatus{Passed: 1, Refused: 1}, "1/2 checks passed, 1 refused"},
		{checks.PhaseStatus{}, "0/0 checks passed"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := checkCount(tc.cs); got != tc.want {
				t.Errorf("checkCount(%+v) = %q, want %q", tc.cs, got, tc.want)
			}
		})
	}
}
