package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// ControlPath is the prefix of the simulator's control path: plain JSON
// over HTTP, unsigned, that only answers requests from loopback. It is how
// `asagent sim scale-out|scale-in|complete|status` drive a running
// simulator; it is no part of the cloud's API, and the request record
// (Requests) leaves it out.
const ControlPath = "/_sim/v1/"

// The control path's operations, under ControlPath.
const (
	ControlStatus   = "status"    // GET: the local instance's LocalStatus
	ControlScaleOut = "scale-out" // POST: ScaleOut
	ControlScaleIn  = "scale-in"  // POST: ScaleIn
	ControlComplete = "complete"  // POST CompleteRequest: Complete
)

// CompleteRequest is the body of a complete: the hook to answer (empty:
// every hook holding the local instance) and the result.
type CompleteRequest struct {
	Hook   string `json:"hook,omitempty"`
	Result string `json:"result"`
}

// ControlAnswer is every answer of the control path: the local instance's
// status after the operation, and why it was refused, if it was.
type ControlAnswer struct {
	Error  string      `json:"error,omitempty"`
	Status LocalStatus `json:"status"`
}

// controlRoutes adds the control path to mux.
func (s *Sim) controlRoutes(mux *http.ServeMux) {
	handle := func(method, op string, do func(*http.Request) (LocalStatus, error)) {
		mux.Handle(method+" "+ControlPath+op, s.controlEndpoint(op, do))
	}
	handle(http.MethodGet, ControlStatus, func(*http.Request) (LocalStatus, error) { return s.Status(), nil })
	handle(http.MethodPost, ControlScaleOut, func(*http.Request) (LocalStatus, error) { return s.ScaleOut() })
	handle(http.MethodPost, ControlScaleIn, func(*http.Request) (LocalStatus, error) { return s.ScaleIn() })
	handle(http.MethodPost, ControlComplete, func(r *http.Request) (LocalStatus, error) {
		var b CompleteRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&b); err != nil {
			return LocalStatus{}, fmt.Errorf("the body is not a complete request: %w", err)
		}
		return s.Complete(b.Hook, strings.ToUpper(b.Result))
	})
}

// controlEndpoint answers one control operation: 403 to anyone but
// loopback, 200 with the status, 409 when the instance's state does not
// allow the operation, 400 for a request that makes no sense.
func (s *Sim) controlEndpoint(op string, do func(*http.Request) (LocalStatus, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			s.logf("control %s from %s -> 403 (loopback only)", op, r.RemoteAddr)
			writeControl(w, http.StatusForbidden, ControlAnswer{Error: "the simulator's control path answers only on loopback"})
			return
		}
		st, err := do(r)
		if st.InstanceID == "" { // refused before it looked
			st = s.Status()
		}
		code := http.StatusOK
		var refused *StateError
		switch {
		case errors.As(err, &refused):
			code = http.StatusConflict
		case err != nil:
			code = http.StatusBadRequest
		}
		ans := ControlAnswer{Status: st}
		if err != nil {
			ans.Error = err.Error()
		}
		if op != ControlStatus || code != http.StatusOK {
			s.logf("control %s -> %d %s", op, code, ans.Error)
		}
		writeControl(w, code, ans)
	})
}

// fromLoopback reports whether the request came from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeControl(w http.ResponseWriter, code int, ans ControlAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(ans) // a client that went away is not the simulator's problem
}
