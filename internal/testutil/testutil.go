// Package testutil holds the helpers that the tests of several packages
// share: waiting for a condition that nothing signals, and driving a fake
// clock. Only tests import it.
package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// Within polls cond every interval until it holds, and reports whether it
// did before limit passed. Polling is for what offers nothing to wait on:
// another process, a real-time server, a file another goroutine writes.
func Within(limit, every time.Duration, cond func() bool) bool {
	end := time.Now().Add(limit)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		<-tick.C
	}
	return true
}

// Eventually polls cond every interval until it holds, and fails t when it
// still does not after limit; what names the awaited condition.
func Eventually(t testing.TB, limit, every time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(limit, every, cond) {
		t.Fatalf("still waiting after %s for %s", limit, what)
	}
}

// DriveClock advances clk by step each time a goroutine sleeps on it,
// until done is closed, so that retry loops run without real waiting. It
// fails t when nothing sleeps on the clock for a minute. Calls that do not
// wait on the clock (HTTP requests) see time stand still.
func DriveClock(t testing.TB, clk *clockwork.FakeClock, step time.Duration, done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		waitCtx, waitCancel := context.WithCancel(ctx)
		parked := make(chan error, 1)
		go func() { parked <- clk.BlockUntilContext(waitCtx, 1) }()
		select {
		case <-done:
			waitCancel()
			<-parked
			return
		case err := <-parked:
			waitCancel()
			if err != nil {
				t.Fatalf("nothing slept on the clock in time: %v", err)
			}
			clk.Advance(step)
		}
	}
}
