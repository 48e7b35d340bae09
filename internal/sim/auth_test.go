package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
)

// signedCase is a request for the SDK's signer to sign.
type signedCase struct {
	name    string
	method  string
	path    string
	query   map[string]any // string or []string values
	headers map[string]string
	body    any
	// date overrides X-Sdk-Date (relative to the clock) when non-zero.
	date time.Duration
	// tamper changes the request after signing.
	tamper   func(*http.Request)
	wantCode string // "" means authentic
}

// verifierServer answers "ok" when the simulator's verifier accepts a
// request and the AS error code when it does not: the canonical request is
// rebuilt from what arrives over the wire, as in the real pipeline.
func verifierServer(t *testing.T, ts *testSim) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r}
		if err := c.readBody(); err != nil {
			t.Errorf("read body: %v", err)
		}
		if e := ts.authenticate(c); e != nil {
			io.WriteString(w, e.code+" "+e.msg)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The verifier accepts exactly what the SDK's signer signs: odd paths,
// escaped and repeated query values, empty values, bodies, extra headers,
// non-JSON payloads; and refuses any change made after signing, and dates
// more than 15 minutes off.
func TestVerifierMatchesSDKSigner(t *testing.T) {
	ts := newSDKSim(t)
	srv := verifierServer(t, ts)
	cases := []signedCase{
		{name: "plain GET", method: "GET", path: "/autoscaling-api/v1/p/scaling_group"},
		{name: "instance_id query", method: "GET", path: "/autoscaling-api/v1/p/scaling_instance_hook/g/list",
			query: map[string]any{"instance_id": "b25c-41d1"}},
		{name: "empty query value", method: "GET", path: "/x", query: map[string]any{"instance_id": ""}},
		{name: "escaped query", method: "GET", path: "/x",
			query: map[string]any{"name": "a b/c=d&e~f", "zeta": "ü", "alpha": "1+1"}},
		{name: "repeated query", method: "GET", path: "/x", query: map[string]any{"k": []string{"b", "a", "c"}}},
		{name: "odd path", method: "GET", path: "/v1/a b/ü/x~y.z_-/"},
		{name: "trailing slash", method: "GET", path: "/autoscaling-api/v1/p/scaling_group/"},
		{name: "JSON body", method: "PUT", path: "/cb", body: map[string]string{"lifecycle_action_result": "CONTINUE"},
			headers: map[string]string{"Content-Type": "application/json;charset=UTF-8"}},
		{name: "extra headers", method: "POST", path: "/x", body: map[string]int{"n": 1},
			headers: map[string]string{"X-Custom": "  spaced  ", "X-Security-Token-Like": "v", "Content-Type": "application/json"}},
		{name: "unsigned payload", method: "POST", path: "/x", body: "raw text",
			headers: map[string]string{"Content-Type": "text/plain"}},
		{name: "body changed", method: "PUT", path: "/cb", body: map[string]string{"r": "CONTINUE"},
			headers: map[string]string{"Content-Type": "application/json"},
			tamper: func(r *http.Request) {
				// Same length; no GetBody, or the transport would resend the original.
				r.Body, r.GetBody = io.NopCloser(strings.NewReader(`{"r":"CONTINUX"}`+"\n")), nil
			}, wantCode: "AS.0006"},
		{name: "query changed", method: "GET", path: "/x", query: map[string]any{"instance_id": "i-1"},
			tamper: func(r *http.Request) { r.URL.RawQuery = "instance_id=i-2" }, wantCode: "AS.0006"},
		{name: "path changed", method: "GET", path: "/a/b",
			tamper: func(r *http.Request) { r.URL.Path = "/a/c" }, wantCode: "AS.0006"},
		{name: "method changed", method: "GET", path: "/a",
			tamper: func(r *http.Request) { r.Method = "DELETE" }, wantCode: "AS.0006"},
		{name: "signed header changed", method: "GET", path: "/a", headers: map[string]string{"X-Project-Id": "p"},
			tamper: func(r *http.Request) { r.Header.Set("X-Project-Id", "q") }, wantCode: "AS.0006"},
		{name: "no authorization", method: "GET", path: "/a",
			tamper: func(r *http.Request) { r.Header.Del("Authorization") }, wantCode: "AS.0005"},
		{name: "date 14 minutes old", method: "GET", path: "/a", date: -14 * time.Minute},
		{name: "date 16 minutes old", method: "GET", path: "/a", date: -16 * time.Minute, wantCode: "AS.0006"},
		{name: "date 16 minutes ahead", method: "GET", path: "/a", date: 16 * time.Minute, wantCode: "AS.0006"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := signWithSDK(t, ts, srv.URL, tc)
			if tc.tamper != nil {
				tc.tamper(req)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			want := tc.wantCode
			if want == "" {
				want = "ok"
			}
			if !strings.HasPrefix(string(got), want) {
				t.Errorf("verifier said %q, want %q", got, want)
			}
		})
	}
}

// signWithSDK builds the request with the SDK's request builder, signs it
// with the SDK's signer as the SDK's credentials do, and converts it to an
// http.Request as the SDK's client does.
func signWithSDK(t *testing.T, ts *testSim, endpoint string, tc signedCase) *http.Request {
	t.Helper()
	b := request.NewHttpRequestBuilder().WithEndpoint(endpoint).WithMethod(tc.method).WithPath(tc.path)
	for k, v := range tc.query {
		b.AddQueryParam(k, reflect.ValueOf(v))
	}
	for k, v := range tc.headers {
		b.AddHeaderParam(k, v)
	}
	if tc.date != 0 {
		b.AddHeaderParam("X-Sdk-Date", ts.fake().Now().Add(tc.date).UTC().Format(sdkDateFormat))
	}
	if tc.body != nil {
		b.WithBody("", tc.body)
	}
	r := b.Build()
	extra, err := signer.Sign(r, testAK, testSK)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	for k, v := range extra {
		r.AddHeaderParam(k, v)
	}
	req, err := r.ConvertRequest()
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	return req
}

// Secrets never reach the log: a full session with temporary credentials
// and metadata tokens leaves no SK, security token or metadata token in it.
func TestLogHasNoSecrets(t *testing.T) {
	var log strings.Builder
	ts := newSDKSim(t, func(o *Options) { o.Log = &lockedWriter{w: &log} })
	tok := ts.getToken(t, "60")
	ts.do(t, http.MethodGet, "/openstack/latest/meta_data.json", map[string]string{headerToken: tok})
	sk, _ := ts.securityKey(t)
	c := ts.asClient(t, sk.Credential.Access, sk.Credential.Secret, sk.Credential.SecurityToken, ts.ProjectID())
	if err := callback(c, DefaultGroupID, "", DefaultInstanceID, DefaultLaunchHook, ResultContinue); err != nil {
		t.Fatal(err)
	}
	out := log.String() // complete: requests are logged before they are answered
	if !strings.Contains(out, "as.callback") {
		t.Fatalf("log lacks the callback: %s", out)
	}
	for name, secret := range map[string]string{
		"SK": testSK, "temporary SK": sk.Credential.Secret, "security token": sk.Credential.SecurityToken, "metadata token": tok,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains the %s", name)
		}
	}
}

// Through the whole pipeline, a signed path with a trailing slash reaches
// the same route, an unknown AS path gets the gateway's APIG.0101, and an
// IAM token instead of a signature is refused with 401.
func TestGatewayEdges(t *testing.T) {
	ts := newSDKSim(t)
	base := "/autoscaling-api/v1/" + ts.ProjectID()
	cases := []struct {
		name       string
		sc         signedCase
		wantStatus int
		wantBody   string
	}{
		{"trailing slash", signedCase{method: "GET", path: base + "/scaling_instance_hook/" + DefaultGroupID + "/list/"},
			200, `"lifecycle_hook_status":"HANGING"`},
		{"unknown AS path", signedCase{method: "GET", path: base + "/scaling_policy/x/list"}, 404, "APIG.0101"},
		{"IAM token", signedCase{method: "GET", path: base + "/scaling_group", tamper: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Set("X-Auth-Token", "an-iam-token")
		}}, 401, "AS.0006"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := signWithSDK(t, ts, ts.srv.URL, tc.sc)
			if tc.sc.tamper != nil {
				tc.sc.tamper(req)
			}
			resp, err := ts.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}
