package asclient

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
)

// proxyEndpoint is the AS endpoint of the proxy tests: a name that only
// the proxy resolves (to the simulator), so no request can reach it but
// through the proxy, and the client never looks it up.
const proxyEndpoint = "https://as.proxytest.example"

// AS calls go through the proxy the environment names (HTTPS_PROXY, or
// https_proxy), or through cloud.proxy, which wins over the environment;
// NO_PROXY and cloud.proxy: none turn it off. The proxy in use is
// described without its password.
func TestProxy(t *testing.T) {
	s, err := sim.New(sim.Options{AccessKey: testAK, SecretKey: testSK, Log: zerolog.NewTestWriter(t)})
	if err != nil {
		t.Fatal(err)
	}
	as := httptest.NewTLSServer(s.Handler())
	t.Cleanup(as.Close)
	proxy := sim.NewConnectProxy(as.Listener.Addr().String())
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	bad := "http://127.0.0.1:1" // nothing listens: a request through it fails
	cases := []struct {
		name     string
		env      map[string]string
		setting  string
		wantDesc string
		call     bool // make a call: it must go through the proxy
	}{
		{"HTTPS_PROXY", map[string]string{"HTTPS_PROXY": ps.URL, "HTTP_PROXY": bad}, "", ps.URL + " (HTTPS_PROXY)", true},
		{"https_proxy", map[string]string{"https_proxy": ps.URL}, "", ps.URL + " (https_proxy)", true},
		{"cloud.proxy wins", map[string]string{"HTTPS_PROXY": bad}, strings.Replace(ps.URL, "//", "//agent:s3cret@", 1),
			strings.Replace(ps.URL, "//", "//agent:xxxxx@", 1) + " (cloud.proxy)", true},
		{"NO_PROXY", map[string]string{"HTTPS_PROXY": ps.URL, "NO_PROXY": ".proxytest.example"}, "", "none (NO_PROXY", false},
		{"cloud.proxy none", map[string]string{"HTTPS_PROXY": ps.URL}, ProxyNone, "none (cloud.proxy: none)", false},
		{"no proxy at all", nil, "", "none", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := metadata.NewStatic(metadata.Credentials{AccessKey: testAK, SecretKey: testSK})
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{
				Endpoint: proxyEndpoint, ProjectID: s.ProjectID(), Credentials: st,
				Proxy: tc.setting, Getenv: func(k string) string { return tc.env[k] },
				InsecureSkipVerify: true, // the simulator's test certificate is not for as.proxytest.example
				Logger:             zerolog.New(zerolog.NewTestWriter(t)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Proxy(); !strings.HasPrefix(got, tc.wantDesc) || strings.Contains(got, "s3cret") {
				t.Errorf("Proxy() = %q, want %q...", got, tc.wantDesc)
			}
			if !tc.call {
				return
			}
			before := len(proxy.Hosts())
			if _, err := c.HeldHooks(context.Background(), sim.DefaultGroupID, sim.DefaultInstanceID); err != nil {
				t.Fatalf("HeldHooks through the proxy: %v", err)
			}
			if asked := proxy.Hosts()[before:]; len(asked) == 0 || asked[0] != "as.proxytest.example:443" {
				t.Errorf("the proxy was asked for %q, want as.proxytest.example:443", asked)
			}
		})
	}
	st, _ := metadata.NewStatic(metadata.Credentials{AccessKey: testAK, SecretKey: testSK})
	_, err = New(Options{Endpoint: proxyEndpoint, ProjectID: "p", Credentials: st, Proxy: "ftp://agent:s3cret@proxy"})
	if err == nil || !strings.Contains(err.Error(), "cloud.proxy") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("New with an ftp proxy = %v, want an error naming cloud.proxy without the password", err)
	}
}
