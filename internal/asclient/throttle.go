package asclient

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxRetryAfter caps how long a Retry-After header can make the client
// wait: a hook lasts at least a minute and a poll interval minutes, so a
// longer wait is more likely a gateway's mistake than advice to follow.
const MaxRetryAfter = 5 * time.Minute

// throttling counts the client's throttled answers (429, APIG.0308) and
// remembers the latest time AS asked it not to call before.
type throttling struct {
	mu        sync.Mutex
	count     uint64
	notBefore time.Time
}

// note records one throttled answer at now that asked for retryAfter.
func (t *throttling) note(now time.Time, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.count++
	if at := now.Add(retryAfter); retryAfter > 0 && at.After(t.notBefore) {
		t.notBefore = at
	}
}

// Throttling returns how many of the client's answers so far were
// throttled by the API gateway (429 or APIG.0308, retries included), and
// the time before which the latest Retry-After asked it not to call again
// (zero when AS never sent one). A caller that paces its own calls, such
// as the engine's polls, reads it to slow down when the project is
// throttled: every agent of a project shares its AS request limit.
func (c *Client) Throttling() (count uint64, notBefore time.Time) {
	c.throttling.mu.Lock()
	defer c.throttling.mu.Unlock()
	return c.throttling.count, c.throttling.notBefore
}

// parseRetryAfter reads a Retry-After header: a number of seconds, or an
// HTTP date, taken relative to the answer's Date header (both are AS's
// clock, whatever ours says). Anything else, or a wait in the past, is 0;
// a wait over MaxRetryAfter is MaxRetryAfter.
func parseRetryAfter(value, date string) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else {
		at, err1 := http.ParseTime(value)
		now, err2 := http.ParseTime(date)
		if err1 != nil || err2 != nil {
			return 0
		}
		d = at.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// pacedKey marks a context made by Paced.
type pacedKey struct{}

// Paced returns a context whose calls are not retried after a throttled
// answer (429, APIG.0308): their caller paces its own calls and tries again
// later at its own, slower, pace, as the engine does with its polls. Every
// other failure is retried as usual.
func Paced(ctx context.Context) context.Context { return context.WithValue(ctx, pacedKey{}, true) }

// paced reports whether ctx was made by Paced.
func paced(ctx context.Context) bool { v, _ := ctx.Value(pacedKey{}).(bool); return v }

// throttleBackoff is the wait before retrying after the n-th throttled
// answer in a row (n >= 1): d, 2d, 4d... up to 16d, each lengthened by up
// to a half at random so that agents throttled together spread out (d
// stays the shortest wait, as Huawei advises).
func throttleBackoff(d time.Duration, n int) time.Duration {
	w := d << min(n-1, 4)
	return w + time.Duration(rand.Int64N(int64(w)/2+1))
}
