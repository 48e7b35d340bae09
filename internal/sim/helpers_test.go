package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

// Test credentials: permanent AK/SK the simulators below accept.
const (
	testAK = "SIMTESTACCESSKEY0001"
	testSK = "sim-test-secret-key-0123456789abcdef"
)

// testStart is the fake clock's start: a whole second, so that the API's
// second-resolution timestamps equal the simulator's times.
var testStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testSim is a simulator on a loopback httptest server with a fake clock.
type testSim struct {
	*Sim
	srv   *httptest.Server
	clock *clockwork.FakeClock
}

// newTestSim starts a simulator with a fake clock and the test AK/SK; opts
// may adjust the options before New.
func newTestSim(t *testing.T, opts ...func(*Options)) *testSim {
	t.Helper()
	clock := clockwork.NewFakeClockAt(testStart)
	o := Options{Clock: clock, AccessKey: testAK, SecretKey: testSK, Log: zerolog.NewTestWriter(t)}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testSim{Sim: s, srv: srv, clock: clock}
}

// do sends a plain (unsigned) request and returns status, body and headers.
func (ts *testSim) do(t *testing.T, method, path string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// getToken fetches a metadata session token with the TTL.
func (ts *testSim) getToken(t *testing.T, ttl string) string {
	t.Helper()
	status, body, _ := ts.do(t, http.MethodPut, "/meta-data/latest/api/token", map[string]string{headerTokenTTL: ttl})
	if status != http.StatusOK {
		t.Fatalf("token PUT: %d %s", status, body)
	}
	return strings.TrimSpace(body)
}

// lockedWriter serializes writes and reads of a log buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
