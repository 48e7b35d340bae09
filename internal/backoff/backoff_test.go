package backoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// Delays grow exponentially, never exceed Max, and jitter only ever shortens
// them, so Max stays a hard bound that callers can budget against.
func TestPolicyDelayBounds(t *testing.T) {
	p := Policy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.5}
	cases := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, time.Second, 2 * time.Second},
		{3, 4 * time.Second, 8 * time.Second},
		{4, 5 * time.Second, 10 * time.Second},
		{60, 5 * time.Second, 10 * time.Second},
		{-1, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range cases {
		t.Run(time.Duration(tc.attempt).String(), func(t *testing.T) {
			lo, hi := p.Bounds(tc.attempt)
			if lo != tc.lo || hi != tc.hi {
				t.Fatalf("Bounds(%d) = %v..%v, want %v..%v", tc.attempt, lo, hi, tc.lo, tc.hi)
			}
			for range 200 {
				if d := p.Delay(tc.attempt); d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%d) = %v, outside %v..%v", tc.attempt, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

// A zero Policy is usable: it falls back to sane values instead of spinning
// with zero delays.
func TestZeroPolicyIsSane(t *testing.T) {
	var p Policy
	if lo, _ := p.Bounds(0); lo <= 0 {
		t.Fatalf("zero policy gives delay %v", lo)
	}
}

// Sleep returns when the (fake) clock has advanced far enough, and returns the
// context's error at once when the context ends first.
func TestSleep(t *testing.T) {
	t.Run("clock advances", func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		done := make(chan error, 1)
		go func() { done <- Sleep(context.Background(), clk, time.Minute) }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(59 * time.Second)
		select {
		case err := <-done:
			t.Fatalf("Sleep returned early: %v", err)
		default:
		}
		clk.Advance(time.Second)
		if err := <-done; err != nil {
			t.Fatalf("Sleep = %v", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Sleep(ctx, clk, time.Hour) }()
		bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer bcancel()
		if err := clk.BlockUntilContext(bctx, 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Sleep(ctx, clockwork.NewFakeClock(), 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	})
}
