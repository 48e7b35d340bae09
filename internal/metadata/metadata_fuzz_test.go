package metadata

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
)

// Whatever the metadata service answers on meta_data.json, securitykey and
// the token path, the client neither panics nor hangs, a successful answer's
// secrets (session token, secret key, security token) never appear in an
// error or in the credentials' String, and accepted credentials are whole.
func FuzzMetadataAnswers(f *testing.F) {
	seeds := []struct {
		op          uint8
		tokenStatus int
		token       string
		status      int
		body        string
	}{
		{0, 200, "tok-fuzz-session-token-0001", 200, `{"uuid":"i-1","project_id":"p","region_id":"r","availability_zone":"r-1a"}`},
		{0, 404, "", 200, `{"uuid":"","project_id":null}`},
		{0, 200, "tok-fuzz-session-token-0002", 200, `{"uuid":"i-1","availability_zone":"cn-north-4a"}`},
		{0, 200, "tok", 500, `internal error`},
		{1, 200, "tok-fuzz-session-token-0003", 200, `{"credential":{"access":"AKFUZZ00000001","secret":"fuzz-secret-value-00001","securitytoken":"fuzz-security-token-00001","expires_at":"2026-03-01T13:00:00.000000Z"}}`},
		{1, 200, "tok-fuzz-session-token-0004", 200, `{"credential":{"access":"AKFUZZ00000001","secret":"fuzz-secret-value-00002","securitytoken":"fuzz-security-token-00002","expires_at":"not a time"}}`},
		{1, 200, "tok-fuzz-session-token-0005", 200, `{"credential":{"access":"","secret":"fuzz-secret-value-00003"}}`},
		{1, 200, "", 401, `{"error":"agency not bound"}`},
		{1, 405, "", 200, `{"credential":{"secret":"fuzz-secret-value-00004"`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.tokenStatus, []byte(s.token), s.status, []byte(s.body))
	}
	type answer struct {
		tokenStatus, status int
		token, body         []byte
	}
	var cur atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := cur.Load()
		if r.Method == http.MethodPut {
			w.WriteHeader(a.tokenStatus)
			_, _ = w.Write(a.token)
			return
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	tr := &http.Transport{}
	f.Cleanup(tr.CloseIdleConnections)
	f.Fuzz(func(t *testing.T, op uint8, tokenStatus int, token []byte, status int, body []byte) {
		tokenStatus = 200 + (tokenStatus%400+400)%400
		status = 200 + (status%400+400)%400
		cur.Store(&answer{tokenStatus: tokenStatus, status: status, token: token, body: body})
		c, err := New(Options{Endpoint: srv.URL, RequestTimeout: 2 * time.Second, Transport: tr,
			Backoff: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var secrets []string
		if tokenStatus == http.StatusOK { // the only status the client takes a token from
			secrets = append(secrets, strings.TrimSpace(string(token)))
		}
		var msg string
		if op%2 == 0 {
			_, err = c.IdentityOnce(ctx)
		} else {
			var creds Credentials
			creds, err = c.SecurityKey(ctx)
			var sk struct {
				Credential struct {
					Secret        string `json:"secret"`
					SecurityToken string `json:"securitytoken"`
				} `json:"credential"`
			}
			if status == http.StatusOK && json.Unmarshal(body, &sk) == nil {
				secrets = append(secrets, sk.Credential.Secret, sk.Credential.SecurityToken)
			}
			if err == nil {
				if creds.AccessKey == "" || creds.SecretKey == "" {
					t.Fatalf("accepted credentials without an access or secret key: %s", creds)
				}
				msg = creds.String() + " " + creds.GoString()
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("op %d hangs on status %d", op, status)
		}
		if err != nil {
			msg += " " + err.Error()
		}
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(msg, s) {
				t.Fatalf("a secret (%d chars) appears in %q", len(s), msg)
			}
		}
	})
}
