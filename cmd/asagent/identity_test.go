package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/cloud"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
)

// Permanent credentials the identity tests' simulator accepts.
const (
	idTestAK = "IDENTITYTESTAK000001"
	idTestSK = "identity-test-secret-key-0123456789"
)

// identitySim starts a simulator on loopback and returns it with a config
// pointing both the metadata service and AS at it.
func identitySim(t *testing.T, sc *sim.Scenario) (*sim.Sim, *config.Config) {
	t.Helper()
	s, err := sim.New(sim.Options{AccessKey: idTestAK, SecretKey: idTestSK, Scenario: sc, Log: zerolog.NewTestWriter(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.Cloud.MetadataEndpoint = srv.URL
	cfg.Cloud.ASEndpoint = srv.URL
	cfg.StateDir = t.TempDir()
	return s, cfg
}

// `asagent identity` shows everything a user setting up an image needs,
// from whichever source, says how the group was found, exits 0 only when
// all of it works, and never prints a secret.
func TestIdentity(t *testing.T) {
	noEnv := func(string) string { return "" }
	staticEnv := func(k string) string {
		return map[string]string{"HUAWEICLOUD_SDK_AK": idTestAK, "HUAWEICLOUD_SDK_SK": idTestSK}[k]
	}
	cases := []struct {
		name     string
		scenario *sim.Scenario
		setup    func(*sim.Sim, *config.Config)
		getenv   func(string) string
		wantCode int
		want     []string
	}{
		{
			name: "agency credentials, discovered group", getenv: noEnv, wantCode: exitOK,
			want: []string{
				"instance:", sim.DefaultInstanceID + " (metadata service)",
				sim.DefaultProjectID, sim.DefaultRegion, sim.DefaultZone,
				"metadata securitykey, temporary, expires",
				sim.DefaultGroupID + " " + sim.DefaultGroupName + " (discovered by listing",
				"API list hooks:", "ok, 2 hooks", "API list hanging:", "ok, 1 holding this instance: launch-hook until",
				"AS proxy:", "none", "AS clock:", "agrees with this instance's clock",
				"result:", "usable",
			},
		},
		{
			name: "AS clock behind", getenv: noEnv, wantCode: exitOK,
			setup: func(s *sim.Sim, _ *config.Config) { _ = s.SetUnknowns(sim.Unknowns{ClockOffset: -2 * time.Minute}) },
			want:  []string{"AS clock:", "offset -1m", "this instance's clock is off", "usable"},
		},
		{
			name: "static credentials from the environment", getenv: staticEnv, wantCode: exitOK,
			want: []string{"(environment)", "IDEN****0001", "discovered by listing", "usable"},
		},
		{
			name: "static credentials and group from config", getenv: noEnv, wantCode: exitOK,
			setup: func(_ *sim.Sim, c *config.Config) {
				c.Cloud.Credentials = config.Credentials{AccessKey: idTestAK, SecretKey: idTestSK}
				c.Cloud.ScalingGroupID = sim.DefaultGroupID
			},
			want: []string{"(config)", "from cloud.scaling_group_id", "usable"},
		},
		{
			name: "no agency", getenv: noEnv, wantCode: exitFailed,
			setup: func(s *sim.Sim, _ *config.Config) { s.SetAgency(false) },
			want:  []string{"credentials:", "FAILED", "bind an IAM agency", "NOT usable"},
		},
		{
			name: "in no group", getenv: noEnv, wantCode: exitFailed,
			setup: func(s *sim.Sim, _ *config.Config) { s.SetLocalInstance("stray-instance") },
			want:  []string{"scaling group:", "instance stray-instance is in no scaling group of project " + sim.DefaultProjectID},
		},
		{
			name: "wrong static key", getenv: noEnv, wantCode: exitFailed,
			setup: func(_ *sim.Sim, c *config.Config) {
				c.Cloud.Credentials = config.Credentials{AccessKey: idTestAK, SecretKey: "not-the-secret-key-at-all"}
			},
			want: []string{"FAILED", "HTTP 401", "check the access key and secret key"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := identitySim(t, tc.scenario)
			if tc.setup != nil {
				tc.setup(s, cfg)
			}
			var out, logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := identity(ctx, &out, cfg, tc.getenv, clockwork.NewRealClock(), zerolog.New(&logs))
			t.Logf("output:\n%s", out.String())
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, secret := range []string{idTestSK, "not-the-secret-key-at-all", "sim-sts-"} {
				if strings.Contains(out.String()+logs.String(), secret) {
					t.Errorf("a secret (%.8s...) was printed", secret)
				}
			}
		})
	}
}

// A second run finds the group in the cache that the first run wrote.
func TestIdentityUsesCache(t *testing.T) {
	_, cfg := identitySim(t, nil)
	var out bytes.Buffer
	ctx := context.Background()
	for _, want := range []string{"discovered by listing", "from the cache, confirmed by AS"} {
		out.Reset()
		if code := identity(ctx, &out, cfg, func(string) string { return "" }, clockwork.NewRealClock(), zerolog.Nop()); code != exitOK {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, cloud.GroupCacheFile)); err != nil {
		t.Fatalf("cache file: %v", err)
	}
}

// A configuration error exits 78 (EX_CONFIG), which systemd does not restart on.
func TestIdentityConfigError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("cloud:\n  no_such_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, []string{"identity", "--config", path})
	if code != exitConfig {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitConfig, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no_such_key") {
		t.Errorf("stderr does not name the bad key:\n%s", stderr.String())
	}
}

// For a region the SDK's table lacks, identity shows the derived endpoint
// and says so, and shows the proxy the calls go through: here cloud.proxy,
// a loopback proxy that alone knows where the derived name leads (to the
// simulator), so the calls prove they went through it.
func TestIdentityDerivedEndpointThroughProxy(t *testing.T) {
	s, cfg := identitySim(t, nil)
	tlsSrv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(tlsSrv.Close)
	proxy := sim.NewConnectProxy(tlsSrv.Listener.Addr().String())
	proxySrv := httptest.NewServer(proxy)
	t.Cleanup(proxySrv.Close)
	cfg.Cloud.ASEndpoint = ""
	cfg.Cloud.Region = "ae-ad-1"
	cfg.Cloud.Proxy = proxySrv.URL
	cfg.Cloud.InsecureSkipVerify = true // the simulator's test certificate
	var out, logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := identity(ctx, &out, cfg, func(string) string { return "" }, clockwork.NewRealClock(), zerolog.New(&logs))
	t.Logf("output:\n%s", out.String())
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"AS endpoint:", "https://as.ae-ad-1.myhuaweicloud.com (derived from the region: not in the SDK's AS region table)",
		"AS proxy:", proxySrv.URL + " (cloud.proxy)", "usable",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if hosts := proxy.Hosts(); len(hosts) == 0 || hosts[0] != "as.ae-ad-1.myhuaweicloud.com:443" {
		t.Errorf("the proxy was asked for %q, want the derived endpoint", hosts)
	}
	if !strings.Contains(logs.String(), "AS endpoint chosen") || !strings.Contains(logs.String(), "cloud.as_endpoint") {
		t.Errorf("the derived endpoint is not logged with a hint:\n%s", logs.String())
	}
}
