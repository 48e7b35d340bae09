package bench

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// The latency experiment measures every run it makes: each launch's agent
// starts its checks and its CONTINUE reaches the simulator (the values are
// timings, reported by make bench, not asserted).
func TestLatencyMeasuresEveryRun(t *testing.T) {
	r, err := Latency(context.Background(), LatencyOptions{Runs: 5, StateDir: t.TempDir(),
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.N != 5 || r.LaunchDetect.N != 5 {
		t.Errorf("measured %d decisions and %d detections, want 5 each", r.Decision.N, r.LaunchDetect.N)
	}
	t.Logf("%+v", r)
}
