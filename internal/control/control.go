// Package control is the agent's local control socket: `asagent status`,
// `asagent signal` and `asagent complete` talk to the running agent through
// it. It is HTTP over a unix socket (mode 0600), and on Linux it refuses
// peers other than root and the agent's own user (SO_PEERCRED), because a
// signal or an override decides what happens to the instance.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/trust"
)

// Status is what `asagent status` shows: the agent's view of the instance,
// the phase in progress and its hooks and checks.
type Status struct {
	InstanceID string    `json:"instance_id"`
	GroupID    string    `json:"scaling_group_id"`
	GroupFrom  string    `json:"scaling_group_source,omitempty"` // how the group was found
	State      string    `json:"state"`                          // a State* constant or a phase name
	Summary    string    `json:"summary"`                        // one line, also systemd's STATUS=
	Updated    time.Time `json:"updated"`
	// ASClockOffset is how far AS's clock is ahead of this instance's, as
	// estimated from AS's answers (a Go duration); empty until known.
	ASClockOffset string `json:"as_clock_offset,omitempty"`
	// Pace is how often the agent polls while idle, and why; PaceWarning
	// names the terminate hooks too short for that pace, if any.
	Pace        string          `json:"pace,omitempty"`
	PaceWarning string          `json:"pace_warning,omitempty"`
	Phase       *PhaseProgress  `json:"phase,omitempty"`
	History     []PhaseProgress `json:"history,omitempty"` // finished phases, oldest first
}

// The agent-level states of Status.State; while a phase runs, State is the
// phase's name (launch or terminate).
const (
	StateStarting = "starting" // finding out who and where the instance is
	StateIdle     = "idle"     // no hook holds the instance
	StateDone     = "done"     // terminate answered: the instance is leaving
)

// PhaseProgress is one lifecycle phase's progress: its hooks, its checks and, once decided, its result.
type PhaseProgress struct {
	Name     string    `json:"name"` // launch or terminate
	Started  time.Time `json:"started"`
	Budget   time.Time `json:"budget_ends"` // when max_wait is spent
	Result   string    `json:"result,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
	Hooks    []Hook    `json:"hooks"`
	Checks   []Check   `json:"checks"`
}

// Hook is one lifecycle hook holding the instance.
type Hook struct {
	Name    string    `json:"name"`
	Timeout time.Time `json:"timeout"`
	Extends int       `json:"extends"`
	Sent    string    `json:"sent,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
}

// Check is one check of the phase.
type Check struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	State    string `json:"state"` // pending, passed, failed, refused
	Attempts int    `json:"attempts"`
	// Duration is how long the last attempt took; JSON carries it as a Go
	// duration string ("1.694s"), as every duration the agent prints.
	Duration   Duration `json:"last_duration"`
	LastOutput string   `json:"last_output,omitempty"`
	LastError  string   `json:"last_error,omitempty"`
}

// The signals an application or operator can send.
const (
	SignalReady   = "ready"   // passes `signal: ready` checks
	SignalDrained = "drained" // passes `signal: drained` checks
	SignalFail    = "fail"    // gives the phase up: on_failure is sent
	SignalExtend  = "extend"  // sends EXTEND now
)

// Handler is what the agent offers through the socket. ctx ends when the
// caller goes away; a handler must not block past it.
type Handler interface {
	Status() Status
	Signal(ctx context.Context, name string) error
	// Complete answers the current phase's hooks with result now (all of
	// them, or only hook when it is not empty): an operator's override.
	Complete(ctx context.Context, result, hook string) error
}

// UserError is an error the handler wants shown to the caller as a refusal
// (HTTP 409) rather than a failure of the agent.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

type signalRequest struct {
	Signal string `json:"signal"`
}

type completeRequest struct {
	Result string `json:"result"`
	Hook   string `json:"hook,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

// Serve listens on the unix socket at path until ctx ends. A stale socket
// left by a crashed agent is removed first; the socket is created 0600.
func Serve(ctx context.Context, path string, h Handler, log zerolog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// A directory others may write to would let them replace the socket
	// with their own, or remove it.
	if err := trust.Agent(false).Dir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := listen(path)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: newMux(h, log),
		// Bounds, so no peer (a refused one least of all) holds a
		// connection for long.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ConnContext:       withPeer,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		os.Remove(path)
		return nil
	}
}

func listen(path string) (net.Listener, error) {
	// There must be no window in which others can connect (listenPrivate).
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

func newMux(h Handler, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.Status())
	})
	mux.HandleFunc("POST /v1/signal", func(w http.ResponseWriter, r *http.Request) {
		var req signalRequest
		if !readJSON(w, r, &req) {
			return
		}
		log.Info().Str("signal", req.Signal).Msg("signal received on the control socket")
		reply(w, h.Signal(r.Context(), req.Signal))
	})
	mux.HandleFunc("POST /v1/complete", func(w http.ResponseWriter, r *http.Request) {
		var req completeRequest
		if !readJSON(w, r, &req) {
			return
		}
		log.Warn().Str("result", req.Result).Str("hook", req.Hook).Msg("operator override on the control socket")
		reply(w, h.Complete(r.Context(), req.Result, req.Hook))
	})
	return requirePeer(mux, log)
}

func reply(w http.ResponseWriter, err error) {
	var ue *UserError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &ue):
		writeJSON(w, http.StatusConflict, errorBody{ue.Msg})
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"bad request: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
