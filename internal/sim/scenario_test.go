package sim

import (
	"strings"
	"testing"
	"time"
)

// A scenario file names groups, hooks, instances and the local instance;
// defaults fill what it leaves out, and held instances start held by every
// hook of the matching type.
func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`
project_id: p1
local_instance: i-1
groups:
  - id: g1
    hooks:
      - {name: boot, type: INSTANCE_LAUNCHING, default_result: CONTINUE, default_timeout: 120}
      - {name: warm, type: INSTANCE_LAUNCHING}
      - {name: drain, type: INSTANCE_TERMINATING}
    instances:
      - {id: i-1, held: true}
      - {id: i-2}
      - {id: i-3, state: REMOVING_WAIT}
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Region != DefaultRegion || sc.Groups[0].Name != "g1" || sc.Groups[0].Hooks[1].DefaultTimeout != 3600 {
		t.Errorf("defaults not filled: %+v", sc)
	}
	ts := newTestSim(t, func(o *Options) { o.Scenario = sc })
	cases := []struct {
		id        string
		wantState string
		wantHooks []string
	}{
		{"i-1", StatePendingWait, []string{"boot", "warm"}},
		{"i-2", StateInService, nil},
		{"i-3", StateRemovingWait, []string{"drain"}},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			st, ok := ts.Instance("g1", tc.id)
			if !ok || st.LifeCycleState != tc.wantState {
				t.Fatalf("state %q (found %v), want %s", st.LifeCycleState, ok, tc.wantState)
			}
			var names []string
			for _, h := range st.Hooks {
				names = append(names, h.Name)
				if h.Status != "HANGING" {
					t.Errorf("hook %s status %s", h.Name, h.Status)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.wantHooks, ",") {
				t.Errorf("hooks %v, want %v", names, tc.wantHooks)
			}
		})
	}
	if st, _ := ts.Instance("g1", "i-1"); !st.Hooks[0].Timeout.Equal(testStart.Add(120 * time.Second)) {
		t.Errorf("boot timeout %v, want start+120s", st.Hooks[0].Timeout)
	}
}

// Bad scenarios fail with an error that names the key, so a typo in a
// scenario file is found at once.
func TestParseScenarioErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "projectid: x\n", "field projectid not found"},
		{"bad hook type", "groups: [{id: g, hooks: [{name: h, type: LAUNCH}]}]", "groups[0].hooks[0]: lifecycle_hook_type"},
		{"bad hook name", "groups: [{id: g, hooks: [{name: 'a b', type: INSTANCE_LAUNCHING}]}]", "lifecycle_hook_name"},
		{"bad result", "groups: [{id: g, hooks: [{name: h, type: INSTANCE_LAUNCHING, default_result: EXTEND}]}]", "default_result"},
		{"timeout too long", "groups: [{id: g, hooks: [{name: h, type: INSTANCE_LAUNCHING, default_timeout: 86401}]}]", "default_timeout 86401"},
		{"duplicate hook", "groups: [{id: g, hooks: [{name: h, type: INSTANCE_LAUNCHING}, {name: h, type: INSTANCE_TERMINATING}]}]", "duplicate hook"},
		{"six hooks", "groups: [{id: g, hooks: [{name: a, type: INSTANCE_LAUNCHING}, {name: b, type: INSTANCE_LAUNCHING}, {name: c, type: INSTANCE_LAUNCHING}, {name: d, type: INSTANCE_LAUNCHING}, {name: e, type: INSTANCE_LAUNCHING}, {name: f, type: INSTANCE_LAUNCHING}]}]", "at most 5"},
		{"duplicate group", "groups: [{id: g}, {id: g}]", "duplicate group"},
		{"instance in two groups", "groups: [{id: g, instances: [{id: i}]}, {id: h, instances: [{id: i}]}]", `already in group "g"`},
		{"held in service", "groups: [{id: g, instances: [{id: i, state: INSERVICE, held: true}]}]", "held needs state"},
		{"bad state", "groups: [{id: g, instances: [{id: i, state: RUNNING}]}]", `instances[0].state "RUNNING"`},
		{"missing group id", "groups: [{name: g}]", `groups[0].id ""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The minimum hook timeout is an option: New rejects scenario hooks below
// it, and accepts short ones when it is lowered (for fast end-to-end runs).
func TestScenarioMinHookTimeout(t *testing.T) {
	sc := DefaultScenario()
	sc.Groups[0].Hooks[0].DefaultTimeout = 5
	if _, err := New(Options{Scenario: sc}); err == nil || !strings.Contains(err.Error(), "default_timeout 5: want 60..86400") {
		t.Errorf("default minimum: err %v", err)
	}
	if _, err := New(Options{Scenario: sc, MinHookTimeout: 2 * time.Second}); err != nil {
		t.Errorf("MinHookTimeout 2s: %v", err)
	}
	if sc.Groups[0].Hooks[1].DefaultResult != ResultAbandon || sc.Region != DefaultRegion {
		t.Errorf("New changed the caller's scenario")
	}
}

// The ready-made scenario holds the local instance in PENDING_WAIT with the
// launch hook, as on a real boot, and the hook's timeout applies ABANDON by
// itself, which removes the instance.
func TestDefaultScenarioTimesOut(t *testing.T) {
	ts := newTestSim(t)
	st, ok := ts.Instance(DefaultGroupID, ts.LocalInstanceID())
	if !ok || st.LifeCycleState != StatePendingWait || len(st.Hooks) != 1 || st.Hooks[0].Name != DefaultLaunchHook {
		t.Fatalf("at start: %+v (found %v)", st, ok)
	}
	ts.clock.Advance(3599 * time.Second)
	if st, _ := ts.Instance(DefaultGroupID, ts.LocalInstanceID()); st.Hooks[0].Status != "HANGING" {
		t.Fatalf("before the timeout: %+v", st)
	}
	ts.clock.Advance(time.Second)
	ts.Sweep()
	if _, ok := ts.Instance(DefaultGroupID, ts.LocalInstanceID()); ok {
		t.Errorf("instance still in the group after its launch hook timed out with ABANDON")
	}
	want := Outcome{Time: testStart.Add(time.Hour), GroupID: DefaultGroupID, InstanceID: DefaultInstanceID,
		Hook: DefaultLaunchHook, HookType: HookLaunch, Result: ResultAbandon, By: ByTimeout}
	if got := ts.Outcomes(); len(got) != 1 || got[0] != want {
		t.Errorf("outcomes %+v, want [%+v]", got, want)
	}
}
