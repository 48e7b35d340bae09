package sim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// This file is the simulator's side of a scaling action that a person
// starts: what `asagent sim scale-out|scale-in|complete|status` ask of a
// running simulator, through the control path (control_http.go). Each acts
// on the local instance, the one the metadata service reports.

// Caller says who sent a callback.
type Caller string

// The callers the simulator tells apart: a request signed with the
// permanent AK/SK, one signed with the agency's temporary credentials from
// securitykey (what the agent uses on an instance), and a third party
// answering through the control path (`asagent sim complete`).
const (
	CallerPermanentKey Caller = "AS API, permanent AK/SK"
	CallerAgency       Caller = "AS API, agency credentials"
	CallerThirdParty   Caller = "third party (asagent sim complete)"
)

// Callback is one callback the simulator received on a hook, whoever sent
// it, and what it answered. Status is the HTTP status (0: the answer was
// lost on purpose, Unknowns.LostAnswers, after the callback was applied).
type Callback struct {
	Time       time.Time `json:"time"`
	GroupID    string    `json:"scaling_group_id"`
	InstanceID string    `json:"instance_id"`
	Hook       string    `json:"hook"`
	Result     string    `json:"result"` // CONTINUE, ABANDON or EXTEND
	From       Caller    `json:"from"`
	Status     int       `json:"status"`
	ErrorCode  string    `json:"error_code,omitempty"`
}

// Accepted reports whether the callback was applied.
func (cb Callback) Accepted() bool { return cb.Status == 0 || cb.Status/100 == 2 }

// Hold is one hook's hold on an instance, current or ended: its status,
// its deadline (moved by each EXTEND), and how it ended.
type Hold struct {
	GroupID       string       `json:"scaling_group_id"`
	Hook          string       `json:"hook"`
	Type          string       `json:"type"`   // INSTANCE_LAUNCHING or INSTANCE_TERMINATING
	Status        string       `json:"status"` // HANGING, CONTINUE or ABANDON
	DefaultResult string       `json:"default_result"`
	Started       time.Time    `json:"started"`
	Timeout       time.Time    `json:"timeout"`
	Extends       int          `json:"extends"`
	EndedBy       OutcomeCause `json:"ended_by,omitempty"` // callback, timeout or skipped
	EndedAt       time.Time    `json:"ended_at,omitzero"`
}

// StateRemoved is the local instance's state in LocalStatus when it is in
// no group: removed, abandoned at launch, or not added yet. AS itself
// lists no such instance.
const StateRemoved = "REMOVED"

// LocalStatus is the local instance as the control path shows it: its
// life_cycle_state, every hold on it so far and every callback about it.
type LocalStatus struct {
	InstanceID     string     `json:"instance_id"`
	GroupID        string     `json:"scaling_group_id,omitempty"` // empty when REMOVED
	LifeCycleState string     `json:"life_cycle_state"`
	Holds          []Hold     `json:"holds"`
	Callbacks      []Callback `json:"callbacks"`
}

// heldEntry remembers a hold after the instance moved on, for LocalStatus.
type heldEntry struct {
	group, instance string
	rec             *record
}

// StateError is a scaling action or answer that the local instance's
// state does not allow (scale-in of an instance in no group, an answer
// when no hook holds it); it says what to do instead.
type StateError struct{ Msg string }

func (e *StateError) Error() string { return e.Msg }

// refuse returns a StateError with the message.
func refuse(format string, a ...any) error { return &StateError{Msg: fmt.Sprintf(format, a...)} }

// homeGroup is where scale-out adds the local instance: the group the
// scenario puts it in, else the first group.
func homeGroup(sc *Scenario) string {
	for _, g := range sc.Groups {
		for _, in := range g.Instances {
			if in.ID == sc.LocalInstance {
				return g.ID
			}
		}
	}
	if len(sc.Groups) > 0 {
		return sc.Groups[0].ID
	}
	return ""
}

// ScaleOut adds the local instance to its group, as AS does on a scaling
// action: every launch hook holds it in PENDING_WAIT (after
// Unknowns.HoldDelay), or it goes INSERVICE when the group has none. It
// fails with a StateError while the instance is in a group.
func (s *Sim) ScaleOut() (LocalStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	if g, in := s.findInstance(s.local); in != nil {
		return s.localStatus(), refuse("instance %s is %s in group %s; scale-in first", in.id, in.state, g.id)
	}
	g := s.findGroup(s.home)
	if g == nil {
		return s.localStatus(), refuse("the scenario has no group to add instance %s to", s.local)
	}
	if err := s.addInstances(g, []string{s.local}, s.now()); err != nil {
		return s.localStatus(), refuse("%v", err)
	}
	return s.localStatus(), nil
}

// ScaleIn starts removing the local instance, as AS does on a scaling
// action: every terminate hook holds it in REMOVING_WAIT, or it leaves the
// group at once when there is none. It fails with a StateError unless the
// instance is in service.
func (s *Sim) ScaleIn() (LocalStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g, in := s.findInstance(s.local)
	if in == nil {
		return s.localStatus(), refuse("instance %s is in no group; scale-out first", s.local)
	}
	s.home = g.id
	if err := s.removeInstances(g, []string{in.id}, s.now()); err != nil {
		return s.localStatus(), refuse("%v", err)
	}
	return s.localStatus(), nil
}

// Complete answers the local instance's hold as a third party would (an
// operator, another tool): result CONTINUE, ABANDON or EXTEND, on the hook
// named, or on every hook that holds the instance when hook is empty. It
// fails with a StateError when no such hook holds the instance.
func (s *Sim) Complete(hook, result string) (LocalStatus, error) {
	if result != ResultContinue && result != ResultAbandon && result != ResultExtend {
		return LocalStatus{}, fmt.Errorf("result %q: want %s, %s or %s", result, ResultContinue, ResultAbandon, ResultExtend)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g, in := s.findInstance(s.local)
	var targets []*record
	if in != nil {
		for _, r := range in.records {
			if r.status == statusHanging && (hook == "" || r.hook == hook) {
				targets = append(targets, r)
			}
		}
	}
	if len(targets) == 0 {
		what := "no hook"
		if hook != "" {
			what = "hook " + hook + " does not"
		}
		return s.localStatus(), refuse("%s hold instance %s", what, s.local)
	}
	now := s.now()
	for _, r := range targets {
		if r.status != statusHanging {
			continue // an ABANDON of an earlier target ended this hold too
		}
		s.callbacks = append(s.callbacks, Callback{Time: now, GroupID: g.id, InstanceID: in.id, Hook: r.hook,
			Result: result, From: CallerThirdParty, Status: http.StatusNoContent})
		if result == ResultExtend {
			s.extend(r)
			continue
		}
		s.answer(g, in, r, result, ByCallback, now)
	}
	return s.localStatus(), nil
}

// Status returns the local instance's state, holds and callbacks.
func (s *Sim) Status() LocalStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	return s.localStatus()
}

// localStatus builds LocalStatus. The caller holds s.mu.
func (s *Sim) localStatus() LocalStatus {
	st := LocalStatus{InstanceID: s.local, LifeCycleState: StateRemoved, Holds: []Hold{}, Callbacks: []Callback{}}
	if g, in := s.findInstance(s.local); in != nil {
		st.GroupID, st.LifeCycleState = g.id, in.state
	}
	for _, h := range s.holds {
		if h.instance != s.local {
			continue
		}
		r := h.rec
		st.Holds = append(st.Holds, Hold{GroupID: h.group, Hook: r.hook, Type: r.hookType, Status: r.status,
			DefaultResult: r.defaultResult, Started: r.started, Timeout: r.timeout, Extends: r.extends,
			EndedBy: r.endedBy, EndedAt: r.endedAt})
	}
	for _, cb := range s.callbacks {
		if cb.InstanceID == s.local {
			st.Callbacks = append(st.Callbacks, cb)
		}
	}
	return st
}

// Callbacks returns every callback received so far, oldest first: through
// the AS API (past its gateway) and through the control path.
func (s *Sim) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbacks)
}

// noteCallback records a callback that reached the AS API's handler, once
// it has been answered. It takes s.mu.
func (s *Sim) noteCallback(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks = append(s.callbacks, Callback{Time: c.rec.Time, GroupID: c.rec.GroupID, InstanceID: c.rec.InstanceID,
		Hook: c.rec.Hook, Result: c.rec.Result, From: c.caller, Status: c.rec.Status, ErrorCode: c.rec.ErrorCode})
}
