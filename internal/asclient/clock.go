package asclient

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Clock offset estimation. Hook timeouts are AS's timestamps; an instance
// clock that is off (at first boot, before NTP has synchronised it) would
// compare them wrongly, so the client estimates how far AS's clock is from
// its own, from the Date header of every AS answer.
const (
	// clockSamples is how many recent samples the estimate is the median
	// of: one odd answer (a proxy's Date, a stalled read) cannot move it.
	clockSamples = 5
	// ClockWarnOffset is the offset past which the client warns, once: the
	// Date header has a resolution of one second, so anything this large is
	// the instance's clock, not noise.
	ClockWarnOffset = 30 * time.Second
	// dateResolution is the resolution of an HTTP Date header.
	dateResolution = time.Second
)

// asClock keeps the recent offset samples. Safe for concurrent use.
type asClock struct {
	log zerolog.Logger

	mu      sync.Mutex
	samples []time.Duration // newest last, at most clockSamples
	warned  bool
}

// observe records one answer's Date header, for a request sent at start and
// answered at end by the local clock. AS wrote the header at some moment
// between the two, truncated to the second, so the offset lies in
// (date-end, date+1s-start); the sample is the point of that interval
// nearest zero: no correction at all when the clocks agree within the
// request's round trip.
func (a *asClock) observe(header string, start, end time.Time) {
	date, err := http.ParseTime(header)
	if err != nil || end.Before(start) {
		return
	}
	lo, hi := date.Sub(end), date.Add(dateResolution).Sub(start)
	var sample time.Duration
	switch {
	case lo > 0:
		sample = lo
	case hi < 0:
		sample = hi
	}
	a.mu.Lock()
	a.samples = append(a.samples, sample)
	if len(a.samples) > clockSamples {
		a.samples = a.samples[1:]
	}
	offset := median(a.samples)
	warn := !a.warned && (offset > ClockWarnOffset || offset < -ClockWarnOffset)
	if warn {
		a.warned = true
	}
	a.mu.Unlock()
	if warn {
		a.log.Warn().Stringer("as_clock_offset", offset).Str("instance_clock", aheadOrBehind(offset)).
			Msg("this instance's clock is off from AS's; hook deadlines are read by AS's clock (check NTP)")
	}
}

// offset returns the median of the recent samples; false before any.
func (a *asClock) offset() (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.samples) == 0 {
		return 0, false
	}
	return median(a.samples), true
}

// median of a few durations (the lower middle one for an even count, so
// that two samples never average into a value neither answer gave).
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// aheadOrBehind says which way the instance's clock is off, for people.
func aheadOrBehind(offset time.Duration) string {
	if offset > 0 {
		return "behind AS's by " + offset.String()
	}
	return "ahead of AS's by " + (-offset).String()
}

// ClockOffset is how far AS's clock is ahead of this client's (negative:
// behind), as the median of the Date headers of the last few AS answers;
// false before the first answer. Compare AS's timestamps (a hook's
// timeout) with ASNow, or wait for an AS time t on the local clock until
// t.Add(-offset).
func (c *Client) ClockOffset() (time.Duration, bool) { return c.asClock.offset() }

// ASNow is the client's clock corrected by ClockOffset: AS's time now, as
// well as it is known (the local clock before any answer).
func (c *Client) ASNow() time.Time {
	off, _ := c.asClock.offset()
	return c.clock.Now().Add(off)
}
