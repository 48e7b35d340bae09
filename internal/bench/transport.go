package bench

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// handlerTransport is an http.RoundTripper that hands each request straight
// to a handler in the caller's goroutine: no sockets and no goroutines, so
// a thousand clients cost only their own work, and virtual time sees every
// request as part of its caller. It counts what it carried.
type handlerTransport struct {
	h         http.Handler
	requests  atomic.Int64
	throttled atomic.Int64
}

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	t.requests.Add(1)
	if rec.Code == http.StatusTooManyRequests {
		t.throttled.Add(1)
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
