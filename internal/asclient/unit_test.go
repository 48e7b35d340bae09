package asclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	asregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/region"

	"github.com/asagent/asagent/internal/metadata"
)

// A hook's timeout is read in every shape AS might send, and anything else
// is an error, never a zero time that would read as "no deadline".
func TestParseTimeout(t *testing.T) {
	want := time.Date(2016, 11, 15, 6, 43, 41, 0, time.UTC)
	good := []struct {
		in   string
		want time.Time
	}{
		{"2016-11-15T06:43:41Z", want},
		{" 2016-11-15T06:43:41Z ", want},
		{"2016-11-15T06:43:41.250Z", want.Add(250 * time.Millisecond)},
		{"2016-11-15T06:43:41.123456789Z", want.Add(123456789)},
		{"2016-11-15T14:43:41+08:00", want},
		{"2016-11-15T14:43:41+0800", want},
		{"2016-11-15T06:43:41", want},
		{"2016-11-15T06:43:41.5", want.Add(500 * time.Millisecond)},
		{"2016-11-15 06:43:41Z", want},
		{"2016-11-15 06:43:41", want},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTimeout(tc.in)
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("ParseTimeout(%q) = %v, %v; want %v in UTC", tc.in, got, err, tc.want)
			}
		})
	}
	for _, in := range []string{"", "   ", "2016-11-15", "06:43:41", "1479192221", "2016-13-15T06:43:41Z", "soon"} {
		t.Run("bad "+in, func(t *testing.T) {
			got, err := ParseTimeout(in)
			if err == nil {
				t.Fatalf("ParseTimeout(%q) = %v, want an error", in, got)
			}
			h := HeldHook{HookName: "h", InstanceID: "i", TimeoutRaw: in}
			if _, err := h.Deadline(); err == nil || !strings.Contains(err.Error(), "hook h") {
				t.Fatalf("Deadline() error = %v, want one naming the hook", err)
			}
		})
	}
}

// Errors are sorted so that the engine retries what can heal, stops on what
// cannot, and tells the user what to do about credentials and permissions.
func TestClassify(t *testing.T) {
	svc := func(status int, code, msg string) error {
		return &sdkerr.ServiceResponseError{StatusCode: status, ErrorCode: code, ErrorMessage: msg, RequestId: "req-1"}
	}
	cases := []struct {
		name      string
		op        string
		err       error
		kind      Kind
		throttled bool
		inMsg     string
	}{
		{"system error", opListHanging, svc(500, "AS.0001", "System error."), KindRetryable, false, "AS.0001"},
		{"IAM failed", opListHanging, svc(500, "AS.0049", "x"), KindRetryable, false, ""},
		{"gateway 503", opListHanging, svc(503, "", "unavailable"), KindRetryable, false, "HTTP 503"},
		{"throttled", opListHanging, svc(429, "APIG.0308", "over ratelimit"), KindRetryable, true, "APIG.0308"},
		{"throttled code only", opListHanging, svc(400, "APIG.0308", "over ratelimit"), KindRetryable, true, ""},
		{"malformed 200", opListHanging, svc(200, "", "unexpected end of JSON input"), KindRetryable, false, "malformed"},
		{"no longer held", opCallback, svc(400, "AS.7042", "not exist"), KindNoLongerHeld, false, "AS.7042"},
		{"token invalid", opListHanging, svc(401, "AS.0006", "invalid"), KindAuth, false, "clock"},
		{"no rights", opCallback, svc(403, "AS.0011", "no rights"), KindPermission, false, "as:instanceHooks:action"},
		{"policy denies", opListGroups, svc(400, "AS.0031", "denied"), KindPermission, false, "as:groups:list"},
		{"group gone", opListInstances, svc(400, "AS.2007", "no group"), KindNotFound, false, "AS.2007"},
		{"bad request", opCallback, svc(400, "AS.7034", "bad result"), KindFinal, false, "AS.7034"},
		{"bad body", opCallback, svc(400, "AS.0022", "bad body"), KindFinal, false, "AS.0022"},
		{"throttled APIGW", opListHanging, svc(429, "APIGW.0308", "over ratelimit"), KindRetryable, true, "APIGW.0308"},
		{"throttled APIGW code only", opListHanging, svc(400, "APIGW.0308", "over ratelimit"), KindRetryable, true, ""},
		{"gateway auth", opListHanging, svc(401, "APIGW.0301", "Incorrect IAM authentication information"), KindAuth, false, "APIGW.0301"},
		{"gateway auth code only", opListHanging, svc(400, "APIG.0303", "Incorrect app authentication information"), KindAuth, false, ""},
		{"unknown 4xx code", opCallback, svc(400, "AS.7045", "cannot extend"), KindUnknownRefusal, false, "AS.7045"},
		{"4xx without a code", opCallback, svc(409, "", "conflict"), KindUnknownRefusal, false, "HTTP 409"},
		{"redirect", opCallback, &url.Error{Op: "Put", URL: "http://x", Err: &unexpectedStatusError{status: 302, location: "http://portal"}}, KindFinal, false, "HTTP 302"},
		{"too large", opListHanging, &answerTooLargeError{size: -1}, KindFinal, false, "4 MiB"},
		{"connection refused", opListHanging, &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, KindRetryable, false, "connection refused"},
		{"eof", opListHanging, &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, KindRetryable, false, "EOF"},
		{"call timeout", opListHanging, &callTimeoutError{timeout: time.Second, err: context.DeadlineExceeded}, KindRetryable, false, "per-call timeout"},
		{"caller cancelled", opListHanging, fmt.Errorf("x: %w", context.Canceled), KindFinal, false, ""},
		{"no agency", opListHanging, &credentialsError{err: metadata.ErrNoAgency}, KindCredentials, false, "agency"},
		{"metadata blip", opListHanging, &credentialsError{err: errors.New("metadata: HTTP 500")}, KindRetryable, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := classify(tc.op, tc.err)
			if e.Kind != tc.kind || e.Throttled() != tc.throttled {
				t.Fatalf("classify = kind %v throttled %v, want %v %v (%v)", e.Kind, e.Throttled(), tc.kind, tc.throttled, e)
			}
			if !strings.Contains(e.Error(), tc.inMsg) || !strings.HasPrefix(e.Error(), "AS "+tc.op) {
				t.Errorf("message %q lacks %q or the operation", e.Error(), tc.inMsg)
			}
			var wrapped error = fmt.Errorf("ctx: %w", e)
			if IsRetryable(wrapped) != (tc.kind == KindRetryable) ||
				IsNoLongerHeld(wrapped) != (tc.kind == KindNoLongerHeld) ||
				IsNotFound(wrapped) != (tc.kind == KindNotFound) ||
				isUnknownRefusal(wrapped) != (tc.kind == KindUnknownRefusal) ||
				IsAuth(wrapped) != (tc.kind == KindAuth || tc.kind == KindPermission || tc.kind == KindCredentials) {
				t.Errorf("helpers disagree with kind %v", tc.kind)
			}
		})
	}
	if errors.Is(classify(opListHanging, &credentialsError{err: metadata.ErrNoAgency}), metadata.ErrNoAgency) == false {
		t.Error("errors.Is cannot find ErrNoAgency through *Error")
	}
}

// The endpoint comes from cloud.as_endpoint when set, from the SDK's region
// table otherwise, and for a region the table lacks it is derived from the
// documented pattern (before, such a region refused to start); anything
// unusable is refused at construction.
func TestResolveEndpoint(t *testing.T) {
	cases := []struct {
		region, endpoint string
		want, wantFrom   string // want "" means an error
	}{
		{"cn-north-4", "", "https://as.cn-north-4.myhuaweicloud.com", EndpointFromTable},
		{"ap-southeast-1", "", "https://as.ap-southeast-1.myhwclouds.com", EndpointFromTable},
		{"ae-ad-1", "", "https://as.ae-ad-1.myhuaweicloud.com", EndpointFromDerived},
		{"xx-nowhere-9", "", "https://as.xx-nowhere-9.myhuaweicloud.com", EndpointFromDerived},
		{"cn-north-4", "http://127.0.0.1:8080", "http://127.0.0.1:8080", EndpointFromConfig},
		{"", "https://as.example.test/", "https://as.example.test", EndpointFromConfig},
		{"", "", "", ""},
		{"", "as.example.test", "", ""},
		{"", "https://as.example.test/v1", "", ""},
		{"evil.example/x", "", "", ""},
		{"cn-north-4.evil.example", "", "", ""},
		{"CN-NORTH-4", "", "", ""},
		{strings.Repeat("a", 64), "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.region+" "+tc.endpoint, func(t *testing.T) {
			got, from, err := resolveEndpoint(tc.region, tc.endpoint)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("resolveEndpoint = %v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want || from != tc.wantFrom {
				t.Fatalf("resolveEndpoint = %v (%s), %v; want %s (%s)", got, from, err, tc.want, tc.wantFrom)
			}
		})
	}
}

// The agent's copy of the SDK's AS region table holds every region the SDK
// knows, with the SDK's endpoint: a newer SDK that adds one fails here
// until the list has it. (The SDK's own lookup also reads region overrides
// from the environment and files, which the agent does not use; this test
// sets none.)
func TestRegionTableMatchesSDK(t *testing.T) {
	_, err := asregion.SafeValueOf("asagent-no-such-region")
	if err == nil {
		t.Fatal("the SDK knows a region it cannot have")
	}
	msg := err.Error()
	i, j := strings.LastIndex(msg, "["), strings.LastIndex(msg, "]")
	if i < 0 || j < i {
		t.Fatalf("cannot read the SDK's region list from %q", msg)
	}
	sdkIDs := strings.Split(msg[i+1:j], ", ")
	if len(sdkIDs) != len(sdkRegions) {
		t.Errorf("the SDK has %d AS regions, the agent's list %d", len(sdkIDs), len(sdkRegions))
	}
	for _, id := range sdkIDs {
		r, err := asregion.SafeValueOf(id)
		if err != nil {
			t.Fatal(err)
		}
		got, from, err := resolveEndpoint(id, "")
		if err != nil || from != EndpointFromTable || got != r.Endpoints[0] {
			t.Errorf("region %s: %s (%s), %v; the SDK says %s", id, got, from, err, r.Endpoints[0])
		}
	}
}

// New refuses to build a client that would make the SDK look up the project
// (IAM) or the credentials (the metadata service) by itself.
func TestNewRequiresProjectAndCredentials(t *testing.T) {
	st, err := metadata.NewStatic(metadata.Credentials{AccessKey: "AK0123456789", SecretKey: "sk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Endpoint: "http://127.0.0.1:1", Credentials: st}); err == nil {
		t.Error("New without a project ID: no error")
	}
	if _, err := New(Options{Endpoint: "http://127.0.0.1:1", ProjectID: "p"}); err == nil {
		t.Error("New without credentials: no error")
	}
}

// rejectingCredentials hands out credentials with an empty secret, which
// must never reach the wire.
type rejectingCredentials struct{}

func (rejectingCredentials) Credentials(context.Context) (metadata.Credentials, error) {
	return metadata.Credentials{AccessKey: "AK0123456789"}, nil
}
func (rejectingCredentials) Invalidate(metadata.Credentials) {}

// countingTransport fails the test if anything is sent.
type countingTransport struct{ t *testing.T }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.t.Errorf("a request was sent to %s with unusable credentials", r.URL.Host)
	return nil, errors.New("refused")
}

// Credentials with an empty key are refused before anything is sent: the
// SDK would otherwise treat them as "fetch from the metadata service".
func TestEmptyCredentialsNeverSent(t *testing.T) {
	c, err := New(Options{Endpoint: "http://127.0.0.1:1", ProjectID: "p", Credentials: rejectingCredentials{}, Transport: countingTransport{t}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeldHooks(context.Background(), "g", "i"); err == nil {
		t.Fatal("HeldHooks with an empty secret key: no error")
	}
}

func isUnknownRefusal(err error) bool { _, ok := IsUnknownRefusal(err); return ok }
