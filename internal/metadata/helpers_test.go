package metadata

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/syncbuf"
)

// testStart is the fake clock's start, a whole second so that the
// simulator's second-resolution times equal ours.
var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a simulator on a loopback httptest server and a Client pointed at
// it, sharing one fake clock.
type env struct {
	sim   *sim.Sim
	srv   *httptest.Server
	clock *clockwork.FakeClock
	c     *Client
	logs  *syncbuf.Buffer // everything the client logged
}

func newEnv(t *testing.T, simOpts func(*sim.Options), opts func(*Options)) *env {
	t.Helper()
	clk := clockwork.NewFakeClockAt(testStart)
	so := sim.Options{Clock: clk, Log: zerolog.NewTestWriter(t)}
	if simOpts != nil {
		simOpts(&so)
	}
	s, err := sim.New(so)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	logs := &syncbuf.Buffer{}
	o := Options{
		Endpoint: srv.URL,
		Clock:    clk,
		Backoff:  backoff.Policy{Initial: time.Second, Max: 8 * time.Second, Multiplier: 2, Jitter: 0.5},
		Logger:   zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.DebugLevel),
	}
	if opts != nil {
		opts(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{sim: s, srv: srv, clock: clk, c: c, logs: logs}
}

// statuses returns the answered statuses of the requests on route.
func (e *env) statuses(route sim.Route) []int {
	var out []int
	for _, r := range e.sim.RequestsTo(route) {
		out = append(out, r.Status)
	}
	return out
}
