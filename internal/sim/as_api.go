package sim

import "net/http"

// AS error codes used so far.
const codeSystemError = "AS.0001"

// gateway stands for the API gateway in front of the AS API. Stage 1: the
// AS API is not served yet.
func (s *Sim) gateway(c *call) bool {
	c.asError(http.StatusNotImplemented, codeSystemError, "the AS API is not implemented yet")
	return false
}

func (s *Sim) serveCreateHook(c *call)        {}
func (s *Sim) serveListHooks(c *call)         {}
func (s *Sim) serveShowHook(c *call)          {}
func (s *Sim) serveUpdateHook(c *call)        {}
func (s *Sim) serveDeleteHook(c *call)        {}
func (s *Sim) serveListHookInstances(c *call) {}
func (s *Sim) serveCallback(c *call)          {}
func (s *Sim) serveListGroups(c *call)        {}
func (s *Sim) serveListInstances(c *call)     {}
func (s *Sim) serveInstanceAction(c *call)    {}

// throttle is the per-project rate limit (stage 3).
type throttle struct{}
