package asclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/syncbuf"
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

// hostileRecord is a hanging record for i-1 in g-1 with one field replaced.
func hostileRecord(field, value string) string {
	rec := map[string]string{
		"instance_id": "i-1", "scaling_group_id": "g-1", "lifecycle_hook_name": "boot",
		"lifecycle_action_key": "6ebe6e72-0e2c-4a3b-9c1d-2e3f4a5b6c7d", "default_result": "ABANDON",
		"timeout": "2026-03-01T13:00:00Z", "lifecycle_hook_status": "HANGING",
	}
	rec[field] = value
	b, _ := json.Marshal(map[string]any{"instance_hanging_info": []map[string]string{rec}})
	return string(b)
}

// IDs and names from AS are checked against its documented formats when
// they enter: a NUL, a '/', an escape sequence, a newline or a huge value
// in a held hook makes the answer an error that shows the value escaped,
// never a hook handed to the engine (and from there to a script's
// arguments, a request path or `asagent status`).
func TestHostileHeldHooksRefused(t *testing.T) {
	cases := []struct{ field, value string }{
		{"lifecycle_hook_name", "boot\x00x"},
		{"lifecycle_hook_name", "../../etc"},
		{"lifecycle_hook_name", "boot\x1b[2J\nlaunch: done"},
		{"lifecycle_hook_name", strings.Repeat("h", 200_000)},
		{"lifecycle_hook_name", ""},
		{"instance_id", "i-1/../i-2"},
		{"scaling_group_id", "../../../../v3/evil?x=1#frag"},
		{"lifecycle_action_key", "key with spaces"},
		{"default_result", "CONTINUE\n"},
		{"timeout", strings.Repeat("2026", 100)},
	}
	for _, tc := range cases {
		t.Run(tc.field+" "+strconv.QuoteToASCII(truncate(tc.value, 20)), func(t *testing.T) {
			c, _ := hostileClient(t, func(string) string { return hostileRecord(tc.field, tc.value) })
			// instance_id "i-1/../i-2" is not i-1: ask for every instance,
			// so that it is checked rather than skipped as another's.
			held, err := c.HeldHooks(context.Background(), "g-1", "")
			var ae *Error
			if !errors.As(err, &ae) || ae.Retryable() || len(held) != 0 {
				t.Fatalf("HeldHooks = %+v, %v; want a final error and no hooks", held, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\x00\x1b\n") || len(msg) > 1000 || !strings.Contains(msg, "is not valid") {
				t.Errorf("error message %q: want the value escaped and short", truncate(msg, 300))
			}
		})
	}
}

// A hostile group ID in a group listing is skipped with a warning, and no
// request is ever made to the path it would build; the instance is still
// found in its real group. A group ID from the caller or the configuration
// is checked the same way before anything is sent.
func TestHostileGroupIDs(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	c, logs := hostileClient(t, func(path string) string {
		mu.Lock()
		paths = append(paths, path)
		mu.Unlock()
		switch {
		case strings.HasSuffix(path, "/scaling_group"):
			return `{"scaling_groups":[{"scaling_group_id":"../../../../v3/evil?x=1#frag"},{"scaling_group_id":"g-real"}],"total_number":2}`
		case strings.Contains(path, "/g-real/"):
			return `{"scaling_group_instances":[{"instance_id":"i-\u0000evil"},{"instance_id":"i-1"}],"total_number":2}`
		}
		return `{}`
	})
	d, err := c.DiscoverGroup(context.Background(), DiscoverOptions{InstanceID: "i-1"})
	if err != nil || d.GroupID != "g-real" {
		t.Fatalf("DiscoverGroup = %+v, %v; want g-real", d, err)
	}
	for _, p := range paths {
		if strings.Contains(p, "evil") || strings.Contains(p, "/v3/") {
			t.Errorf("a request went to %q", p)
		}
	}
	if !strings.Contains(logs.String(), "skipping a scaling group") || strings.Contains(logs.String(), "\x00") {
		t.Errorf("log lacks the warning or holds a raw NUL:\n%s", logs.String())
	}
	mu.Lock()
	paths = nil
	mu.Unlock()
	for name, call := range map[string]func() error{
		"HeldHooks": func() error { _, err := c.HeldHooks(context.Background(), "../x", "i-1"); return err },
		"ListHooks": func() error { _, err := c.ListHooks(context.Background(), "g/../x"); return err },
		"Callback": func() error {
			return c.Callback(context.Background(), Callback{GroupID: "g-1", InstanceID: "i-1", HookName: "h\x00", Result: Continue})
		},
		"configured group": func() error {
			_, err := c.DiscoverGroup(context.Background(), DiscoverOptions{InstanceID: "i-1", GroupID: "g?x=1"})
			return err
		},
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "is not valid") {
			t.Errorf("%s with a bad ID = %v, want it refused", name, err)
		}
	}
	if len(paths) != 0 {
		t.Errorf("requests sent for refused IDs: %q", paths)
	}
}

// hostileClient is a client of a server that answers answer(path) to
// every request, with its log.
func hostileClient(t *testing.T, answer func(path string) string) (*Client, *syncbuf.Buffer) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer(r.URL.Path)))
	}))
	t.Cleanup(srv.Close)
	creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: "HOSTILEAK0000001", SecretKey: "hostile-secret-0001"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	c, err := New(Options{Endpoint: srv.URL, ProjectID: "p", Credentials: creds, CallTimeout: time.Second,
		Backoff: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}, Logger: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}
