package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/sim"
)

// Temporary credentials are fetched once and served from the cache while
// fresh, renewed once they come within the refresh margin of expires_at
// (before they expire, so no request is signed with dead credentials), and
// the renewed ones expire later.
func TestAgencyCredentialsCacheAndRefresh(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := e.c.AgencyCredentials(0)
	ctx := context.Background()
	first, err := a.Credentials(ctx)
	if err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	if first.Source != SourceAgency || !first.Temporary() || first.ExpiresAt.IsZero() {
		t.Fatalf("credentials = %v, want temporary agency credentials with an expiry", first)
	}
	if got := first.ExpiresAt.Sub(testStart); got != sim.DefaultCredentialLifetime {
		t.Fatalf("expires_at is %v after now, want the simulator's %v", got, sim.DefaultCredentialLifetime)
	}
	for range 5 {
		e.clock.Advance(time.Hour)
		cr, err := a.Credentials(ctx)
		if err != nil || cr.AccessKey != first.AccessKey {
			t.Fatalf("Credentials = %v, %v; want the cached ones", cr, err)
		}
	}
	if n := len(e.sim.RequestsTo(sim.RouteSecurityKey)); n != 1 {
		t.Fatalf("%d securitykey requests while the credentials were fresh, want 1", n)
	}
	// 30 minutes before expiry: inside the 40-minute margin.
	e.clock.Advance(first.ExpiresAt.Sub(e.clock.Now()) - 30*time.Minute)
	second, err := a.Credentials(ctx)
	if err != nil {
		t.Fatalf("Credentials near expiry: %v", err)
	}
	if second.AccessKey == first.AccessKey || !second.ExpiresAt.After(first.ExpiresAt) {
		t.Fatalf("near expiry got %v, want new credentials expiring after %v", second, first.ExpiresAt)
	}
}

// Invalidate after a 401 makes the next call fetch again, but only when it
// names the current credentials, so that many requests refused together
// cause one fetch, not one each.
func TestAgencyCredentialsInvalidate(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := e.c.AgencyCredentials(0)
	ctx := context.Background()
	cur, err := a.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Invalidate(Credentials{AccessKey: "SOMETHINGELSE"})
	if _, err := a.Credentials(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.RequestsTo(sim.RouteSecurityKey)); n != 1 {
		t.Fatalf("Invalidate of other credentials caused a fetch (%d requests)", n)
	}
	e.sim.RotateCredentials()
	a.Invalidate(cur)
	var wg sync.WaitGroup
	got := make([]Credentials, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := a.Credentials(ctx)
			if err != nil {
				t.Errorf("Credentials: %v", err)
			}
			got[i] = cr
		}()
	}
	wg.Wait()
	if n := len(e.sim.RequestsTo(sim.RouteSecurityKey)); n != 2 {
		t.Fatalf("%d securitykey requests after one Invalidate and 20 concurrent calls, want 2 in all", n)
	}
	for _, cr := range got {
		if cr.AccessKey == cur.AccessKey || cr.AccessKey != got[0].AccessKey {
			t.Fatalf("after Invalidate got %s, want the one new key %s", MaskAccessKey(cr.AccessKey), MaskAccessKey(got[0].AccessKey))
		}
	}
}

// A refresh that fails while the cached credentials are still valid keeps
// the agent working with the cached ones (and says so in the log); once
// they are expired the error comes through.
func TestAgencyCredentialsRefreshFailure(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := e.c.AgencyCredentials(0)
	ctx := context.Background()
	cur, err := a.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.SetFault(sim.RouteSecurityKey, sim.Fault{ErrorRate: 1})
	e.clock.Advance(cur.ExpiresAt.Sub(e.clock.Now()) - 10*time.Minute)
	cr, err := a.Credentials(ctx)
	if err != nil || cr.AccessKey != cur.AccessKey {
		t.Fatalf("Credentials with the service failing = %v, %v; want the still-valid cached ones", cr, err)
	}
	if !strings.Contains(e.logs.String(), "still valid") {
		t.Errorf("the failed refresh was not logged:\n%s", e.logs.String())
	}
	e.clock.Advance(11 * time.Minute)
	if _, err := a.Credentials(ctx); err == nil {
		t.Fatal("Credentials after expiry with the service failing: no error")
	}
}

// Without an agency the answer is an error that says what to do, and
// errors.Is finds ErrNoAgency through any wrapping.
func TestNoAgency(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.sim.SetAgency(false)
	for _, mode := range []sim.TokenMode{sim.TokensOptional, sim.TokensRequired, sim.TokensUnsupported} {
		t.Run(mode.String(), func(t *testing.T) {
			e.sim.SetTokenMode(mode)
			_, err := e.c.AgencyCredentials(0).Credentials(context.Background())
			if !errors.Is(err, ErrNoAgency) {
				t.Fatalf("Credentials = %v, want ErrNoAgency", err)
			}
			for _, want := range []string{"agency", "README"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// Secrets never show: not through any fmt verb, not through JSON or a
// zerolog field, and not in anything the client logged or returned while
// fetching tokens and credentials.
func TestSecretsNeverPrinted(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.sim.SetTokenMode(sim.TokensRequired)
	ctx := context.Background()
	a := e.c.AgencyCredentials(0)
	cr, err := a.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.c.mu.Lock()
	token := e.c.token
	e.c.mu.Unlock()
	secrets := []string{cr.SecretKey.Reveal(), cr.SecurityToken.Reveal(), token}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("test setup: secret %q too short to search for", s)
		}
	}
	// Produce logs and errors: a refused refresh, a recovery, a rotation.
	e.sim.RotateCredentials()
	a.Invalidate(cr)
	e.sim.SetFault(sim.RouteSecurityKey, sim.Fault{FirstN: 1, Status: http.StatusInternalServerError})
	_, ferr := a.Credentials(ctx)
	e.clock.Advance(time.Minute)
	cr2, err := a.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, cr2.SecretKey.Reveal(), cr2.SecurityToken.Reveal())

	var zl strings.Builder
	zlog := zerolog.New(&zl)
	zlog.Info().Interface("creds", cr).Stringer("sk", cr.SecretKey).Interface("tok", cr.SecurityToken).Msg("x")
	js, _ := json.Marshal(cr)
	printed := []string{
		fmt.Sprintf("%v %+v %#v %s %q %x", cr, cr, cr, cr.SecretKey, cr.SecurityToken, cr.SecretKey),
		fmt.Sprintf("%v %+v %#v", struct{ C Credentials }{cr}, []Credentials{cr, cr2}, &cr),
		fmt.Sprint(cr.SecretKey, cr.SecurityToken),
		string(js), zl.String(), e.logs.String(),
	}
	if ferr != nil {
		printed = append(printed, ferr.Error())
	}
	for _, p := range printed {
		for _, s := range secrets {
			if strings.Contains(p, s) {
				t.Fatalf("secret %.4s... printed in %q", s, p)
			}
		}
	}
	if !strings.Contains(printed[0], "[redacted]") || !strings.Contains(printed[0], SourceAgency) {
		t.Errorf("formatted credentials say too little: %s", printed[0])
	}
}

// The SDK's environment variables give static credentials; one key without
// the other is an error rather than a silent fall-back to the agency.
func TestEnvCredentials(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr bool
		project string
	}{
		{"none", nil, false, false, ""},
		{"project only", map[string]string{EnvProjectID: "p1"}, false, false, "p1"},
		{"both keys", map[string]string{EnvAccessKey: "AK1234567890", EnvSecretKey: "sk"}, true, false, ""},
		{"with token", map[string]string{EnvAccessKey: "AK1234567890", EnvSecretKey: "sk", EnvSecurityToken: "tok", EnvProjectID: "p2"}, true, false, "p2"},
		{"AK only", map[string]string{EnvAccessKey: "AK1234567890"}, false, true, ""},
		{"SK only", map[string]string{EnvSecretKey: "sk"}, false, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cr, project, ok, err := EnvCredentials(func(k string) string { return tc.env[k] })
			if ok != tc.ok || (err != nil) != tc.wantErr || project != tc.project {
				t.Fatalf("EnvCredentials = %v, %q, %v, %v", cr, project, ok, err)
			}
			if ok {
				if cr.Source != SourceEnvironment || cr.SecurityToken.Reveal() != tc.env[EnvSecurityToken] {
					t.Errorf("credentials = %v", cr)
				}
				st, err := NewStatic(cr)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := st.Credentials(context.Background())
				st.Invalidate(got)
				if again, _ := st.Credentials(context.Background()); again.AccessKey != cr.AccessKey {
					t.Errorf("static credentials changed after Invalidate")
				}
			}
		})
	}
	if _, err := NewStatic(Credentials{AccessKey: "AK"}); err == nil {
		t.Error("NewStatic without a secret key: no error (the SDK would fall back to the metadata service)")
	}
}

// expires_at is read in the service's format and the other usual shapes.
func TestParseTime(t *testing.T) {
	want := time.Date(2020, 1, 8, 3, 50, 7, 574000000, time.UTC)
	for _, s := range []string{"2020-01-08T03:50:07.574000Z", "2020-01-08T03:50:07.574Z", "2020-01-08T11:50:07.574+08:00", "2020-01-08T03:50:07.574", "2020-01-08 03:50:07.574"} {
		t.Run(s, func(t *testing.T) {
			got, err := parseTime(s)
			if err != nil || !got.Equal(want) {
				t.Fatalf("parseTime(%q) = %v, %v; want %v", s, got, err, want)
			}
		})
	}
	if _, err := parseTime("tomorrow"); err == nil {
		t.Error("parseTime(tomorrow): no error")
	}
}
