package bench

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// The API-call counts come from the simulator's record over simulated
// hours: the baseline heartbeat agent makes exactly one call per 10 s in
// every case (which proves the counting), and asagent, pending for hours,
// extends at least once and at most once an hour.
func TestCallsCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rates, err := Calls(context.Background(), CallsOptions{
			Hours: 3, Step: 100 * time.Millisecond, NewTime: func() Time { return bubbleTime{} }, StateDir: t.TempDir(),
			Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rates) != 5 {
			t.Fatalf("%d cases, want 5: %+v", len(rates), rates)
		}
		for _, r := range rates {
			t.Logf("%+v", r)
			switch {
			case r.Agent == AgentBaseline && r.Total != 360:
				t.Errorf("%s, baseline: %.1f calls an hour, want 360 (one per 10 s)", r.Case, r.Total)
			case r.Agent == AgentOurs && r.Case == CasePending && (r.Extends <= 0 || r.Extends > 1):
				t.Errorf("pending: %.2f EXTENDs an hour, want more than 0 and at most 1", r.Extends)
			}
		}
		for _, row := range CallRows(rates) {
			t.Logf("%+v", row)
		}
	})
}
