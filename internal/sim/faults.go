package sim

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"time"
)

// Fault is what goes wrong on one route, for tests of a client's error
// handling. The zero Fault is no fault. Each request on the route draws
// against the rates in a fixed order (drop, error, malformed) from a
// generator seeded with Seed, so a given sequence of requests always meets
// the same faults.
type Fault struct {
	// ErrorRate is the fraction of requests answered 500 with the documented
	// AS.0001 body ("System error."), without touching the state.
	ErrorRate float64
	// Status, with ErrorRate or FirstN, is the status to answer instead of
	// 500 (e.g. 503).
	Status int
	// FirstN fails exactly the first N requests on the route after SetFault,
	// like ErrorRate, e.g. a metadata service that is down for the first N
	// attempts at boot.
	FirstN int
	// Latency is added before every request on the route is handled. It
	// waits on the simulator's clock: with a fake clock the request blocks
	// until the test advances the clock past it (use
	// FakeClock.BlockUntilContext to wait for the request to be parked).
	// A client that gives up first gets no answer.
	Latency time.Duration
	// DropRate is the fraction of connections closed without an answer.
	DropRate float64
	// MalformedRate is the fraction of requests that are handled (the state
	// changes) but answered 200 with a truncated copy of the real body, as
	// when a proxy cuts the answer short.
	MalformedRate float64
	// Seed seeds the draws.
	Seed int64
}

// Fault kinds as the request record names them.
const (
	faultDrop      = "drop"
	faultError     = "error"
	faultMalformed = "malformed"
)

// faultState is a route's fault and its draws so far.
type faultState struct {
	f    Fault
	rng  *rand.Rand
	seen int
}

// SetFault sets the fault of a route, replacing the previous one and
// restarting FirstN and the draws; Fault{} clears it.
func (s *Sim) SetFault(route Route, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, route)
		return
	}
	s.faults[route] = &faultState{f: f, rng: rand.New(rand.NewPCG(uint64(f.Seed), 0x5eed))}
}

// faultPlan is what happens to one request.
type faultPlan struct {
	latency time.Duration
	kind    string // "", faultDrop, faultError or faultMalformed
	status  int
}

// planFault draws the fate of the next request on the route.
func (s *Sim) planFault(route Route) faultPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.faults[route]
	if fs == nil {
		return faultPlan{}
	}
	f := fs.f
	plan := faultPlan{latency: f.Latency, status: f.Status}
	if plan.status == 0 {
		plan.status = http.StatusInternalServerError
	}
	fs.seen++
	draw := func(rate float64) bool { return rate > 0 && fs.rng.Float64() < rate }
	switch {
	case fs.seen <= f.FirstN:
		plan.kind = faultError
	case draw(f.DropRate):
		plan.kind = faultDrop
	case draw(f.ErrorRate):
		plan.kind = faultError
	case draw(f.MalformedRate):
		plan.kind = faultMalformed
	}
	return plan
}

// injectFaults applies the route's fault to the request. It returns true
// when the request should be served normally.
func (s *Sim) injectFaults(c *call, h func(*call)) bool {
	plan := s.planFault(c.route)
	if plan.latency > 0 {
		select {
		case <-s.clock.After(plan.latency):
		case <-c.r.Context().Done():
			return false
		}
	}
	c.rec.Fault = plan.kind
	switch plan.kind {
	case faultDrop:
		s.record(c)
		drop(c.w)
		return false
	case faultError:
		if c.route.isAS() {
			c.asError(plan.status, codeSystemError, "System error.")
		} else {
			c.text(plan.status, http.StatusText(plan.status)+"\n")
		}
		return false
	case faultMalformed:
		s.serveMalformed(c, h)
		return false
	}
	return true
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the stream instead; net/http
		// recovers this panic without logging.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// serveMalformed serves the request into a buffer and answers 200 with the
// first half of the real body (or a lone "{" when it had none).
func (s *Sim) serveMalformed(c *call, h func(*call)) {
	real := c.w
	buf := &bufferedWriter{header: http.Header{}}
	c.w, c.buffering = buf, true
	s.serve(c, h)
	c.w, c.buffering = real, false
	c.rec.ErrorCode = "" // the client sees a 200, whatever the handler said
	body := buf.body.Bytes()
	body = body[:len(body)/2]
	if len(body) == 0 {
		body = []byte("{")
	}
	c.w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	c.write(http.StatusOK, body)
}

// bufferedWriter is an http.ResponseWriter that keeps the answer.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(status int)      { b.status = status }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
