package metadata

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// The instance's identity comes out of meta_data.json whether the service
// requires session tokens, offers them, or predates them, and a token is
// sent exactly when the service issues one.
func TestIdentityTokenModes(t *testing.T) {
	cases := []struct {
		name       string
		mode       sim.TokenMode
		wantPut    []int // statuses of the token PUTs
		wantTokens bool
	}{
		{"required", sim.TokensRequired, []int{http.StatusOK}, true},
		{"optional", sim.TokensOptional, []int{http.StatusOK}, true},
		{"unsupported", sim.TokensUnsupported, []int{http.StatusNotFound}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.sim.SetTokenMode(tc.mode)
			for range 3 {
				id, err := e.c.Identity(context.Background())
				if err != nil {
					t.Fatalf("Identity: %v", err)
				}
				want := Identity{InstanceID: sim.DefaultInstanceID, ProjectID: sim.DefaultProjectID, Region: sim.DefaultRegion, AvailabilityZone: sim.DefaultZone}
				if id != want {
					t.Fatalf("Identity = %+v, want %+v", id, want)
				}
			}
			if got := e.statuses(sim.RouteToken); !slices.Equal(got, tc.wantPut) {
				t.Errorf("token PUT statuses = %v, want %v (one PUT, then the answer is cached)", got, tc.wantPut)
			}
			if got := e.statuses(sim.RouteMetaData); !slices.Equal(got, []int{200, 200, 200}) {
				t.Errorf("meta_data statuses = %v, want three 200s", got)
			}
			e.c.mu.Lock()
			hasToken := e.c.token != ""
			e.c.mu.Unlock()
			if hasToken != tc.wantTokens {
				t.Errorf("client holds a token = %v, want %v", hasToken, tc.wantTokens)
			}
		})
	}
}

// The session token is renewed before its TTL runs out, so a request never
// carries an expired token (which a token-requiring service would refuse).
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.TokenTTL = 100 * time.Second })
	e.sim.SetTokenMode(sim.TokensRequired)
	ctx := context.Background()
	for range 10 {
		if _, err := e.c.IdentityOnce(ctx); err != nil {
			t.Fatalf("IdentityOnce: %v", err)
		}
		e.clock.Advance(30 * time.Second)
	}
	for _, r := range e.sim.RequestsTo(sim.RouteMetaData) {
		if r.Status != http.StatusOK {
			t.Fatalf("a metadata GET was answered %d: the token was allowed to expire", r.Status)
		}
	}
	// 300 s of requests with a 100 s TTL renewed at 80 s: at least 3 PUTs.
	if n := len(e.sim.RequestsTo(sim.RouteToken)); n < 3 {
		t.Errorf("%d token PUTs over three TTLs, want at least 3", n)
	}
}

// When the service starts requiring tokens after it said it had none, the
// 401 makes the client fetch a token and retry, and the caller sees success.
func TestTokenFetchedAfter401(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.sim.SetTokenMode(sim.TokensUnsupported)
	ctx := context.Background()
	if _, err := e.c.IdentityOnce(ctx); err != nil {
		t.Fatalf("IdentityOnce: %v", err)
	}
	e.sim.SetTokenMode(sim.TokensRequired)
	if _, err := e.c.IdentityOnce(ctx); err != nil {
		t.Fatalf("IdentityOnce after tokens became required: %v", err)
	}
	if got, want := e.statuses(sim.RouteMetaData), []int{200, 401, 200}; !slices.Equal(got, want) {
		t.Errorf("meta_data statuses = %v, want %v", got, want)
	}
	if got, want := e.statuses(sim.RouteToken), []int{404, 200}; !slices.Equal(got, want) {
		t.Errorf("token statuses = %v, want %v", got, want)
	}
}

// At boot the metadata service may be down: Identity keeps retrying with
// backoff until it answers, logging the outage once and the recovery once,
// not every attempt. (A failing token PUT is no outage: see
// TestTokenPutFailureFallsBack.)
func TestIdentityWaitsForService(t *testing.T) {
	for _, route := range []sim.Route{sim.RouteMetaData} {
		t.Run(string(route), func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.sim.SetFault(route, sim.Fault{FirstN: 5, Status: http.StatusInternalServerError})
			done := make(chan struct{})
			var id Identity
			var err error
			go func() {
				defer close(done)
				id, err = e.c.Identity(context.Background())
			}()
			testutil.DriveClock(t, e.clock, 8*time.Second, done)
			if err != nil {
				t.Fatalf("Identity: %v", err)
			}
			if id.InstanceID != sim.DefaultInstanceID {
				t.Fatalf("InstanceID = %q", id.InstanceID)
			}
			logs := e.logs.String()
			if n := strings.Count(logs, "not answering"); n != 1 {
				t.Errorf("outage logged %d times, want once:\n%s", n, logs)
			}
			if n := strings.Count(logs, "answers again"); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, logs)
			}
		})
	}
}

// Retrying stops when the context ends, and the error says why the service
// failed, not only that time ran out.
func TestIdentityGivesUpWithContext(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.sim.SetFault(sim.RouteMetaData, sim.Fault{FirstN: 1000, Status: http.StatusServiceUnavailable})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.c.Identity(ctx); done <- err }()
	// Let it fail twice, then cancel while it sleeps.
	for range 2 {
		if err := e.clock.BlockUntilContext(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(8 * time.Second)
	}
	if err := e.clock.BlockUntilContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("Identity = %v, want context.Canceled naming the HTTP 503", err)
	}
}

// New refuses endpoints that are not a bare http(s) base URL, so a typo
// cannot send the token somewhere unexpected.
func TestNewValidatesEndpoint(t *testing.T) {
	cases := []struct {
		endpoint string
		ok       bool
	}{
		{"", true},
		{"http://169.254.169.254", true},
		{"http://127.0.0.1:8080/", true},
		{"169.254.169.254", false},
		{"ftp://169.254.169.254", false},
		{"http://169.254.169.254/openstack", false},
		{"http://user:pw@169.254.169.254", false},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint, func(t *testing.T) {
			c, err := New(Options{Endpoint: tc.endpoint})
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q) error = %v, want ok=%v", tc.endpoint, err, tc.ok)
			}
			if err == nil && tc.endpoint == "" && c.Endpoint() != DefaultEndpoint {
				t.Errorf("default endpoint = %q", c.Endpoint())
			}
		})
	}
}

// The region is derived from the zone only when meta_data.json lacks it,
// and only when the zone has the usual "<region><letter>" shape.
func TestRegionFromAZ(t *testing.T) {
	cases := map[string]string{
		"cn-north-4a":     "cn-north-4",
		"ap-southeast-1b": "ap-southeast-1",
		"":                "",
		"zone":            "",
		"cn-north-4":      "",
	}
	for az, want := range cases {
		t.Run(az, func(t *testing.T) {
			if got := regionFromAZ(az); got != want {
				t.Errorf("regionFromAZ(%q) = %q, want %q", az, got, want)
			}
		})
	}
}

// Whatever the token PUT answers when it fails (where the token API does
// not exist its answers are unknown: 400, 403, 404, 405, 500, 501, 503, a
// reset), the client goes on without a token at once, asks again only
// after tokenRecheck, and a 401 on a GET is what makes it ask sooner.
func TestTokenPutFailureFallsBack(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*sim.Sim)
	}{
		{"400", func(s *sim.Sim) { _ = s.SetUnknowns(sim.Unknowns{TokenPutStatus: 400}) }},
		{"403", func(s *sim.Sim) { _ = s.SetUnknowns(sim.Unknowns{TokenPutStatus: 403}) }},
		{"404", func(s *sim.Sim) { s.SetTokenMode(sim.TokensUnsupported) }},
		{"405", func(s *sim.Sim) { _ = s.SetUnknowns(sim.Unknowns{TokenPutStatus: 405}) }},
		{"500", func(s *sim.Sim) { s.SetFault(sim.RouteToken, sim.Fault{ErrorRate: 1}) }},
		{"501", func(s *sim.Sim) { _ = s.SetUnknowns(sim.Unknowns{TokenPutStatus: 501}) }},
		{"reset", func(s *sim.Sim) { s.SetFault(sim.RouteToken, sim.Fault{DropRate: 1}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			tc.setup(e.sim)
			for range 3 {
				if _, err := e.c.IdentityOnce(context.Background()); err != nil {
					t.Fatalf("IdentityOnce with the token PUT failing: %v", err)
				}
			}
			if n := len(e.sim.RequestsTo(sim.RouteToken)); n != 1 {
				t.Errorf("%d token PUTs, want 1: the failure is believed for a while", n)
			}
			e.clock.Advance(tokenRecheck)
			if _, err := e.c.IdentityOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.sim.RequestsTo(sim.RouteToken)); n != 2 {
				t.Errorf("%d token PUTs after %v, want 2: asked again", n, tokenRecheck)
			}
		})
	}
	t.Run("tokens required but the PUT fails", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		e.sim.SetTokenMode(sim.TokensRequired)
		e.sim.SetFault(sim.RouteToken, sim.Fault{ErrorRate: 1, Status: http.StatusForbidden})
		_, err := e.c.IdentityOnce(context.Background())
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || errors.Is(err, ErrNoAgency) {
			t.Fatalf("IdentityOnce = %v, want the GET's 401", err)
		}
		if n := len(e.sim.RequestsTo(sim.RouteToken)); n != 2 {
			t.Errorf("%d token PUTs, want 2: the 401 asked again at once", n)
		}
	})
}

// Values of meta_data.json that go into AS request paths or host names are
// checked: an instance ID, project or region out of pattern is refused
// with the value escaped; a bad zone is only dropped.
func TestIdentityValidated(t *testing.T) {
	cases := []struct {
		name, body, wantErr string
	}{
		{"good", `{"uuid":"i-1","project_id":"p1","region_id":"cn-north-4","availability_zone":"cn-north-4a"}`, ""},
		{"bad zone dropped", `{"uuid":"i-1","project_id":"p1","availability_zone":"../x"}`, ""},
		{"uuid with a slash", `{"uuid":"../../v3/x","project_id":"p1"}`, "uuid"},
		{"uuid with a NUL", `{"uuid":"i-1\u0000x","project_id":"p1"}`, "uuid"},
		{"project too long", `{"uuid":"i-1","project_id":"` + strings.Repeat("p", 65) + `"}`, "project_id"},
		{"region as a host", `{"uuid":"i-1","project_id":"p1","region_id":"evil.example/x"}`, "region_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := New(Options{Endpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.IdentityOnce(context.Background())
			if tc.wantErr == "" {
				if err != nil || id.AvailabilityZone == "../x" {
					t.Fatalf("IdentityOnce = %+v, %v", id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr+" ") || strings.ContainsRune(err.Error(), 0) {
				t.Fatalf("IdentityOnce = %+v, %v; want %s refused, escaped", id, err, tc.wantErr)
			}
		})
	}
}

// "Please configure Cloud Service Agency first" means no agency whatever
// status carries it: 401 as documented, or another one.
func TestNoAgencyByText(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error": "Please configure Cloud Service Agency first"}`))
		}))
		c, err := New(Options{Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SecurityKey(context.Background()); !errors.Is(err, ErrNoAgency) {
			t.Errorf("status %d: SecurityKey = %v, want ErrNoAgency", status, err)
		}
		srv.Close()
	}
}

// The metadata service is never reached through a proxy, whatever the
// environment says: its answers hold the agency's credentials, and a proxy
// would see them. (The AS client honours HTTPS_PROXY; this one must not.)
func TestNeverProxied(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	c, err := New(Options{Endpoint: DefaultEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Fatalf("the metadata transport has a proxy function (%T)", c.http.Transport)
	}
}
