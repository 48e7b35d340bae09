package cloud

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// countingObserver records what it is told.
type countingObserver struct {
	mu       sync.Mutex
	requests []string // operation/status
	fetches  []error
}

func (c *countingObserver) ASRequest(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, op+"/"+http.StatusText(status))
}

func (c *countingObserver) CredentialsFetched(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetches = append(c.fetches, err)
}

// Each path the agent calls maps to its operation; anything else is other.
func TestASOperation(t *testing.T) {
	const p = "/autoscaling-api/v1/proj"
	for _, tc := range []struct {
		method, path, want string
	}{
		{"GET", p + "/scaling_instance_hook/g-1/list", OpListHeldHooks},
		{"PUT", p + "/scaling_instance_hook/g-1/callback", OpCallback},
		{"GET", p + "/scaling_lifecycle_hook/g-1/list", OpListHooks},
		{"GET", p + "/scaling_lifecycle_hook/g-1/boot", OpShowHook},
		{"GET", p + "/scaling_group", OpListGroups},
		{"GET", p + "/scaling_group_instance/g-1/list", OpListInstances},
		{"POST", p + "/scaling_lifecycle_hook/g-1", OpOther},
		{"DELETE", p + "/scaling_lifecycle_hook/g-1/boot", OpOther},
		{"GET", p + "/scaling_group/g-1", OpOther},
		{"GET", "/openstack/latest/meta_data.json", OpOther},
		{"GET", "/", OpOther},
	} {
		if got := asOperation(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	ops := map[string]bool{}
	for _, op := range ASOperations() {
		ops[op] = true
	}
	for _, op := range []string{OpListHeldHooks, OpCallback, OpListHooks, OpShowHook, OpListGroups, OpListInstances, OpOther} {
		if !ops[op] {
			t.Errorf("ASOperations lacks %s", op)
		}
	}
}

// The transport wrapper tells of every request with the answer's status,
// or 0 when none came; without an observer there is no wrapper at all.
func TestObservedTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	obs := &countingObserver{}
	rt := wrapAS(obs)(http.DefaultTransport)
	req, _ := http.NewRequest("GET", srv.URL+"/autoscaling-api/v1/p/scaling_instance_hook/g/list", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = http.NewRequestWithContext(ctx, "PUT", srv.URL+"/autoscaling-api/v1/p/scaling_instance_hook/g/callback", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	want := []string{"list_held_hooks/Too Many Requests", "callback/"}
	if len(obs.requests) != 2 || obs.requests[0] != want[0] || obs.requests[1] != want[1] {
		t.Errorf("told %q, want %q", obs.requests, want)
	}
	if wrapAS(nil) != nil || fetched(nil) != nil {
		t.Error("a hook without an observer")
	}
}
