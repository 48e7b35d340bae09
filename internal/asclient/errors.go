package asclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"

	"github.com/asagent/asagent/internal/metadata"
)

// Kind sorts AS errors by what the caller should do about them.
type Kind int

// The error kinds.
const (
	// KindFinal: retrying will not help: a request AS calls malformed
	// (AS.0022, AS.7034...), a redirect, an answer too large or with IDs
	// out of format, a refused ID of ours, the caller's context ended.
	KindFinal Kind = iota
	// KindRetryable: the network, a 5xx, throttling, AS.0001 or AS.0049;
	// already retried up to the deadline when the caller sees it.
	KindRetryable
	// KindNoLongerHeld: AS.7042, the hook no longer holds the instance
	// (answered, timed out, or the instance left). Nothing to answer.
	KindNoLongerHeld
	// KindAuth: the credentials were refused (401).
	KindAuth
	// KindPermission: the credentials lack an IAM permission (403, AS.0011, AS.0031).
	KindPermission
	// KindNotFound: the group, hook or instance does not exist (AS.2007, AS.0007, AS.4006, 404).
	KindNotFound
	// KindCredentials: no credentials could be had (for example the
	// instance has no agency; errors.Is(err, metadata.ErrNoAgency)).
	KindCredentials
	// KindUnknownRefusal: AS refused the request with a 4xx whose code the
	// client does not know (Error.Code; "" when the answer had none), such
	// as a cap on EXTEND or another spelling of "no longer held". Not
	// retried by the client: whether the hook still holds the instance
	// decides what to do (re-read HeldHooks).
	KindUnknownRefusal
)

func (k Kind) String() string {
	switch k {
	case KindRetryable:
		return "retryable"
	case KindNoLongerHeld:
		return "no longer held"
	case KindAuth:
		return "authentication"
	case KindPermission:
		return "permission"
	case KindNotFound:
		return "not found"
	case KindCredentials:
		return "credentials"
	case KindUnknownRefusal:
		return "unknown refusal"
	default:
		return "final"
	}
}

// Error is every error a Client method returns (use errors.As, or the Is*
// helpers). Its message names the operation, the status and code, and for
// auth and permission errors what to do; it never holds a secret.
type Error struct {
	Op        string // e.g. "list hanging hooks"
	Kind      Kind
	Status    int    // HTTP status; 0 when no answer came
	Code      string // "AS.0001", "APIG.0308", "APIGW.0308"; "" when none
	Message   string // the service's message
	RequestID string
	Hint      string // what to do, for auth, permission and credentials errors
	Attempts  int    // calls made, including retries
	// GaveUp is set when a retryable error was returned because the next
	// retry would have ended after the deadline.
	GaveUp bool
	// RetryAfter is how long a throttled answer asked the caller to wait
	// (its Retry-After header); 0 when it did not say.
	RetryAfter time.Duration
	Err        error // the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AS %s: ", e.Op)
	switch {
	case e.Status != 0 && e.Code != "":
		fmt.Fprintf(&b, "HTTP %d %s: %s", e.Status, e.Code, e.Message)
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d: %s", e.Status, e.Message)
	case e.Err != nil:
		b.WriteString(errorText(e.Err))
	default:
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	if e.GaveUp && e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the call may succeed if made again later.
func (e *Error) Retryable() bool { return e.Kind == KindRetryable }

// Throttled reports a 429 or APIG.0308 (APIGW.0308) answer.
func (e *Error) Throttled() bool {
	return e.Status == http.StatusTooManyRequests || gatewayCode(e.Code) == "APIG.0308"
}

func kindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// IsNoLongerHeld reports AS.7042: the hook no longer holds the instance, so
// there is nothing left to answer. After a callback that was retried because
// its first answer was lost, it can also mean the first attempt took effect.
func IsNoLongerHeld(err error) bool { k, ok := kindOf(err); return ok && k == KindNoLongerHeld }

// IsThrottled reports an answer throttled by the API gateway (429,
// APIG.0308): the project's request limit, which every agent of the
// project shares, is spent for now.
func IsThrottled(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Throttled()
}

// IsNotFound reports a group, hook or instance that does not exist.
func IsNotFound(err error) bool { k, ok := kindOf(err); return ok && k == KindNotFound }

// IsUnknownRefusal reports a 4xx whose code the client does not know
// (KindUnknownRefusal), and returns that code ("" when the answer had
// none). The caller re-reads HeldHooks to learn whether the hook still
// holds the instance.
func IsUnknownRefusal(err error) (code string, ok bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == KindUnknownRefusal {
		return e.Code, true
	}
	return "", false
}

// errorText is err's message without url.Error's method and URL, which
// repeat what the operation name says (and make messages long).
func errorText(err error) string {
	var cte *callTimeoutError
	if errors.As(err, &cte) {
		return cte.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// credentialsError wraps a failure to get credentials before a call. final
// marks unusable credentials, which no retry will mend.
type credentialsError struct {
	err   error
	final bool
}

func (e *credentialsError) Error() string { return "getting credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// callTimeoutError is our per-call timeout firing (not the caller's context).
type callTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *callTimeoutError) Error() string {
	return fmt.Sprintf("no answer within the per-call timeout of %v", e.timeout)
}
func (e *callTimeoutError) Unwrap() error { return e.err }

// iamAction names the IAM action an operation needs, for hints.
func iamAction(op string) string {
	switch op {
	case opListHanging:
		return "as:instanceHooks:list"
	case opCallback:
		return "as:instanceHooks:action"
	case opListHooks:
		return "as:lifecycleHooks:list"
	case opListGroups:
		return "as:groups:list"
	case opListInstances:
		return "as:instances:list"
	}
	return ""
}

// gatewayCode spells an API gateway code the one way the client compares
// it: Huawei's pages write APIG.0308 and APIGW.0308 for the same thing.
func gatewayCode(code string) string {
	if rest, ok := strings.CutPrefix(code, "APIGW."); ok {
		return "APIG." + rest
	}
	return code
}

// retryableCode reports service codes worth retrying, whatever their status.
func retryableCode(code string) bool {
	switch gatewayCode(code) {
	case "AS.0001", // system error
		"AS.0049",   // AS's call to IAM failed
		"APIG.0308": // throttled by the API gateway
		return true
	}
	return false
}

// badRequestCode reports the codes that say our own request was malformed:
// no retry and no re-read will change the answer.
func badRequestCode(code string) bool {
	switch code {
	case "AS.0008", // project ID mismatch
		"AS.0022", // bad request body
		"AS.7034", // invalid callback action result
		"AS.7039", // callback action result empty
		"AS.7040": // callback object empty
		return true
	}
	return false
}

// classify turns whatever a call returned into an *Error.
func classify(op string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			e.Op = op // refused by a check before or after the call
		}
		return e
	}
	e = &Error{Op: op, Err: err, Kind: KindFinal}
	var ce *credentialsError
	var sre *sdkerr.ServiceResponseError
	var srv sdkerr.ServiceResponseError
	var use *unexpectedStatusError
	var tle *answerTooLargeError
	switch {
	case errors.As(err, &use):
		e.Status, e.Message, e.Err = use.status, use.detail(), nil
	case errors.As(err, &tle):
		e.Message, e.Err = tle.Error(), nil
	case errors.As(err, &ce):
		e.Err = ce
		if errors.Is(err, metadata.ErrNoAgency) || ce.final {
			e.Kind = KindCredentials
		} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			e.Kind = KindFinal
		} else {
			// The metadata service blinked; it usually comes back.
			e.Kind = KindRetryable
		}
	case errors.As(err, &sre):
		fromService(e, sre)
	case errors.As(err, &srv):
		fromService(e, &srv)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		var cte *callTimeoutError
		if errors.As(err, &cte) {
			e.Kind = KindRetryable
		} else {
			e.Kind = KindFinal // the caller's context ended: stop
		}
	case isTransport(err):
		e.Kind = KindRetryable
	}
	return e
}

func fromService(e *Error, sre *sdkerr.ServiceResponseError) {
	e.Status, e.Code, e.RequestID = sre.StatusCode, sre.ErrorCode, sre.RequestId
	e.Message = strings.Join(strings.Fields(sre.ErrorMessage), " ")
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "..."
	}
	e.Err = nil
	action := iamAction(e.Op)
	switch {
	case e.Status < 400:
		// A success status whose body the SDK could not read: garbled or
		// cut short on the way. Worth another try.
		e.Kind = KindRetryable
		e.Message = "malformed answer: " + e.Message
	case retryableCode(e.Code) || e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		e.Kind = KindRetryable
	case e.Code == "AS.7042":
		e.Kind = KindNoLongerHeld
	case e.Status == http.StatusUnauthorized || e.Code == "AS.0005" || e.Code == "AS.0006" ||
		gatewayCode(e.Code) == "APIG.0301" || gatewayCode(e.Code) == "APIG.0303":
		e.Kind = KindAuth
		e.Hint = "the credentials were refused: check the access key and secret key (or the agency bound to the instance), " +
			"and that the instance's clock is right (signatures more than 15 minutes off are refused)"
	case e.Status == http.StatusForbidden || e.Code == "AS.0011" || e.Code == "AS.0031":
		e.Kind = KindPermission
		e.Hint = "the credentials lack a permission"
		if action != "" {
			e.Hint += " (" + action + ")"
		}
		e.Hint += ": grant the agency or user the AS permissions the README lists"
	case e.Code == "AS.2007" || e.Code == "AS.0007" || e.Code == "AS.4006" || e.Status == http.StatusNotFound:
		e.Kind = KindNotFound
	case badRequestCode(e.Code):
		e.Kind = KindFinal
	default:
		e.Kind = KindUnknownRefusal
	}
}

// isTransport reports errors of the connection rather than of the API.
func isTransport(err error) bool {
	var ne net.Error
	var se *json.SyntaxError
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &se) ||
		strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "server closed") ||
		strings.Contains(err.Error(), "EOF")
}
