package metadata

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// Options.Fetched is told of every fetch of the agency's credentials,
// whether it worked or not, and of nothing served from the cache.
func TestFetchedToldOfEachFetch(t *testing.T) {
	var mu sync.Mutex
	var told []bool // worked?
	e := newEnv(t, nil, func(o *Options) {
		o.Fetched = func(err error) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, err == nil)
		}
	})
	a := e.c.AgencyCredentials(0)
	ctx := context.Background()
	cur, err := a.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Credentials(ctx); err != nil { // cached
		t.Fatal(err)
	}
	e.sim.SetFault(sim.RouteSecurityKey, sim.Fault{ErrorRate: 1})
	e.clock.Advance(cur.ExpiresAt.Sub(e.clock.Now()) - 10*time.Minute)
	if _, err := a.Credentials(ctx); err != nil { // refresh fails, cached ones still valid
		t.Fatal(err)
	}
	e.sim.SetFault(sim.RouteSecurityKey, sim.Fault{})
	e.clock.Advance(time.Minute)
	if _, err := a.Credentials(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{true, false, true}; len(told) != len(want) || told[0] != want[0] || told[1] != want[1] || told[2] != want[2] {
		t.Errorf("told %v, want %v", told, want)
	}
}
