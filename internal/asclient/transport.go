package asclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// MaxAnswerSize caps what is read of one AS answer. The largest real answer
// is a page of 100 groups or instances, a few tens of KB; without a cap a
// broken gateway or a hostile answer could make every poll allocate as much
// as it sends.
const MaxAnswerSize = 4 << 20

// callTransport carries every request of one call. It does what the SDK
// does not:
//   - runs the request under the call's context (the SDK's Sync takes none),
//     so cancellation and the per-call timeout reach the connection;
//   - feeds the answer's Date header to the AS clock estimate;
//   - turns an answer that is not 2xx and not an error status (a 3xx from a
//     gateway or proxy) into an error: the SDK would read it as success;
//   - caps the answer's size;
//   - reads how long a throttled answer asks us to wait (Retry-After).
type callTransport struct {
	ctx        context.Context
	base       http.RoundTripper
	c          *Client
	large      *atomic.Bool  // set when an answer went over MaxAnswerSize
	retryAfter *atomic.Int64 // a 429's Retry-After, as a time.Duration
}

func (t callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.c.clock.Now()
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	t.c.asClock.observe(resp.Header.Get("Date"), start, t.c.clock.Now())
	if resp.StatusCode == http.StatusTooManyRequests {
		t.retryAfter.Store(int64(parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))))
	}
	if resp.StatusCode < 200 || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
		resp.Body.Close()
		return nil, &unexpectedStatusError{status: resp.StatusCode, location: resp.Header.Get("Location")}
	}
	if resp.ContentLength > MaxAnswerSize {
		resp.Body.Close()
		t.large.Store(true)
		return nil, &answerTooLargeError{size: resp.ContentLength}
	}
	resp.Body = &cappedBody{rc: resp.Body, left: MaxAnswerSize, large: t.large}
	return resp, nil
}

// cappedBody reads at most MaxAnswerSize bytes, then fails. It records the
// overflow in large as well, because the SDK drops read errors on error
// answers.
type cappedBody struct {
	rc    io.ReadCloser
	left  int64
	large *atomic.Bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the cap from a larger one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n == 0 {
			return 0, io.EOF
		}
		b.large.Store(true)
		return 0, &answerTooLargeError{size: -1}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// unexpectedStatusError is an answer that is neither success (2xx) nor an
// error status (4xx, 5xx): a redirect, which the client never follows.
type unexpectedStatusError struct {
	status   int
	location string
}

func (e *unexpectedStatusError) Error() string {
	return fmt.Sprintf("unexpected HTTP %d: %s", e.status, e.detail())
}

// detail is the message without the status.
func (e *unexpectedStatusError) detail() string {
	msg := http.StatusText(e.status)
	if e.location != "" {
		msg += fmt.Sprintf(" to %q", truncate(e.location, 200))
	}
	return msg + ": not an answer from AS (a gateway or proxy in between?); redirects are not followed: check cloud.as_endpoint and cloud.proxy"
}

// answerTooLargeError is an answer over MaxAnswerSize.
type answerTooLargeError struct{ size int64 }

func (e *answerTooLargeError) Error() string {
	if e.size > 0 {
		return fmt.Sprintf("the answer is %d bytes, more than the %d MiB the agent reads (a gateway or proxy fault?)", e.size, MaxAnswerSize>>20)
	}
	return fmt.Sprintf("the answer is more than the %d MiB the agent reads (a gateway or proxy fault?)", MaxAnswerSize>>20)
}

// truncate cuts s to n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
