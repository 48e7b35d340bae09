package sim

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"time"
)

// maxHooksPerGroup is the documented quota: a group has at most 5 hooks (AS.7038).
const maxHooksPerGroup = 5

// group is a scaling group's state.
type group struct {
	id, name          string
	enterpriseProject string
	created           time.Time
	hooks             []*hook     // creation order, which is the order the list API returns
	instances         []*instance // join order
	// byID and byKey index instances by ID and by the action keys of their
	// records, so that a request naming one instance costs the same in a
	// group of ten thousand as in a group of ten. setRecords keeps byKey.
	byID  map[string]*instance
	byKey map[string]*instance
}

// newGroup returns an empty group.
func newGroup(id, name, enterpriseProject string, created time.Time) *group {
	return &group{id: id, name: name, enterpriseProject: enterpriseProject, created: created,
		byID: map[string]*instance{}, byKey: map[string]*instance{}}
}

// join appends the instance to the group.
func (g *group) join(in *instance) {
	g.instances = append(g.instances, in)
	g.byID[in.id] = in
}

// setRecords replaces the instance's records, keeping the key index.
func (g *group) setRecords(in *instance, records []*record) {
	for _, r := range in.records {
		delete(g.byKey, r.key)
	}
	in.records = records
	for _, r := range records {
		g.byKey[r.key] = in
	}
}

// hook is a lifecycle hook's configuration. Changes apply to the next hold;
// an instance already held keeps the timeout and default result it got.
type hook struct {
	name, typ, defaultResult string
	timeout                  int // seconds
	topicURN, topicName      string
	metadata                 *string // null in the API when never set
	created                  time.Time
}

// instance is a group member. records is non-empty only while it is held
// (PENDING_WAIT or REMOVING_WAIT): one per hook of the matching type.
type instance struct {
	id, state string
	created   time.Time
	records   []*record
	// holdAt is when a PENDING instance is to be held by the launch hooks
	// (Unknowns.HoldDelay); zero when no hold is due.
	holdAt time.Time
}

// record is one hook holding one instance: what the hanging-instances API
// lists. It stays listed after it is answered, with status CONTINUE or
// ABANDON, until the instance leaves the wait state, as the API allows.
type record struct {
	hook, hookType string
	key            string // lifecycle_action_key
	defaultResult  string
	status         string // HANGING, CONTINUE or ABANDON
	timeout        time.Time
	extends        int
	// started is when the hold began; endedBy and endedAt say how and when
	// it ended (zero while HANGING).
	started time.Time
	endedBy OutcomeCause
	endedAt time.Time
}

// Lifecycle hook statuses.
const (
	statusHanging = "HANGING"
)

// OutcomeCause says how a hook's hold on an instance ended.
type OutcomeCause string

// How a hold ends: a callback answered it, its timeout applied the
// default_result, or another hook's ABANDON ended the hold first (a launch
// ABANDON removes the instance; a terminate ABANDON skips the remaining
// hooks, per the reference).
const (
	ByCallback OutcomeCause = "callback"
	ByTimeout  OutcomeCause = "timeout"
	BySkip     OutcomeCause = "skipped"
)

// Outcome is how one hook's hold on one instance ended.
type Outcome struct {
	Time       time.Time
	GroupID    string
	InstanceID string
	Hook       string
	HookType   string
	// Result is CONTINUE or ABANDON; for a skipped hook, the ABANDON that skipped it.
	Result string
	By     OutcomeCause
}

// InstanceState is an instance's state as a test sees it.
type InstanceState struct {
	ID, GroupID    string
	LifeCycleState string // INSERVICE, PENDING_WAIT, REMOVING_WAIT, STANDBY
	Hooks          []HookState
}

// HookState is one hook's hold on an instance: its lifecycle_hook_status,
// timeout and how often it was extended.
type HookState struct {
	Name, Type    string
	ActionKey     string
	Status        string // HANGING, CONTINUE or ABANDON
	DefaultResult string
	Timeout       time.Time
	Extends       int
}

// load builds the state from a validated scenario; held instances get their
// records with timeouts counted from now.
func (s *Sim) load(sc *Scenario) {
	now := s.now()
	s.project, s.region, s.zone = sc.ProjectID, sc.Region, sc.AvailabilityZone
	s.local, s.userData = sc.LocalInstance, sc.UserData
	for _, sg := range sc.Groups {
		g := newGroup(sg.ID, sg.Name, sg.EnterpriseProjectID, now)
		for _, h := range sg.Hooks {
			g.hooks = append(g.hooks, &hook{
				name: h.Name, typ: h.Type, defaultResult: h.DefaultResult, timeout: h.DefaultTimeout,
				topicURN: defaultTopicURN(s.region, s.project), topicName: defaultTopicName, created: now,
			})
		}
		s.groups = append(s.groups, g)
		for _, in := range sg.Instances {
			inst := &instance{id: in.ID, state: StateInService, created: now}
			g.join(inst)
			switch in.State {
			case StatePendingWait:
				s.holdAfterDelay(g, inst, sc.Unknowns.HoldDelay, now)
			case StateRemovingWait:
				s.hold(g, inst, HookTerminate, now)
			default:
				inst.state = in.State
			}
		}
	}
}

// defaultTopicName is the SMN topic of hooks the scenario defines.
const defaultTopicName = "asagent-sim"

func defaultTopicURN(region, project string) string {
	return "urn:smn:" + region + ":" + project + ":" + defaultTopicName
}

// findGroup returns the group with the ID, or nil.
func (s *Sim) findGroup(id string) *group {
	for _, g := range s.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// findInstance returns the group holding the instance and the instance, or nils.
func (s *Sim) findInstance(id string) (*group, *instance) {
	for _, g := range s.groups {
		if in := g.instance(id); in != nil {
			return g, in
		}
	}
	return nil, nil
}

func (g *group) instance(id string) *instance { return g.byID[id] }

func (g *group) hook(name string) *hook {
	for _, h := range g.hooks {
		if h.name == name {
			return h
		}
	}
	return nil
}

// phaseOf maps a hook type to the wait state it holds instances in.
func phaseOf(hookType string) string {
	if hookType == HookLaunch {
		return StatePendingWait
	}
	return StateRemovingWait
}

// hold puts the instance in the wait state of the hook type, with one
// HANGING record per hook of that type: all hooks trigger together. Without
// such hooks the instance moves on at once.
func (s *Sim) hold(g *group, in *instance, hookType string, now time.Time) {
	in.state = phaseOf(hookType)
	var records []*record
	for _, h := range g.hooks {
		if h.typ != hookType {
			continue
		}
		r := &record{
			hook: h.name, hookType: h.typ, key: newUUID(), defaultResult: h.defaultResult,
			status: statusHanging, timeout: now.Add(time.Duration(h.timeout) * time.Second), started: now,
		}
		records = append(records, r)
		s.holds = append(s.holds, heldEntry{group: g.id, instance: in.id, rec: r})
		s.mayBeDue(r.timeout)
	}
	g.setRecords(in, records)
	s.logf("%s lifecycle group=%s instance=%s %s held by %d hook(s)",
		now.Format(time.RFC3339), g.id, in.id, in.state, len(in.records))
	s.settle(g, in, now)
}

// holdAfterDelay holds a joining instance with the launch hooks, at once or,
// with a delay, at the first sweep after it: until then the instance is
// PENDING and no hook lists it.
func (s *Sim) holdAfterDelay(g *group, in *instance, delay time.Duration, now time.Time) {
	if delay <= 0 {
		s.hold(g, in, HookLaunch, now)
		return
	}
	in.state, in.holdAt = StatePending, now.Add(delay)
	s.mayBeDue(in.holdAt)
	s.logf("%s lifecycle group=%s instance=%s %s; launch hooks hold it at %s",
		now.Format(time.RFC3339), g.id, in.id, in.state, in.holdAt.Format(time.RFC3339))
}

// answer applies a CONTINUE or ABANDON to one HANGING record and lets the
// instance move on if that ended its hold.
func (s *Sim) answer(g *group, in *instance, r *record, result string, by OutcomeCause, at time.Time) {
	r.status, r.endedBy, r.endedAt = result, by, at
	s.outcomes = append(s.outcomes, Outcome{
		Time: at, GroupID: g.id, InstanceID: in.id, Hook: r.hook, HookType: r.hookType, Result: result, By: by,
	})
	s.logf("%s lifecycle group=%s instance=%s hook=%s %s by %s",
		at.Format(time.RFC3339), g.id, in.id, r.hook, result, by)
	s.settle(g, in, at)
}

// extend moves a HANGING record's timeout forward by the configured step.
func (s *Sim) extend(r *record) {
	r.timeout = r.timeout.Add(s.extendBy)
	r.extends++
}

// settle moves a held instance on once its hold is over. Launch: any ABANDON
// removes the instance at once; all CONTINUE puts it in service. Terminate:
// any ABANDON skips the remaining hooks, and the instance is removed once no
// hook holds it.
func (s *Sim) settle(g *group, in *instance, at time.Time) {
	if in.state != StatePendingWait && in.state != StateRemovingWait {
		return
	}
	abandoned := slices.ContainsFunc(in.records, func(r *record) bool { return r.status == ResultAbandon })
	hanging := slices.ContainsFunc(in.records, func(r *record) bool { return r.status == statusHanging })
	switch {
	case abandoned:
		s.skipHanging(g, in, at)
		s.removeInstance(g, in, at)
	case hanging:
		return
	case in.state == StatePendingWait:
		in.state = StateInService
		g.setRecords(in, nil)
		s.logf("%s lifecycle group=%s instance=%s %s", at.Format(time.RFC3339), g.id, in.id, StateInService)
	default:
		s.removeInstance(g, in, at)
	}
}

// skipHanging ends the holds an ABANDON made moot.
func (s *Sim) skipHanging(g *group, in *instance, at time.Time) {
	for _, r := range in.records {
		if r.status != statusHanging {
			continue
		}
		r.status, r.endedBy, r.endedAt = ResultAbandon, BySkip, at
		s.outcomes = append(s.outcomes, Outcome{
			Time: at, GroupID: g.id, InstanceID: in.id, Hook: r.hook, HookType: r.hookType, Result: ResultAbandon, By: BySkip,
		})
	}
}

// removeInstance takes the instance out of the group: it was abandoned at
// launch or its removal completed. The simulator does not model ECS, so the
// instance simply stops existing for the AS API.
func (s *Sim) removeInstance(g *group, in *instance, at time.Time) {
	g.instances = slices.DeleteFunc(g.instances, func(x *instance) bool { return x == in })
	delete(g.byID, in.id)
	g.setRecords(in, nil)
	in.state = StateRemoving
	s.logf("%s lifecycle group=%s instance=%s removed", at.Format(time.RFC3339), g.id, in.id)
}

// Sweep applies every hook timeout up to the clock's now: each HANGING
// record whose timeout has passed gets its hook's default_result, in timeout
// order. It also runs before every request and every control query, so
// calling it is only needed to make the effect happen without one.
func (s *Sim) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
}

// expired is a HANGING record whose timeout has passed.
type expired struct {
	g  *group
	in *instance
	r  *record
}

// sweep looks at every instance only when something may be due: s.due is
// never later than the earliest pending hold or HANGING timeout, so the
// requests in between (nearly all of them) cost nothing here.
func (s *Sim) sweep() {
	now := s.now()
	if !s.dueSet || now.Before(s.due) {
		return
	}
	s.dueSet = false // the scan sets it again from what is still to come
	var due []expired
	for _, g := range s.groups {
		for _, in := range g.instances {
			if !in.holdAt.IsZero() && !in.holdAt.After(now) {
				at := in.holdAt
				in.holdAt = time.Time{}
				s.hold(g, in, HookLaunch, at)
			} else if !in.holdAt.IsZero() {
				s.mayBeDue(in.holdAt)
			}
			for _, r := range in.records {
				switch {
				case r.status != statusHanging:
				case !r.timeout.After(now):
					due = append(due, expired{g, in, r})
				default:
					s.mayBeDue(r.timeout)
				}
			}
		}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].r.timeout.Before(due[j].r.timeout) })
	for _, e := range due {
		// An earlier timeout may have ended this hold already.
		if e.r.status == statusHanging && e.g.instance(e.in.id) == e.in {
			s.answer(e.g, e.in, e.r, e.r.defaultResult, ByTimeout, e.r.timeout)
		}
	}
}

// addInstances joins instances to the group and holds each with every
// launch hook, as POST .../action ADD does.
func (s *Sim) addInstances(g *group, ids []string, now time.Time) error {
	for _, id := range ids {
		if other, _ := s.findInstance(id); other != nil {
			return fmt.Errorf("instance %s is already in scaling group %s", id, other.id)
		}
		if !idPattern.MatchString(id) {
			return fmt.Errorf("instance ID %q is malformed", id)
		}
	}
	for _, id := range ids {
		in := &instance{id: id, state: StatePending, created: now}
		g.join(in)
		s.holdAfterDelay(g, in, s.unknowns.HoldDelay, now)
	}
	return nil
}

// errNoInstance is AS.4006's cause: the instance is not in the group.
type errNoInstance struct{ id string }

func (e errNoInstance) Error() string {
	return "instance " + e.id + " does not exist in the scaling group"
}

// removeInstances holds each instance with every terminate hook, as POST
// .../action REMOVE does. Only instances in service can be removed.
func (s *Sim) removeInstances(g *group, ids []string, now time.Time) error {
	var targets []*instance
	for _, id := range ids {
		in := g.instance(id)
		if in == nil {
			return errNoInstance{id}
		}
		if in.state != StateInService && in.state != StateStandby {
			return fmt.Errorf("instance %s is %s; only instances in service can be removed", id, in.state)
		}
		targets = append(targets, in)
	}
	for _, in := range targets {
		s.hold(g, in, HookTerminate, now)
	}
	return nil
}

// AddInstances joins instances to a group like POST .../action ADD: each is
// held in PENDING_WAIT by every launch hook, or goes INSERVICE when the
// group has none.
func (s *Sim) AddInstances(groupID string, ids ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g := s.findGroup(groupID)
	if g == nil {
		return fmt.Errorf("sim: group %s: %w", groupID, errNoGroup)
	}
	return s.addInstances(g, ids, s.now())
}

// RemoveInstances starts removing instances like POST .../action REMOVE:
// each is held in REMOVING_WAIT by every terminate hook, or leaves the group
// at once when it has none.
func (s *Sim) RemoveInstances(groupID string, ids ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g := s.findGroup(groupID)
	if g == nil {
		return fmt.Errorf("sim: group %s: %w", groupID, errNoGroup)
	}
	return s.removeInstances(g, ids, s.now())
}

// Instance returns an instance's life_cycle_state and each hook's hold on
// it. The second result is false once the instance has left the group
// (abandoned at launch, or removed).
func (s *Sim) Instance(groupID, id string) (InstanceState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g := s.findGroup(groupID)
	if g == nil {
		return InstanceState{}, false
	}
	in := g.instance(id)
	if in == nil {
		return InstanceState{}, false
	}
	st := InstanceState{ID: in.id, GroupID: g.id, LifeCycleState: in.state}
	for _, r := range in.records {
		st.Hooks = append(st.Hooks, HookState{
			Name: r.hook, Type: r.hookType, ActionKey: r.key, Status: r.status,
			DefaultResult: r.defaultResult, Timeout: r.timeout, Extends: r.extends,
		})
	}
	return st, true
}

// mayBeDue notes that something happens at t (a hold, a timeout), so that
// sweep looks at the instances again once t has come.
func (s *Sim) mayBeDue(t time.Time) {
	if !s.dueSet || t.Before(s.due) {
		s.due, s.dueSet = t, true
	}
}

// Outcomes returns how each hook's hold on each instance ended, oldest first.
func (s *Sim) Outcomes() []Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	return slices.Clone(s.outcomes)
}

// newUUID returns a random version-4 UUID, the format of AS's IDs and
// lifecycle action keys.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// GroupIDs returns the IDs of the scaling groups, in scenario order.
func (s *Sim) GroupIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.groups))
	for _, g := range s.groups {
		ids = append(ids, g.id)
	}
	return ids
}

// GroupOf returns the ID of the group the instance is in; false when it is
// in none (never added, abandoned or removed).
func (s *Sim) GroupOf(instanceID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	g, _ := s.findInstance(instanceID)
	if g == nil {
		return "", false
	}
	return g.id, true
}
