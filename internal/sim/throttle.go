package sim

import "time"

// throttle is the optional per-project rate limit: a token bucket per
// project, refilled by the simulator's clock.
type throttle struct {
	perSecond float64 // 0: no limit
	burst     int
	buckets   map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// SetThrottle limits AS requests to perSecond per project, with bursts of
// up to burst (at least 1). Requests over the limit are answered 429 with
// the gateway's APIG.0308 body before authentication, as the gateway does.
// perSecond 0 removes the limit. Buckets start full.
func (s *Sim) SetThrottle(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = throttle{perSecond: perSecond, burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// allow takes a token from the project's bucket; false means throttled.
func (s *Sim) allow(project string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.throttle
	if t.perSecond <= 0 {
		return true
	}
	now := s.now()
	b := t.buckets[project]
	if b == nil {
		b = &bucket{tokens: float64(t.burst), last: now}
		t.buckets[project] = b
	}
	b.tokens = min(float64(t.burst), b.tokens+now.Sub(b.last).Seconds()*t.perSecond)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
