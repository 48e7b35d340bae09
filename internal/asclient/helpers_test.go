package asclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/syncbuf"
	"github.com/asagent/asagent/internal/testutil"
)

// Permanent credentials the test simulators accept.
const (
	testAK = "ASCLIENTTESTAK000001"
	testSK = "asclient-test-secret-key-0123456789"
)

// testStart is the fake clock's start, a whole second so that AS's
// second-resolution timestamps equal the simulator's times.
var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testPolicy is the backoff the tests use: short enough to drive quickly.
var testPolicy = backoff.Policy{Initial: time.Second, Max: 8 * time.Second, Multiplier: 2, Jitter: 0.5}

// env is a simulator on a loopback httptest server, a metadata client and an
// AS client pointed at it, all on one fake clock.
type env struct {
	sim   *sim.Sim
	srv   *httptest.Server
	clock *clockwork.FakeClock
	md    *metadata.Client
	creds *recordingCredentials
	wire  *recordingTransport
	c     *Client
	logs  *syncbuf.Buffer
}

type envConfig struct {
	scenario  *sim.Scenario
	temporary bool // agency credentials from securitykey instead of the permanent AK/SK
	opts      func(*Options)
	simOpts   func(*sim.Options)
	// wrap, if set, wraps the simulator's handler (to inject what the
	// simulator does not offer).
	wrap func(http.Handler) http.Handler
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	clk := clockwork.NewFakeClockAt(testStart)
	so := sim.Options{Clock: clk, AccessKey: testAK, SecretKey: testSK, Scenario: cfg.scenario, Log: zerolog.NewTestWriter(t)}
	if cfg.simOpts != nil {
		cfg.simOpts(&so)
	}
	s, err := sim.New(so)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	h := s.Handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	logs := &syncbuf.Buffer{}
	log := zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.DebugLevel)
	md, err := metadata.New(metadata.Options{Endpoint: srv.URL, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var inner Credentials
	if cfg.temporary {
		inner = md.AgencyCredentials(0)
	} else {
		st, err := metadata.NewStatic(metadata.Credentials{AccessKey: testAK, SecretKey: testSK, Source: metadata.SourceConfig})
		if err != nil {
			t.Fatal(err)
		}
		inner = st
	}
	e := &env{sim: s, srv: srv, clock: clk, md: md, logs: logs,
		creds: &recordingCredentials{inner: inner},
		wire:  &recordingTransport{base: &http.Transport{}},
	}
	o := Options{
		Endpoint:    srv.URL,
		ProjectID:   s.ProjectID(),
		Credentials: e.creds,
		Backoff:     testPolicy,
		Clock:       clk,
		Logger:      log,
		Transport:   e.wire,
	}
	if cfg.opts != nil {
		cfg.opts(&o)
	}
	e.c, err = New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// asRequests returns the simulator's record of AS API requests.
func (e *env) asRequests() []sim.Request {
	var out []sim.Request
	for _, r := range e.sim.Requests() {
		if strings.HasPrefix(string(r.Route), "as.") {
			out = append(out, r)
		}
	}
	return out
}

// recordingCredentials wraps a credential source and records what it handed
// out and what was invalidated. With stale set, it hands out stale until
// they are invalidated, like credentials revoked behind the agent's back.
type recordingCredentials struct {
	inner Credentials

	mu          sync.Mutex
	stale       *metadata.Credentials
	handed      []metadata.Credentials
	invalidated []metadata.Credentials
}

func (r *recordingCredentials) Credentials(ctx context.Context) (metadata.Credentials, error) {
	r.mu.Lock()
	if r.stale != nil {
		cr := *r.stale
		r.handed = append(r.handed, cr)
		r.mu.Unlock()
		return cr, nil
	}
	r.mu.Unlock()
	cr, err := r.inner.Credentials(ctx)
	if err == nil {
		r.mu.Lock()
		r.handed = append(r.handed, cr)
		r.mu.Unlock()
	}
	return cr, err
}

func (r *recordingCredentials) Invalidate(used metadata.Credentials) {
	r.mu.Lock()
	r.invalidated = append(r.invalidated, used)
	if r.stale != nil && r.stale.AccessKey == used.AccessKey {
		r.stale = nil
	}
	r.mu.Unlock()
	r.inner.Invalidate(used)
}

func (r *recordingCredentials) secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.handed {
		out = append(out, c.SecretKey.Reveal())
		if c.SecurityToken != "" {
			out = append(out, c.SecurityToken.Reveal())
		}
	}
	return out
}

// recordingTransport records the access key of every signed request.
type recordingTransport struct {
	base  http.RoundTripper
	mu    sync.Mutex
	aks   []string
	hosts map[string]int
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	if rt.hosts == nil {
		rt.hosts = map[string]int{}
	}
	rt.hosts[r.URL.Host]++
	rt.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if _, rest, ok := strings.Cut(auth, "Access="); ok {
		ak, _, _ := strings.Cut(rest, ",")
		rt.mu.Lock()
		rt.aks = append(rt.aks, ak)
		rt.mu.Unlock()
	}
	return rt.base.RoundTrip(r)
}

// onlyHost fails the test unless every request went to host.
func (rt *recordingTransport) onlyHost(t *testing.T, host string) {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for h, n := range rt.hosts {
		if h != host {
			t.Errorf("%d requests went to %s, not the configured endpoint %s", n, h, host)
		}
	}
}

func (rt *recordingTransport) accessKeys() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.aks...)
}

// clockStep is how far runDriven advances the fake clock at a time: the
// resolution of the recorded retry gaps.
const clockStep = 100 * time.Millisecond

// runDriven runs f in a goroutine while driving the clock, and returns when f does.
func runDriven(t *testing.T, clk *clockwork.FakeClock, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	testutil.DriveClock(t, clk, clockStep, done)
}
