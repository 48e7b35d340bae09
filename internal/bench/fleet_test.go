package bench

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

// bubbleTime is virtual time inside a synctest bubble: the real clock
// reads the bubble's time, and Advance sleeps there, then waits until
// every goroutine of the bubble is blocked again.
type bubbleTime struct{}

func (bubbleTime) Clock() clockwork.Clock { return clockwork.NewRealClock() }

func (bubbleTime) Advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (bubbleTime) Settle() { synctest.Wait() }

// A small fleet through scale-out and scale-in waves against a throttled
// simulator: every hold is answered CONTINUE by its own agent, exactly
// once, none times out into its default result, none gets two results.
// Timings are not asserted here (they are what `make bench` reports).
func TestFleetSmallIsCorrect(t *testing.T) {
	if testing.Short() {
		t.Skip("a 100-agent fleet; skipped with -short")
	}
	synctest.Test(t, func(t *testing.T) {
		var lines int
		r, err := Fleet(context.Background(), FleetOptions{
			Instances: 100, Waves: 4, WaveEvery: 5 * time.Minute, Idle: 10 * time.Minute,
			Throttle: 20, Step: 500 * time.Millisecond,
			Time: bubbleTime{}, StateDir: t.TempDir(), Seed: 1,
			Progress: func(FleetProgress) { lines++ },
			Log:      zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", r)
		if !r.Correct() {
			t.Errorf("fleet not correct: launched %d terminated %d of %d; timed out %d, double %d, contradicting %d, abandoned %d, unanswered %d",
				r.Launched, r.Terminated, r.Instances, r.TimedOut, r.Double, r.Contradicting, r.Abandoned, r.Unanswered)
		}
		if lines == 0 {
			t.Error("no progress reported")
		}
		if r.Requests == 0 || r.LaunchDetect.N != r.Instances || r.TerminateDetect.N != r.Instances || r.Decision.N != 2*r.Instances {
			t.Errorf("figures missing: %+v", r)
		}
	})
}
