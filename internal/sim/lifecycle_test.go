package sim

import (
	"net/http"
	"testing"
	"time"
)

// twoHooks is a scenario with one group and two hooks of each type, the
// shorter-timeout hook first.
func twoHooks(o *Options) {
	o.Scenario = &Scenario{Groups: []Group{{ID: "g1", Hooks: []Hook{
		{Name: "l1", Type: HookLaunch, DefaultTimeout: 60},
		{Name: "l2", Type: HookLaunch, DefaultTimeout: 120},
		{Name: "t1", Type: HookTerminate, DefaultTimeout: 60},
		{Name: "t2", Type: HookTerminate, DefaultTimeout: 120},
	}}}}
}

// step is one callback in a lifecycle scenario.
type step struct {
	hook, result string
}

// Several hooks of one type hold an instance together, and the instance
// moves on only as the documented semantics say: launch needs every hook
// to CONTINUE and leaves at once on any ABANDON; terminate removes the
// instance once every hook is answered, or at once on ABANDON, which skips
// the remaining hooks. Answered records stay listed while the instance
// waits, with their result as status.
func TestSeveralHooksHoldTogether(t *testing.T) {
	cases := []struct {
		name      string
		terminate bool
		steps     []step
		// after each step: the instance's state ("" = gone) and the statuses of hook 1 and 2
		wantStates []string
		wantStatus [][2]string
		wantSkip   bool // the last hook's outcome is "skipped"
	}{
		{"launch: both CONTINUE", false, []step{{"l1", ResultContinue}, {"l2", ResultContinue}},
			[]string{StatePendingWait, StateInService}, [][2]string{{"CONTINUE", "HANGING"}, {}}, false},
		{"launch: ABANDON removes at once", false, []step{{"l1", ResultAbandon}},
			[]string{""}, [][2]string{{}}, true},
		{"launch: CONTINUE then ABANDON", false, []step{{"l2", ResultContinue}, {"l1", ResultAbandon}},
			[]string{StatePendingWait, ""}, [][2]string{{"HANGING", "CONTINUE"}, {}}, false},
		{"terminate: both CONTINUE", true, []step{{"t1", ResultContinue}, {"t2", ResultContinue}},
			[]string{StateRemovingWait, ""}, [][2]string{{"CONTINUE", "HANGING"}, {}}, false},
		{"terminate: ABANDON skips the rest", true, []step{{"t1", ResultAbandon}},
			[]string{""}, [][2]string{{}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newSDKSim(t, twoHooks)
			c := ts.client(t)
			if err := ts.AddInstances("g1", "i-1"); err != nil {
				t.Fatal(err)
			}
			if tc.terminate {
				for _, h := range []string{"l1", "l2"} {
					if err := callback(c, "g1", "", "i-1", h, ResultContinue); err != nil {
						t.Fatal(err)
					}
				}
				if err := ts.RemoveInstances("g1", "i-1"); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range tc.steps {
				if err := callback(c, "g1", "", "i-1", s.hook, s.result); err != nil {
					t.Fatalf("%s %s: %v", s.hook, s.result, err)
				}
				st, ok := ts.Instance("g1", "i-1")
				if !ok {
					st.LifeCycleState = ""
				}
				if st.LifeCycleState != tc.wantStates[i] {
					t.Fatalf("after %s %s: state %q, want %q", s.hook, s.result, st.LifeCycleState, tc.wantStates[i])
				}
				var got [2]string
				for j, h := range st.Hooks {
					got[j] = h.Status
				}
				if got != tc.wantStatus[i] {
					t.Errorf("after %s %s: statuses %v, want %v", s.hook, s.result, got, tc.wantStatus[i])
				}
				// The hanging list shows the same records (answered ones too).
				if recs := hangingList(t, c, "g1", "i-1"); len(recs) != len(st.Hooks) {
					t.Errorf("hanging list has %d records, state has %d", len(recs), len(st.Hooks))
				}
			}
			out := ts.Outcomes()
			if last := out[len(out)-1]; (last.By == BySkip) != tc.wantSkip {
				t.Errorf("last outcome %+v, want skipped=%v", last, tc.wantSkip)
			}
		})
	}
}

// A callback is accepted only while its hook is HANGING: a hook answered
// while another still holds the instance refuses a second answer.
func TestCallbackOnlyWhileHanging(t *testing.T) {
	ts := newSDKSim(t, twoHooks)
	c := ts.client(t)
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	if err := callback(c, "g1", "", "i-1", "l1", ResultContinue); err != nil {
		t.Fatal(err)
	}
	for _, result := range []string{ResultContinue, ResultAbandon, ResultExtend} {
		wantSDKError(t, callback(c, "g1", "", "i-1", "l1", result), http.StatusBadRequest, "AS.7042")
	}
	if st, _ := ts.Instance("g1", "i-1"); st.LifeCycleState != StatePendingWait || st.Hooks[1].Status != "HANGING" {
		t.Errorf("refused callbacks changed the state: %+v", st)
	}
}

// EXTEND moves the timeout forward by the configured step each time, and
// the timeout then applies at the new time, not the old one.
func TestExtendMovesTimeout(t *testing.T) {
	ts := newSDKSim(t, twoHooks, func(o *Options) { o.ExtendBy = 30 * time.Second })
	c := ts.client(t)
	start := ts.fake().Now()
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := callback(c, "g1", "", "i-1", "l1", ResultExtend); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := ts.Instance("g1", "i-1")
	if want := start.Add(60*time.Second + 2*30*time.Second); !st.Hooks[0].Timeout.Equal(want) || st.Hooks[0].Extends != 2 {
		t.Fatalf("after two EXTENDs: timeout %v extends %d, want %v and 2", st.Hooks[0].Timeout, st.Hooks[0].Extends, want)
	}
	ts.fake().Advance(60 * time.Second) // the original timeout
	if st, _ := ts.Instance("g1", "i-1"); st.Hooks[0].Status != "HANGING" {
		t.Fatalf("timed out at the original timeout: %+v", st.Hooks[0])
	}
	ts.fake().Advance(60 * time.Second) // the extended one; l2 times out too
	if _, ok := ts.Instance("g1", "i-1"); ok {
		t.Errorf("still in the group after the extended timeout applied ABANDON")
	}
}

// Timeouts apply in timeout order: the earlier hook's ABANDON removes the
// instance, and the later hook, which timed out in the same sweep, is
// skipped rather than applied twice.
func TestTimeoutsApplyInOrder(t *testing.T) {
	ts := newSDKSim(t, twoHooks)
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	ts.fake().Advance(5 * time.Minute)
	out := ts.Outcomes()
	if len(out) != 2 || out[0].Hook != "l1" || out[0].By != ByTimeout || out[1].Hook != "l2" || out[1].By != BySkip {
		t.Fatalf("outcomes %+v", out)
	}
	if want := ts.fake().Now().Add(-5*time.Minute + 60*time.Second); !out[0].Time.Equal(want) {
		t.Errorf("outcome time %v, want the timeout %v", out[0].Time, want)
	}
}

// Without hooks of the matching type an instance does not wait: ADD puts
// it in service and REMOVE takes it out at once.
func TestNoHooksNoWait(t *testing.T) {
	ts := newTestSim(t, emptyGroup)
	if err := ts.AddInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := ts.Instance("g1", "i-1"); st.LifeCycleState != StateInService {
		t.Fatalf("after ADD: %+v", st)
	}
	if err := ts.RemoveInstances("g1", "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.Instance("g1", "i-1"); ok {
		t.Errorf("still in the group after REMOVE")
	}
}

// The control methods refuse what the API refuses: an unknown group, an
// instance already in a group, removing one that is not in service.
func TestControlErrors(t *testing.T) {
	ts := newTestSim(t)
	cases := []struct {
		name string
		err  error
	}{
		{"add to unknown group", ts.AddInstances("nope", "i-9")},
		{"add twice", ts.AddInstances(DefaultGroupID, DefaultInstanceID)},
		{"remove while held", ts.RemoveInstances(DefaultGroupID, DefaultInstanceID)},
		{"remove unknown", ts.RemoveInstances(DefaultGroupID, "i-9")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Error("no error")
			}
		})
	}
}
