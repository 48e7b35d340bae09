package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// maxBody caps request bodies: the API's bodies are a few hundred bytes.
const maxBody = 1 << 20

// call is one request on its way through the pipeline: what was asked, what
// the record will say, and where the answer goes.
type call struct {
	sim   *Sim
	route Route
	w     http.ResponseWriter
	r     *http.Request
	body  []byte // AS requests only: read once, for the signature and decoding
	rec   Request
	// caller is who signed an authenticated AS request; empty before.
	caller Caller
	// recorded is set once the request is in the record. It is recorded
	// just before the answer goes out, so that a client which has its
	// answer finds its request in Requests().
	recorded bool
	// buffering is set while a malformed-body fault collects the real
	// answer, which is not the one recorded.
	buffering bool
}

// endpoint wraps a route's handler in the pipeline every request passes:
// lazy hook timeouts, faults, the metadata gate or the AS gateway
// (throttle, authentication, project), then the handler, then the record.
func (s *Sim) endpoint(route Route, h func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{sim: s, route: route, w: w, r: r}
		c.rec = Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Route: route, GroupID: r.PathValue("group"), Hook: r.PathValue("hook")}
		defer s.record(c) // for requests that got no answer
		s.Sweep()
		if !s.injectFaults(c, h) {
			return
		}
		s.serve(c, h)
	})
}

// serve runs the gates and the handler.
func (s *Sim) serve(c *call, h func(*call)) {
	switch {
	case c.route.isAS():
		if !s.gateway(c) {
			return
		}
	case c.route != RouteUnknown:
		if !s.metadataGate(c) {
			return
		}
	}
	h(c)
}

// readBody reads the request body once, capped at maxBody.
func (c *call) readBody() error {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody))
	c.body = b
	return err
}

// json answers v as JSON with the status.
func (c *call) json(status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		c.asError(http.StatusInternalServerError, codeSystemError, "System error.")
		return
	}
	c.w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	c.write(status, buf.Bytes())
}

// text answers a plain-text body, as the metadata service does.
func (c *call) text(status int, body string) {
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.write(status, []byte(body))
}

// noContent answers 204, the AS API's answer to callbacks and actions.
func (c *call) noContent() { c.write(http.StatusNoContent, nil) }

// asErrorBody is the AS API's error body.
type asErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// asError answers the AS API's error body: {"error":{"code":..,"message":..}}.
func (c *call) asError(status int, code, msg string) {
	var body asErrorBody
	body.Error.Code, body.Error.Message = code, msg
	c.rec.ErrorCode = code
	c.json(status, body)
}

// gatewayError answers the API gateway's error body:
// {"error_code":..,"error_msg":..}.
func (c *call) gatewayError(status int, code, msg string) {
	c.rec.ErrorCode = code
	c.json(status, map[string]string{"error_code": code, "error_msg": msg})
}

func (c *call) write(status int, body []byte) {
	c.rec.Status = status
	if !c.buffering && c.sim != nil {
		c.sim.record(c)
	}
	if body != nil {
		c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	c.w.Header().Set("X-Request-Id", newUUID())
	if c.sim != nil {
		c.w.Header().Set("Date", c.sim.dateHeader())
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body) // a client that went away is not the simulator's problem
}
