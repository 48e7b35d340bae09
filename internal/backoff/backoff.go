// Package backoff holds the capped exponential backoff with jitter that the
// metadata and AS clients share, and a context-aware sleep on an injected
// clock so that tests drive retries with a fake clock instead of waiting.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jonboulle/clockwork"
)

// Policy describes capped exponential backoff with jitter: attempt n (from
// 0) waits Initial*Multiplier^n, capped at Max, then shortened by a random
// fraction of at most Jitter. Shortening (rather than lengthening) keeps Max a
// true upper bound, which callers rely on when they budget against a deadline.
type Policy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64 // <= 1 means 2
	Jitter     float64 // 0..1; 0 gives exact delays, 1 gives "full jitter"
}

// Default returns the policy for calls to cloud APIs: the first retry after
// about half a second, never more than 30 s apart (a hook's timeout is at
// least a minute, so several retries fit in it), and half-width jitter so
// that a fleet booting at once does not retry in lockstep.
func Default() Policy {
	return Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.5}
}

// Delay returns how long to wait before retry number attempt (0 for the
// first retry). It is safe for concurrent use.
func (p Policy) Delay(attempt int) time.Duration {
	return p.delay(attempt, rand.Float64())
}

// Bounds returns the shortest and longest delay that Delay can return for
// attempt, so tests and callers can reason about it without randomness.
func (p Policy) Bounds(attempt int) (lo, hi time.Duration) {
	return p.delay(attempt, 1), p.delay(attempt, 0)
}

func (p Policy) delay(attempt int, r float64) time.Duration {
	p = p.normalized()
	if attempt < 0 {
		attempt = 0
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt))
	if d > float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.Max)
	}
	d -= d * p.Jitter * r
	return time.Duration(d)
}

func (p Policy) normalized() Policy {
	if p.Initial <= 0 {
		p.Initial = Default().Initial
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Multiplier <= 1 {
		p.Multiplier = 2
	}
	p.Jitter = min(max(p.Jitter, 0), 1)
	return p
}

// Sleep waits d on clk, or until ctx ends, in which case it returns
// ctx.Err(). A fake clock's BlockUntilContext sees the wait as one waiter.
func Sleep(ctx context.Context, clk clockwork.Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}
