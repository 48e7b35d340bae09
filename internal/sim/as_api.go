package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// AS error codes (reference sheet §3). Where the documentation gives no
// code for a case, the simulator uses AS.0022 "bad request" with a message
// that says what is wrong, and says so at the use.
const (
	codeSystemError     = "AS.0001" // 500: system error, retry
	codeTokenMissing    = "AS.0005" // 401
	codeTokenInvalid    = "AS.0006" // 401
	codeNotFound        = "AS.0007" // 404: resource not found
	codeProjectMismatch = "AS.0008" // 400
	codeBadRequest      = "AS.0022" // 400: bad request body
	codeNoGroup         = "AS.2007" // 400: scaling group does not exist
	codeNoInstance      = "AS.4006" // 400: instance does not exist
	codeBadResult       = "AS.7034" // 400: invalid callback action result
	codeHookQuota       = "AS.7038" // 400: at most 5 hooks per group
	codeEmptyResult     = "AS.7039" // 400: callback action result empty
	codeEmptyObject     = "AS.7040" // 400: callback object empty
	codeNotHanging      = "AS.7042" // 400: callback object does not exist (or is no longer HANGING)

	// The API gateway's code numbers; gatewayCode adds the prefix.
	gwThrottled  = "0308" // 429: throttled
	gwNoSuchAPI  = "0101" // 404: the API does not exist
	gwBadIAMAuth = "0301" // 401: incorrect IAM authentication information
)

// Paging limits of the list APIs.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
	// maxNotificationMetadata is the documented length cap of notification_metadata.
	maxNotificationMetadata = 256
)

// gateway stands for the API gateway in front of the AS API: it throttles,
// authenticates, and checks the project in the path against the
// credentials' project. It answers and returns false when the request stops.
func (s *Sim) gateway(c *call) bool {
	if err := c.readBody(); err != nil {
		c.asError(http.StatusBadRequest, codeBadRequest, "cannot read the request body")
		return false
	}
	project := c.r.PathValue("project_id")
	prefix := s.gatewayPrefix()
	if !s.allow(project) {
		c.gatewayError(http.StatusTooManyRequests, gatewayCode(prefix, gwThrottled), "The throttling threshold has been reached: policy user over ratelimit")
		return false
	}
	if e := s.authenticate(c); e != nil {
		if prefix == GatewayAPIGW {
			c.gatewayError(http.StatusUnauthorized, gatewayCode(prefix, gwBadIAMAuth), "Incorrect IAM authentication information: "+e.msg)
			return false
		}
		c.asError(http.StatusUnauthorized, e.code, e.msg)
		return false
	}
	own := s.ProjectID()
	if project != own || (c.r.Header.Get(headerProjectID) != "" && c.r.Header.Get(headerProjectID) != own) {
		c.asError(http.StatusBadRequest, codeProjectMismatch, "the project ID in the request does not match the token's project")
		return false
	}
	return true
}

// decode reads the JSON body into v; it answers AS.0022 and returns false
// when the body is not valid JSON of the right shape.
func (c *call) decode(v any) bool {
	if err := json.NewDecoder(bytes.NewReader(c.body)).Decode(v); err != nil {
		c.asError(http.StatusBadRequest, codeBadRequest, "the request body is invalid: "+err.Error())
		return false
	}
	return true
}

// lockedGroup locks the state and returns the path's group; without it, it
// answers AS.2007, unlocks and returns nil.
func (s *Sim) lockedGroup(c *call) *group {
	s.mu.Lock()
	g := s.findGroup(c.r.PathValue("group"))
	if g == nil {
		s.mu.Unlock()
		c.asError(http.StatusBadRequest, codeNoGroup, "the scaling group does not exist")
	}
	return g
}

// serveCreateHook is POST /scaling_lifecycle_hook/{group}.
func (s *Sim) serveCreateHook(c *call) {
	var b hookBody
	if !c.decode(&b) {
		return
	}
	if b.Name != nil {
		c.rec.Hook = *b.Name
	}
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	h := &hook{defaultResult: ResultAbandon, timeout: defaultHookTimeout, created: s.now()}
	if b.Name == nil || b.Type == nil || b.NotificationTopicURN == nil {
		c.asError(http.StatusBadRequest, codeBadRequest, "lifecycle_hook_name, lifecycle_hook_type and notification_topic_urn are required")
		return
	}
	h.name = *b.Name
	if err := s.applyHookBody(h, b); err != nil {
		c.asError(http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	// No documented code for a duplicate name: AS.0022.
	if g.hook(h.name) != nil {
		c.asError(http.StatusBadRequest, codeBadRequest, "lifecycle hook "+h.name+" already exists")
		return
	}
	if len(g.hooks) >= maxHooksPerGroup {
		c.asError(http.StatusBadRequest, codeHookQuota, fmt.Sprintf("a scaling group has at most %d lifecycle hooks", maxHooksPerGroup))
		return
	}
	g.hooks = append(g.hooks, h)
	c.json(http.StatusOK, h.toJSON())
}

// applyHookBody sets the body's fields on h and validates the result with
// the documented rules. h is changed only when they pass.
func (s *Sim) applyHookBody(h *hook, b hookBody) error {
	next := *h
	if b.Type != nil {
		next.typ = *b.Type
	}
	if b.DefaultResult != nil {
		next.defaultResult = *b.DefaultResult
	}
	if b.DefaultTimeout != nil {
		next.timeout = *b.DefaultTimeout
	}
	if b.NotificationTopicURN != nil {
		next.topicURN = *b.NotificationTopicURN
		next.topicName = next.topicURN[strings.LastIndex(next.topicURN, ":")+1:]
	}
	if b.NotificationMetadata != nil {
		md := *b.NotificationMetadata
		next.metadata = &md
	}
	if err := checkHookFields(next.name, next.typ, next.defaultResult, next.timeout, s.minHookTimeout); err != nil {
		return err
	}
	if !strings.HasPrefix(next.topicURN, "urn:smn:") {
		return fmt.Errorf("notification_topic_urn %q: want an SMN topic URN (urn:smn:...)", next.topicURN)
	}
	if next.metadata != nil && len(*next.metadata) > maxNotificationMetadata {
		return fmt.Errorf("notification_metadata: %d characters, at most %d", len(*next.metadata), maxNotificationMetadata)
	}
	*h = next
	return nil
}

// serveListHooks is GET /scaling_lifecycle_hook/{group}/list.
func (s *Sim) serveListHooks(c *call) {
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	out := struct {
		Hooks []hookJSON `json:"lifecycle_hooks"`
	}{Hooks: []hookJSON{}}
	for _, h := range g.hooks {
		out.Hooks = append(out.Hooks, h.toJSON())
	}
	c.json(http.StatusOK, out)
}

// lockedHook is lockedGroup plus the path's hook; without it, it answers
// AS.0007 (the documented "resource not found"), unlocks and returns nil.
func (s *Sim) lockedHook(c *call) (*group, *hook) {
	g := s.lockedGroup(c)
	if g == nil {
		return nil, nil
	}
	h := g.hook(c.r.PathValue("hook"))
	if h == nil {
		s.mu.Unlock()
		c.asError(http.StatusNotFound, codeNotFound, "the lifecycle hook does not exist")
		return nil, nil
	}
	return g, h
}

// serveShowHook is GET /scaling_lifecycle_hook/{group}/{hook}.
func (s *Sim) serveShowHook(c *call) {
	_, h := s.lockedHook(c)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	c.json(http.StatusOK, h.toJSON())
}

// serveUpdateHook is PUT /scaling_lifecycle_hook/{group}/{hook}. Changes
// apply to the next hold; instances already held keep their timeout.
func (s *Sim) serveUpdateHook(c *call) {
	var b hookBody
	if !c.decode(&b) {
		return
	}
	_, h := s.lockedHook(c)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	if err := s.applyHookBody(h, b); err != nil {
		c.asError(http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	c.json(http.StatusOK, h.toJSON())
}

// serveDeleteHook is DELETE /scaling_lifecycle_hook/{group}/{hook}.
// Instances the hook holds stay held until answered or timed out.
func (s *Sim) serveDeleteHook(c *call) {
	g, h := s.lockedHook(c)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	for i, x := range g.hooks {
		if x == h {
			g.hooks = append(g.hooks[:i], g.hooks[i+1:]...)
			break
		}
	}
	c.noContent()
}

// serveListHookInstances is GET /scaling_instance_hook/{group}/list, with
// an optional instance_id. It lists every record of every held instance,
// answered ones included: only HANGING means held.
func (s *Sim) serveListHookInstances(c *call) {
	id := c.r.URL.Query().Get("instance_id")
	c.rec.InstanceID = id
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	out := struct {
		Infos []hangingJSON `json:"instance_hanging_info"`
	}{Infos: []hangingJSON{}}
	instances := g.instances
	if id != "" {
		instances = nil
		if in := g.instance(id); in != nil {
			instances = []*instance{in}
		}
	}
	for _, in := range instances {
		for _, r := range in.records {
			out.Infos = append(out.Infos, hangingToJSON(g, in, r))
		}
	}
	c.json(http.StatusOK, out)
}

// serveCallback is PUT /scaling_instance_hook/{group}/callback: CONTINUE,
// ABANDON or EXTEND one HANGING record, named by its action key or by
// instance and hook (the key wins when both are given). 204 on success.
func (s *Sim) serveCallback(c *call) {
	var b callbackBody
	if !c.decode(&b) {
		return
	}
	defer s.noteCallback(c) // runs last: after the answer, and after mu is released
	c.rec.InstanceID, c.rec.Hook, c.rec.Result = b.InstanceID, b.HookName, b.Result
	switch {
	case b.Result == "":
		c.asError(http.StatusBadRequest, codeEmptyResult, "lifecycle_action_result is empty")
		return
	case b.Result != ResultContinue && b.Result != ResultAbandon && b.Result != ResultExtend:
		c.asError(http.StatusBadRequest, codeBadResult, "lifecycle_action_result must be CONTINUE, ABANDON or EXTEND")
		return
	case b.ActionKey == "" && (b.InstanceID == "" || b.HookName == ""):
		c.asError(http.StatusBadRequest, codeEmptyObject, "give lifecycle_action_key, or instance_id and lifecycle_hook_name")
		return
	}
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	in, r, code := findRecord(g, b)
	if r != nil {
		c.rec.InstanceID, c.rec.Hook = in.id, r.hook
	}
	switch {
	case code == codeNoInstance:
		c.asError(http.StatusBadRequest, code, "the instance does not exist in the scaling group")
		return
	case code != "":
		c.asError(http.StatusBadRequest, s.notHeldCode(), "the lifecycle hook callback object does not exist or is not HANGING")
		return
	}
	if b.Result == ResultExtend {
		if code, refused := s.extendRefused(r); refused {
			c.asError(http.StatusBadRequest, code, "the lifecycle hook's timeout cannot be extended any more")
			return
		}
		s.extend(r)
		s.logf("%s lifecycle group=%s instance=%s hook=%s EXTEND to %s",
			formatTime(s.now()), g.id, in.id, r.hook, formatTime(r.timeout))
	} else {
		s.answer(g, in, r, b.Result, ByCallback, s.now())
	}
	if s.loseAnswer(b.Result) {
		s.lose(c)
		return
	}
	c.noContent()
}

// findRecord finds the HANGING record a callback names, or the error code
// to answer: AS.4006 for an instance not in the group, AS.7042 for anything
// else that is not a HANGING record.
func findRecord(g *group, b callbackBody) (*instance, *record, string) {
	if b.ActionKey != "" {
		if in := g.byKey[b.ActionKey]; in != nil {
			for _, r := range in.records {
				if r.key == b.ActionKey {
					return hanging(in, r)
				}
			}
		}
		return nil, nil, codeNotHanging
	}
	in := g.instance(b.InstanceID)
	if in == nil {
		return nil, nil, codeNoInstance
	}
	for _, r := range in.records {
		if r.hook == b.HookName {
			return hanging(in, r)
		}
	}
	return nil, nil, codeNotHanging
}

// hanging returns the record with AS.7042 unless it is HANGING. The
// instance and record are returned either way, so the request record names
// the hook even when the callback is refused.
func hanging(in *instance, r *record) (*instance, *record, string) {
	if r.status != statusHanging {
		return in, r, codeNotHanging
	}
	return in, r, ""
}

// page reads start_number and limit; it answers AS.0022 and returns false
// when they are not numbers in range.
func (c *call) page() (start, limit int, ok bool) {
	q := c.r.URL.Query()
	start, limit = 0, defaultPageLimit
	var err error
	if v := q.Get("start_number"); v != "" {
		if start, err = strconv.Atoi(v); err != nil || start < 0 {
			c.asError(http.StatusBadRequest, codeBadRequest, "start_number must be a number >= 0")
			return 0, 0, false
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 || limit > maxPageLimit {
			c.asError(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("limit must be 0..%d", maxPageLimit))
			return 0, 0, false
		}
		if limit == 0 {
			limit = defaultPageLimit
		}
	}
	return start, limit, true
}

// window returns the [start, start+limit) part of n items as indexes.
func window(n, start, limit int) (int, int) {
	lo := min(start, n)
	return lo, min(lo+limit, n)
}

// serveListGroups is GET /scaling_group with the name (substring) and
// status filters and paging.
func (s *Sim) serveListGroups(c *call) {
	start, limit, ok := c.page()
	if !ok {
		return
	}
	q := c.r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []groupJSON
	for _, g := range s.groups {
		if !s.listedGroup(g, q.Get("enterprise_project_id")) {
			continue
		}
		gj := s.groupToJSON(g)
		if name := q.Get("scaling_group_name"); name != "" && !strings.Contains(gj.Name, name) {
			continue
		}
		if st := q.Get("scaling_group_status"); st != "" && st != gj.Status {
			continue
		}
		all = append(all, gj)
	}
	lo, hi := window(len(all), start, limit)
	c.json(http.StatusOK, groupsPage{TotalNumber: len(all), StartNumber: start, Limit: limit, Groups: append([]groupJSON{}, all[lo:hi]...)})
}

// serveListInstances is GET /scaling_group_instance/{group}/list with the
// life_cycle_state and health_status filters and paging.
func (s *Sim) serveListInstances(c *call) {
	start, limit, ok := c.page()
	if !ok {
		return
	}
	q := c.r.URL.Query()
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	var all []instanceJSON
	for _, in := range g.instances {
		ij := instanceToJSON(g, in)
		if st := q.Get("life_cycle_state"); st != "" && st != ij.LifeCycleState {
			continue
		}
		if hs := q.Get("health_status"); hs != "" && hs != ij.HealthStatus {
			continue
		}
		if q.Get("protect_from_scaling_down") == "true" {
			continue // the simulator never protects instances
		}
		all = append(all, ij)
	}
	lo, hi := window(len(all), start, limit)
	c.json(http.StatusOK, instancesPage{TotalNumber: len(all), StartNumber: start, Limit: limit, Instances: append([]instanceJSON{}, all[lo:hi]...)})
}

// serveInstanceAction is POST /scaling_group_instance/{group}/action with
// ADD (each instance held by every launch hook) or REMOVE (each held by
// every terminate hook). The other actions (PROTECT, standby...) are not
// simulated. 204 on success.
func (s *Sim) serveInstanceAction(c *call) {
	var b actionBody
	if !c.decode(&b) {
		return
	}
	c.rec.InstanceID, c.rec.Result = strings.Join(b.InstanceIDs, ","), b.Action
	if len(b.InstanceIDs) == 0 {
		c.asError(http.StatusBadRequest, codeBadRequest, "instances_id is empty")
		return
	}
	g := s.lockedGroup(c)
	if g == nil {
		return
	}
	defer s.mu.Unlock()
	var err error
	switch b.Action {
	case "ADD":
		err = s.addInstances(g, b.InstanceIDs, s.now())
	case "REMOVE":
		err = s.removeInstances(g, b.InstanceIDs, s.now())
	default:
		err = fmt.Errorf("action %q is not simulated: only ADD and REMOVE are", b.Action)
	}
	var missing errNoInstance
	switch {
	case errors.As(err, &missing):
		c.asError(http.StatusBadRequest, codeNoInstance, err.Error())
	case err != nil:
		// No documented code for an instance in the wrong state or group: AS.0022.
		c.asError(http.StatusBadRequest, codeBadRequest, err.Error())
	default:
		c.noContent()
	}
}
