package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// meta_data.json carries the documented identity fields, and they follow
// the scenario and SetLocalInstance: agents learn who they are from it.
func TestMetaDataIdentity(t *testing.T) {
	ts := newTestSim(t)
	var md map[string]any
	status, body, hdr := ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", status, hdr.Get("Content-Type"))
	}
	if err := json.Unmarshal([]byte(body), &md); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	want := map[string]string{
		"uuid": DefaultInstanceID, "project_id": DefaultProjectID, "region_id": DefaultRegion,
		"availability_zone": DefaultZone, "name": "ecs-b8e6f1c2", "hostname": "ecs-b8e6f1c2.novalocal",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %v, want %q", k, md[k], v)
		}
	}
	if _, ok := md["meta"].(map[string]any)["metering.image_id"]; !ok {
		t.Errorf("meta lacks metering.image_id: %v", md["meta"])
	}

	ts.SetLocalInstance("i-other")
	_, body, _ = ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", nil)
	if !strings.Contains(body, `"uuid":"i-other"`) {
		t.Errorf("after SetLocalInstance: %s", body)
	}
}

// The EC2-style paths and user data answer plain text; unknown paths and
// missing user data answer 404 like the real service.
func TestMetadataPlainPaths(t *testing.T) {
	sc := DefaultScenario()
	sc.UserData = "#cloud-config\n"
	withUD := newTestSim(t, func(o *Options) { o.Scenario = sc })
	noUD := newTestSim(t)
	cases := []struct {
		name       string
		ts         *testSim
		path       string
		wantStatus int
		wantBody   string
	}{
		{"instance-id", noUD, "/latest/meta-data/instance-id", 200, DefaultInstanceID},
		{"hostname", noUD, "/latest/meta-data/hostname", 200, "ecs-b8e6f1c2.novalocal"},
		{"zone", noUD, "/latest/meta-data/placement/availability-zone", 200, DefaultZone},
		{"index", noUD, "/latest/meta-data/", 200, "local-ipv4"},
		{"unknown ec2 path", noUD, "/latest/meta-data/nope", 404, ""},
		{"user data", withUD, "/openstack/latest/user_data", 200, "#cloud-config\n"},
		{"no user data", noUD, "/openstack/latest/user_data", 404, ""},
		{"unknown path", noUD, "/openstack/latest/nope", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := tc.ts.do(t, http.MethodGet, tc.path, nil)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// The token PUT validates the TTL header against the documented 60..21600.
func TestTokenTTLValidation(t *testing.T) {
	ts := newTestSim(t)
	cases := []struct {
		ttl  string
		want int
	}{
		{"", 400}, {"abc", 400}, {"59", 400}, {"60", 200}, {"21600", 200}, {"21601", 400}, {"-1", 400},
	}
	for _, tc := range cases {
		t.Run("ttl="+tc.ttl, func(t *testing.T) {
			h := map[string]string{}
			if tc.ttl != "" {
				h[headerTokenTTL] = tc.ttl
			}
			status, body, hdr := ts.do(t, http.MethodPut, "/meta-data/latest/api/token", h)
			if status != tc.want {
				t.Fatalf("status %d (%s), want %d", status, body, tc.want)
			}
			if status == 200 && (len(body) < 32 || hdr.Get(headerTokenTTL) != tc.ttl) {
				t.Errorf("token %q, ttl header %q", body, hdr.Get(headerTokenTTL))
			}
		})
	}
}

// Each token mode answers as documented: optional accepts requests without
// a token, required refuses them with 401, unsupported answers 404 on the
// PUT; in the first two an invalid or expired token is refused.
func TestTokenModes(t *testing.T) {
	const path = "/openstack/latest/meta_data.json"
	cases := []struct {
		name    string
		mode    TokenMode
		token   string // "valid", "expired", "bogus" or ""
		wantPut int
		wantGet int
	}{
		{"optional without token", TokensOptional, "", 200, 200},
		{"optional with token", TokensOptional, "valid", 200, 200},
		{"optional with bogus token", TokensOptional, "bogus", 200, 401},
		{"optional with expired token", TokensOptional, "expired", 200, 401},
		{"required without token", TokensRequired, "", 200, 401},
		{"required with token", TokensRequired, "valid", 200, 200},
		{"required with expired token", TokensRequired, "expired", 200, 401},
		{"unsupported without token", TokensUnsupported, "", 404, 200},
		{"unsupported with bogus token", TokensUnsupported, "bogus", 404, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSim(t)
			// Tokens are issued before the mode changes, so that the
			// unsupported case can still test what it does with one.
			valid := ts.getToken(t, "60")
			ts.SetTokenMode(tc.mode)
			status, _, _ := ts.do(t, http.MethodPut, "/meta-data/latest/api/token", map[string]string{headerTokenTTL: "60"})
			if status != tc.wantPut {
				t.Errorf("PUT token: %d, want %d", status, tc.wantPut)
			}
			h := map[string]string{}
			switch tc.token {
			case "valid":
				h[headerToken] = valid
			case "bogus":
				h[headerToken] = "not-a-token"
			case "expired":
				ts.clock.Advance(61 * time.Second)
				h[headerToken] = valid
			}
			if status, body, _ := ts.do(t, http.MethodGet, path, h); status != tc.wantGet {
				t.Errorf("GET: %d (%s), want %d", status, body, tc.wantGet)
			}
		})
	}
}

// Requests carrying X-Forwarded-For are refused on every metadata path, so
// a proxy on the instance cannot relay credentials elsewhere.
func TestMetadataRefusesForwarded(t *testing.T) {
	ts := newTestSim(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPut, "/meta-data/latest/api/token"},
		{http.MethodGet, "/openstack/latest/meta_data.json"},
		{http.MethodGet, "/openstack/latest/securitykey"},
		{http.MethodGet, "/latest/meta-data/instance-id"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := map[string]string{headerForwarded: "10.0.0.1", headerTokenTTL: "60"}
			if status, body, _ := ts.do(t, tc.method, tc.path, h); status != http.StatusForbidden {
				t.Errorf("status %d (%s), want 403", status, body)
			}
		})
	}
}

// securityKey reads the securitykey answer.
func (ts *testSim) securityKey(t *testing.T) (securityKey, time.Time) {
	t.Helper()
	status, body, _ := ts.do(t, http.MethodGet, "/openstack/latest/securitykey", nil)
	if status != http.StatusOK {
		t.Fatalf("securitykey: %d %s", status, body)
	}
	var sk securityKey
	if err := json.Unmarshal([]byte(body), &sk); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	// The SDK parses expires_at with this layout (fractional seconds allowed).
	exp, err := time.ParseInLocation("2006-01-02T15:04:05Z", sk.Credential.ExpiresAt, time.UTC)
	if err != nil {
		t.Fatalf("expires_at %q: %v", sk.Credential.ExpiresAt, err)
	}
	return sk, exp
}

// securitykey hands out temporary credentials that expire after the
// configured lifetime and rotate before they expire; old ones stay
// accepted until they expire (checked by the AS auth tests).
func TestSecurityKeyLifetimeAndRotation(t *testing.T) {
	ts := newTestSim(t, func(o *Options) { o.CredentialLifetime = time.Hour })
	first, exp := ts.securityKey(t)
	c := first.Credential
	if c.Access == "" || c.Secret == "" || c.SecurityToken == "" {
		t.Fatalf("incomplete credential: access %q, token set %v", c.Access, c.SecurityToken != "")
	}
	if want := testStart.Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expires_at %v, want %v", exp, want)
	}
	if again, _ := ts.securityKey(t); again.Credential.Access != c.Access {
		t.Errorf("credential changed before half its lifetime")
	}

	ts.clock.Advance(31 * time.Minute)
	later, exp2 := ts.securityKey(t)
	if later.Credential.Access == c.Access || !exp2.After(exp) {
		t.Errorf("past half its lifetime: same access key or no later expiry (%v)", exp2)
	}

	ts.RotateCredentials()
	if rotated, _ := ts.securityKey(t); rotated.Credential.Access == later.Credential.Access {
		t.Errorf("RotateCredentials did not issue a new credential")
	}
}

// Without an agency, securitykey answers 401 with the documented message,
// which the SDK looks for to tell "no agency" from "token problem".
func TestSecurityKeyWithoutAgency(t *testing.T) {
	ts := newTestSim(t)
	ts.SetAgency(false)
	status, body, _ := ts.do(t, http.MethodGet, "/openstack/latest/securitykey", nil)
	if status != http.StatusUnauthorized || !strings.Contains(body, "Please configure Cloud Service Agency first") {
		t.Errorf("got %d %q", status, body)
	}
	ts.SetAgency(true)
	ts.securityKey(t)
}
