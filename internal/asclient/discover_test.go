package asclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// Credentials scoped to enterprise projects see only the default project's
// groups in a plain listing: discovery then lists again with
// enterprise_project_id=all_granted_eps, searches only the groups it has
// not searched yet, and finds the instance there. An instance in no group
// of either listing, or an AS that refuses the parameter, ends in
// NotInGroupError.
func TestDiscoverGroupInEnterpriseProject(t *testing.T) {
	scenario := func() *sim.Scenario {
		return &sim.Scenario{
			LocalInstance: "local-instance",
			Groups: []sim.Group{
				{ID: "g-default", Instances: []sim.Instance{{ID: "other"}}},
				{ID: "g-ep", EnterpriseProjectID: "ep-1", Instances: []sim.Instance{{ID: "local-instance"}}},
			},
			Unknowns: sim.Unknowns{EnterpriseProjectScoped: true},
		}
	}
	ctx := context.Background()
	e := newEnv(t, envConfig{scenario: scenario()})
	d, err := e.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "local-instance"})
	if err != nil || d.GroupID != "g-ep" || d.Source != FoundBySearch {
		t.Fatalf("DiscoverGroup = %+v, %v; want g-ep", d, err)
	}
	if n := len(e.sim.RequestsTo(sim.RouteListGroups)); n != 2 {
		t.Errorf("%d group listings, want 2 (plain, then all_granted_eps)", n)
	}
	for _, r := range e.sim.RequestsTo(sim.RouteListInstances) {
		if r.GroupID == "g-default" && r.Time.After(e.sim.RequestsTo(sim.RouteListGroups)[1].Time) {
			t.Errorf("g-default was searched twice")
		}
	}
	if !strings.Contains(e.logs.String(), "all_granted_eps") {
		t.Error("finding the group among the enterprise projects' groups is not logged")
	}

	_, err = e.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "stray"})
	var nig *NotInGroupError
	if !errors.As(err, &nig) || !nig.EnterpriseProjects || nig.GroupsSearched != 2 ||
		!strings.Contains(err.Error(), "enterprise projects included") {
		t.Fatalf("DiscoverGroup(stray) = %v, want NotInGroupError over both listings", err)
	}

	refusing := newEnv(t, envConfig{scenario: scenario(), wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("enterprise_project_id") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"code":"AS.0022","message":"invalid enterprise_project_id"}}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	_, err = refusing.c.DiscoverGroup(ctx, DiscoverOptions{InstanceID: "local-instance"})
	if !errors.As(err, &nig) || nig.EnterpriseProjects {
		t.Fatalf("DiscoverGroup with all_granted_eps refused = %v, want NotInGroupError from the plain listing", err)
	}
}
