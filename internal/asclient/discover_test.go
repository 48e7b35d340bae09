package asclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asagent/asagent/internal/sim"
)

// manyGroups is a project with more groups than one page holds, and this
// instance deep in the last group, past the first page of its instances.
func manyGroups() *sim.Scenario {
	sc := &sim.Scenario{LocalInstance: "local-instance"}
	for i := range 104 {
		sc.Groups = append(sc.Groups, sim.Group{ID: fmt.Sprintf("group-%03d", i), Instances: []sim.Instance{{ID: fmt.Sprintf("inst-%03d", i)}}})
	}
	last := sim.Group{ID: "group-last", Name: "web"}
	for i := range 230 {
		id := fmt.Sprintf("last-%03d", i)
		if i == 150 {
			id = "local-instance"
		}
		last.Instances = append(last.Instances, sim.Instance{ID: id})
	}
	sc.Groups = append(sc.Groups, last)
	return sc
}

// Discovery walks every page of groups and of each group's instances until
// it finds this instance, caches the answer, trusts the cache next time only
// after AS confirms it, and rediscovers when the cache is wrong.
func TestDiscoverGroup(t *testing.T) {
	e := newEnv(t, envConfig{scenario: manyGroups()})
	ctx := context.Background()
	cache := filepath.Join(t.TempDir(), "state", "scaling-group.json")
	opts := DiscoverOptions{InstanceID: "local-instance", CacheFile: cache}
	count := func(route sim.Route) int { return len(e.sim.RequestsTo(route)) }

	d, err := e.c.DiscoverGroup(ctx, opts)
	if err != nil {
		t.Fatalf("DiscoverGroup: %v", err)
	}
	if want := (Discovery{GroupID: "group-last", GroupName: "web", Source: FoundBySearch}); d != want {
		t.Fatalf("DiscoverGroup = %+v, want %+v", d, want)
	}
	if n := count(sim.RouteListGroups); n != 2 {
		t.Errorf("%d group pages read, want 2 (105 groups, 100 a page)", n)
	}
	if n := count(sim.RouteListInstances); n != 104+2 {
		t.Errorf("%d instance pages read, want 106 (one per small group, two of the last)", n)
	}
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v; want it written with mode 0600", fi, err)
	}

	t.Run("cache confirmed", func(t *testing.T) {
		groups, insts := count(sim.RouteListGroups), count(sim.RouteListInstances)
		d, err := e.c.DiscoverGroup(ctx, opts)
		if err != nil || d.Source != FoundByCache || d.GroupID != "group-last" {
			t.Fatalf("DiscoverGroup = %+v, %v; want group-last from the cache", d, err)
		}
		if count(sim.RouteListGroups) != groups || count(sim.RouteListInstances) != insts+2 {
			t.Errorf("cache check read %d group and %d instance pages, want 0 and 2",
				count(sim.RouteListGroups)-groups, count(sim.RouteListInstances)-insts)
		}
	})
	t.Run("cache for another instance", func(t *testing.T) {
		d, err := e.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "inst-007", CacheFile: cache})
		if err != nil || d.GroupID != "group-007" || d.Source != FoundBySearch {
			t.Fatalf("DiscoverGroup = %+v, %v; want group-007 discovered", d, err)
		}
	})
	t.Run("cached group deleted", func(t *testing.T) {
		stale := fmt.Sprintf(`{"project_id":%q,"instance_id":"local-instance","scaling_group_id":"group-gone"}`, e.sim.ProjectID())
		if err := os.WriteFile(cache, []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := e.c.DiscoverGroup(ctx, opts)
		if err != nil || d.GroupID != "group-last" || d.Source != FoundBySearch {
			t.Fatalf("DiscoverGroup = %+v, %v; want group-last rediscovered", d, err)
		}
		if r := e.sim.RequestsTo(sim.RouteListInstances); !strings.Contains(fmt.Sprint(r), "AS.2007") {
			t.Errorf("the stale group was not checked against AS")
		}
	})
	t.Run("cache garbled", func(t *testing.T) {
		if err := os.WriteFile(cache, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if d, err := e.c.DiscoverGroup(ctx, opts); err != nil || d.GroupID != "group-last" {
			t.Fatalf("DiscoverGroup = %+v, %v", d, err)
		}
	})
	t.Run("config wins", func(t *testing.T) {
		before := len(e.asRequests())
		d, err := e.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "local-instance", GroupID: "group-007", CacheFile: cache})
		if err != nil || d != (Discovery{GroupID: "group-007", Source: FoundByConfig}) {
			t.Fatalf("DiscoverGroup = %+v, %v", d, err)
		}
		if n := len(e.asRequests()) - before; n != 0 {
			t.Errorf("%d AS requests with a configured group, want 0", n)
		}
	})
	t.Run("in no group", func(t *testing.T) {
		_, err := e.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "stray"})
		var nig *NotInGroupError
		if !errors.As(err, &nig) {
			t.Fatalf("DiscoverGroup(stray) = %v, want *NotInGroupError", err)
		}
		want := fmt.Sprintf("instance stray is in no scaling group of project %s", e.sim.ProjectID())
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to say %q", err, want)
		}
	})
}
