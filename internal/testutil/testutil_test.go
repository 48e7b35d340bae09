package testutil

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// Within waits for a condition that comes true, and gives up on one that
// never does once its limit has passed.
func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !Within(10*time.Second, time.Millisecond, func() bool { return n.Add(1) >= 3 }) {
		t.Error("gave up on a condition that came true at the third poll")
	}
	start := time.Now()
	if Within(30*time.Millisecond, time.Millisecond, func() bool { return false }) {
		t.Error("reported a condition that never held")
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("gave up after %s, before its limit", took)
	}
}

// DriveClock moves the fake clock whenever a goroutine sleeps on it, so a
// sleeper wakes without real waiting, and returns once done is closed.
func TestDriveClock(t *testing.T) {
	clk := clockwork.NewFakeClock()
	start := clk.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			clk.Sleep(time.Hour)
		}
	}()
	DriveClock(t, clk, 30*time.Minute, done)
	if got := clk.Since(start); got != 3*time.Hour {
		t.Errorf("the clock moved %s, want 3h (three one-hour sleeps in 30m steps)", got)
	}
}
