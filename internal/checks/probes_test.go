package checks

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/config"
)

// runOnce runs one attempt of check c in a fresh phase and returns the
// verdict and the check's status.
func runOnce(t *testing.T, c config.Check, opts Options) (Verdict, CheckStatus) {
	t.Helper()
	if c.Name == "" {
		c.Name = "probe"
	}
	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{c}, opts)
	v := p.RunOnce(t.Context())
	return v, checkStatus(t, p, c.Name)
}

// probeCase is one row of the probe tables: a check and what one attempt of
// it must say.
type probeCase struct {
	name      string
	check     config.Check
	want      State // of the verdict: Passed, Failed (gave up) or Pending (not yet)
	wantError string
	wantOut   string
}

func runProbeCases(t *testing.T, cases []probeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, st := runOnce(t, tc.check, testOptions(t, clockwork.NewFakeClock()))
			if v.State != tc.want {
				t.Fatalf("verdict %+v (check %+v), want %s", v, st, tc.want)
			}
			if !strings.Contains(st.LastError, tc.wantError) {
				t.Errorf("last error %q, want it to contain %q", st.LastError, tc.wantError)
			}
			if !strings.Contains(st.LastOutput, tc.wantOut) {
				t.Errorf("last output %q, want it to contain %q", st.LastOutput, tc.wantOut)
			}
		})
	}
}

// An http check passes on an expected status (3xx included, redirects are
// not followed) and, when asked, a body substring; it sends the configured
// method and headers; TLS is verified unless told otherwise; a slow server
// hits the attempt's timeout; a malformed expect_status fails at once.
func TestHTTPCheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "all good\n") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/down", http.StatusFound) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/method", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.Host != "app.internal" || r.Header.Get("X-Probe") != "yes" {
			http.Error(w, "wrong request", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	closed := httptest.NewServer(mux)
	closedURL := closed.URL
	closed.Close()

	h := func(url string) config.Check { return config.Check{Type: config.TypeHTTP, URL: url} }
	with := func(c config.Check, f func(*config.Check)) config.Check { f(&c); return c }
	runProbeCases(t, []probeCase{
		{name: "200", check: h(srv.URL + "/ok"), want: Passed, wantOut: "HTTP/1.1 200 OK\nall good"},
		{name: "503", check: h(srv.URL + "/down"), want: Pending, wantError: "status 503, want 200-399", wantOut: "warming up"},
		{name: "redirect not followed", check: h(srv.URL + "/redirect"), want: Passed, wantOut: "302 Found"},
		{name: "redirect unexpected", check: with(h(srv.URL+"/redirect"), func(c *config.Check) { c.ExpectStatus = "200" }), want: Pending, wantError: "status 302, want 200"},
		{name: "204 in a list", check: with(h(srv.URL+"/empty"), func(c *config.Check) { c.ExpectStatus = "200,204" }), want: Passed},
		{name: "body contains", check: with(h(srv.URL+"/ok"), func(c *config.Check) { c.BodyContains = "good" }), want: Passed},
		{name: "body lacks", check: with(h(srv.URL+"/ok"), func(c *config.Check) { c.BodyContains = "ready" }), want: Pending, wantError: `does not contain "ready"`},
		{name: "method and headers", check: with(h(srv.URL+"/method"), func(c *config.Check) {
			c.Method = http.MethodHead
			c.Headers = map[string]string{"Host": "app.internal", "X-Probe": "yes"}
		}), want: Passed},
		{name: "connection refused", check: h(closedURL + "/ok"), want: Pending, wantError: "connection refused"},
		{name: "timeout", check: with(h(srv.URL+"/slow"), func(c *config.Check) { c.Timeout = config.Duration(100 * time.Millisecond) }), want: Pending, wantError: "deadline exceeded"},
		{name: "tls unknown authority", check: h(tlsSrv.URL + "/ok"), want: Pending, wantError: "certificate"},
		{name: "tls ca_file", check: with(h(tlsSrv.URL+"/ok"), func(c *config.Check) { c.TLS.CAFile = caFile }), want: Passed},
		{name: "tls server_name", check: with(h(tlsSrv.URL+"/ok"), func(c *config.Check) { c.TLS = config.TLS{CAFile: caFile, ServerName: "example.com"} }), want: Passed},
		{name: "tls wrong server_name", check: with(h(tlsSrv.URL+"/ok"), func(c *config.Check) { c.TLS = config.TLS{CAFile: caFile, ServerName: "wrong.test"} }), want: Pending, wantError: "wrong.test"},
		{name: "tls insecure_skip_verify", check: with(h(tlsSrv.URL+"/ok"), func(c *config.Check) { c.TLS.InsecureSkipVerify = true }), want: Passed},
		{name: "tls missing ca_file", check: with(h(tlsSrv.URL+"/ok"), func(c *config.Check) { c.TLS.CAFile = caFile + ".missing" }), want: Pending, wantError: "tls.ca_file"},
		{name: "bad expect_status", check: with(h(srv.URL+"/ok"), func(c *config.Check) { c.ExpectStatus = "ok" }), want: Failed, wantError: "expect_status"},
	})
}

// A tcp check passes when a connection opens and waits while it is refused.
func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()
	runProbeCases(t, []probeCase{
		{name: "open", check: config.Check{Type: config.TypeTCP, Address: ln.Addr().String()}, want: Passed, wantOut: "connected to " + ln.Addr().String()},
		{name: "refused", check: config.Check{Type: config.TypeTCP, Address: goneAddr}, want: Pending, wantError: "refused"},
	})
}

// A file check passes when its path exists, or with absent when it does not
// (an application that touches /run/app/drained); symlinks are followed.
func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	there := filepath.Join(dir, "drained")
	if err := os.WriteFile(there, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	f := func(path string, absent bool) config.Check {
		return config.Check{Type: config.TypeFile, Path: path, Absent: absent}
	}
	runProbeCases(t, []probeCase{
		{name: "exists", check: f(there, false), want: Passed, wantOut: "exists"},
		{name: "missing", check: f(missing, false), want: Pending, wantError: "does not exist yet"},
		{name: "absent", check: f(missing, true), want: Passed, wantOut: "absent"},
		{name: "not absent yet", check: f(there, true), want: Pending, wantError: "waiting for it to go"},
		{name: "dangling symlink counts as absent", check: f(dangling, true), want: Passed},
	})
}

// The cloud-init check follows cloud-init's own state files, as the package
// doc states: done passes, errors fail at once, running and not-started
// wait, disabled and not installed pass.
func TestCloudInitCheck(t *testing.T) {
	ci := func(root string) config.Check { return config.Check{Type: config.TypeCloudInit, Root: root} }
	fixture := func(name string) string { return filepath.Join("testdata", "cloud-init", name) }
	runProbeCases(t, []probeCase{
		{name: "done", check: ci(fixture("done")), want: Passed, wantOut: "cloud-init done (DataSourceOpenStackLocal [net,ver=2])"},
		{name: "errors", check: ci(fixture("errors")), want: Failed, wantError: "cloud-init finished with 1 error(s): ('scripts_user'", wantOut: "Runparts: 1 failures"},
		{name: "degraded", check: ci(fixture("degraded")), want: Passed, wantOut: "WARNING: Failed at merging"},
		{name: "running", check: ci(fixture("running")), want: Pending, wantError: "cloud-init is running (stage modules-config)"},
		{name: "installed, not started", check: ci(fixture("not-started")), want: Pending, wantError: "has not started"},
		{name: "disabled", check: ci(fixture("disabled")), want: Passed, wantOut: "disabled"},
		{name: "not installed", check: ci(t.TempDir()), want: Passed, wantOut: "not installed"},
		{name: "malformed result", check: ci(fixture("malformed")), want: Pending, wantError: "result.json"},
	})
}

// A signal check passes once the application raised its signal, also when
// it did so before the phase began, and wakes at once when it is raised
// during the phase rather than at its next interval.
func TestSignalCheck(t *testing.T) {
	clock := clockwork.NewFakeClock()
	board := NewSignalBoard(clock)
	opts := testOptions(t, clock)
	opts.Signals = board
	ready := config.Check{Name: "app", Type: config.TypeSignal, Signal: "ready", Interval: config.Duration(time.Hour)}

	p := NewPhase("launch", fastPhase(config.Parallel), []config.Check{ready}, opts)
	done := make(chan Verdict, 1)
	go func() { done <- p.Run(t.Context()) }()
	// The check has made its first attempt and sleeps; so does the budget.
	if err := clock.BlockUntilContext(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	if st := checkStatus(t, p, "app"); st.State != Pending || !strings.Contains(st.LastError, "asagent signal ready") {
		t.Fatalf("before the signal: %+v", st)
	}
	if err := board.Raise("ready"); err != nil {
		t.Fatal(err)
	}
	if v := <-done; v.State != Passed {
		t.Fatalf("verdict %+v", v)
	}
	if st := checkStatus(t, p, "app"); st.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (one before, one right after the signal)", st.Attempts)
	}

	// Raised before the next run: it passes at once.
	if v := p.RunOnce(t.Context()); v.State != Passed {
		t.Errorf("a signal raised earlier: %+v", v)
	}
	board.Lower("ready")
	if v := p.RunOnce(t.Context()); v.State != Pending {
		t.Errorf("a lowered signal: %+v", v)
	}
}

// Signal names come from any local user through the control socket: only
// short plain names are raised.
func TestSignalBoardNames(t *testing.T) {
	board := NewSignalBoard(nil)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ready", true}, {"drained", true}, {"app-1.ready_2", true},
		{"", false}, {"a b", false}, {"../x", false}, {strings.Repeat("x", 65), false}, {"naïve", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := board.Raise(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("Raise(%q) = %v, want ok %v", tc.name, err, tc.ok)
			}
			if _, raised := board.Raised(tc.name); raised != tc.ok {
				t.Errorf("Raised(%q) = %v", tc.name, raised)
			}
		})
	}
}

// A signal check without a board (a dry run) waits and says why.
func TestSignalWithoutBoard(t *testing.T) {
	v, st := runOnce(t, config.Check{Type: config.TypeSignal, Signal: "ready"}, testOptions(t, clockwork.NewFakeClock()))
	if v.State != Pending || !strings.Contains(st.LastError, "no signal board") {
		t.Errorf("verdict %+v, status %+v", v, st)
	}
}

// A check that the loader should have rejected fails the phase at once with
// the reason, rather than wait until max_wait.
func TestBrokenChecks(t *testing.T) {
	runProbeCases(t, []probeCase{
		{name: "unknown type", check: config.Check{Type: "ping"}, want: Failed, wantError: `unknown check type "ping"`},
		{name: "exec without command", check: config.Check{Type: config.TypeExec}, want: Failed, wantError: "neither command nor shell"},
		{name: "http without url", check: config.Check{Type: config.TypeHTTP}, want: Failed, wantError: "no url"},
		{name: "bad signal", check: config.Check{Type: config.TypeSignal, Signal: "a b"}, want: Failed, wantError: "bad signal name"},
	})
}
