package asclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
)

// A list call gives up, with an error, on an AS that does not move through
// its pages: one that ignores start_number and answers the same full page
// forever, or that claims a total it never delivers. It must not page
// without end, appending the same page to an ever larger result.
func TestPagingThatDoesNotAdvance(t *testing.T) {
	full := `{"scaling_groups":[` + repeatJSON(`{"scaling_group_id":"g"}`, pageSize) + `],` +
		`"scaling_group_instances":[` + repeatJSON(`{"instance_id":"i"}`, pageSize) + `]}`
	cases := []struct{ name, body string }{
		{"same full page, no total", full},
		{"one item a page, a huge total", `{"scaling_groups":[{"scaling_group_id":"g"}],"scaling_group_instances":[{"instance_id":"i"}],"total_number":2147483647}`},
	}
	// maxRequests is far more than any real project's groups or a group's
	// instances need (100 000 of either).
	const maxRequests = 1000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > maxRequests {
					cancel()
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: "HOSTILEAK0000001", SecretKey: "hostile-secret-0001"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{Endpoint: srv.URL, ProjectID: "p", Credentials: creds, CallTimeout: time.Second,
				Backoff: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}, Logger: zerolog.New(zerolog.NewTestWriter(t))})
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func() error{
				"ListGroups":    func() error { _, err := c.ListGroups(ctx); return err },
				"ListInstances": func() error { _, err := c.ListInstances(ctx, "g"); return err },
			} {
				n.Store(0)
				err := call()
				if ctx.Err() != nil {
					t.Fatalf("%s: still paging after %d requests", name, maxRequests)
				}
				if err == nil {
					t.Errorf("%s: no error from an AS whose pages do not add up", name)
				}
			}
		})
	}
}

func repeatJSON(item string, n int) string {
	out := item
	for range n - 1 {
		out += "," + item
	}
	return out
}
