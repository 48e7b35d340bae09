package checks

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
)

// recordingAttempts keeps what Options.Attempts is told.
type recordingAttempts struct {
	mu   sync.Mutex
	seen []string // phase/check/outcome
	took []time.Duration
}

func (r *recordingAttempts) Attempt(phase, check, outcome string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, phase+"/"+check+"/"+outcome)
	r.took = append(r.took, took)
}

// Options.Attempts is told of each attempt as it ends, with what it came
// to and the real time it took: a pass, a failure, a give-up, and an
// attempt killed at its timeout are each named so.
func TestAttemptsObserved(t *testing.T) {
	cases := []struct {
		name string
		body string // the script; "$0.ran" marks that it ran before
		want []string
	}{
		{"passes", `exit 0`, []string{"pass"}},
		{"fails then passes", `[ -e "$0.ran" ] && exit 0; touch "$0.ran"; exit 1`, []string{"fail", "pass"}},
		{"gives up", `exit 100`, []string{"give_up"}},
		{"times out then passes", `[ -e "$0.ran" ] && exit 0; touch "$0.ran"; exec sleep 10`, []string{"timeout", "pass"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			chk := execCheck("app", writeScript(t, dir, "app", tc.body, 0o755))
			chk.Timeout = config.Duration(300 * time.Millisecond)
			chk.Interval = config.Duration(time.Second)
			clock := clockwork.NewFakeClock()
			rec := &recordingAttempts{}
			opts := testOptions(t, clock)
			opts.Attempts = rec
			p := NewPhase("terminate", fastPhase(config.Parallel), []config.Check{chk}, opts)
			drive(t, clock, p, 2, time.Second)
			var want []string
			for _, o := range tc.want {
				want = append(want, "terminate/app/"+o)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if !slices.Equal(rec.seen, want) {
				t.Errorf("told %v, want %v", rec.seen, want)
			}
			for i, took := range rec.took {
				if took <= 0 || took > 5*time.Second {
					t.Errorf("attempt %d took %s", i+1, took)
				}
			}
		})
	}
}
