package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Request is one request as the simulator saw and answered it, so tests can
// assert exactly which calls a client made and how many.
type Request struct {
	Time         time.Time // when it arrived, by AS's clock (the clock plus Unknowns.ClockOffset)
	Method, Path string
	Route        Route
	// What the request named: the group and hook from the path or body, the
	// instance from the query or body, and a callback's result
	// (CONTINUE, ABANDON or EXTEND).
	InstanceID, GroupID, Hook, Result string
	// Status is what the simulator answered; 0 when the connection was
	// dropped by a fault. ErrorCode is the AS or gateway error code, if any.
	Status    int
	ErrorCode string
	// Fault is the injected fault that shaped the answer: "drop", "error"
	// or "malformed"; empty when none did.
	Fault string
}

// Requests returns every request so far, oldest first (in the order they
// were answered).
func (s *Sim) Requests() []Request {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return slices.Clone(s.requests)
}

// RequestsTo returns the requests that took the route, oldest first.
func (s *Sim) RequestsTo(route Route) []Request {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// record logs the request and stores it, once.
func (s *Sim) record(c *call) {
	if c.recorded {
		return
	}
	c.recorded = true
	s.logf("%s", c.rec.line())
	s.recMu.Lock()
	s.requests = append(s.requests, c.rec)
	s.recMu.Unlock()
}

// line renders the request as one readable log line. It names no secret:
// paths and the recorded fields carry none.
func (r Request) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s", r.Time.UTC().Format(time.RFC3339), r.Method, r.Path, r.Route)
	for _, kv := range [][2]string{{"group", r.GroupID}, {"instance", r.InstanceID}, {"hook", r.Hook}, {"result", r.Result}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if r.Status == 0 {
		b.WriteString(" -> dropped")
	} else {
		fmt.Fprintf(&b, " -> %d", r.Status)
	}
	if r.ErrorCode != "" {
		b.WriteString(" " + r.ErrorCode)
	}
	if r.Fault != "" {
		b.WriteString(" (injected " + r.Fault + ")")
	}
	return b.String()
}
