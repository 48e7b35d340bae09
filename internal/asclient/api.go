package asclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// Operation names, as errors and logs show them.
const (
	opListHanging   = "list hanging hooks"
	opCallback      = "lifecycle callback"
	opListHooks     = "list hooks"
	opListGroups    = "list scaling groups"
	opListInstances = "list group instances"
)

// Hook types and results, as AS spells them.
const (
	HookLaunch    = "INSTANCE_LAUNCHING"
	HookTerminate = "INSTANCE_TERMINATING"
	StatusHanging = "HANGING"
)

// Result is a lifecycle callback result.
type Result string

// The callback results.
const (
	Continue Result = "CONTINUE" // let the launch or termination go on
	Abandon  Result = "ABANDON"  // launch: remove the instance; terminate: skip the other hooks
	Extend   Result = "EXTEND"   // keep waiting: AS moves the hook's timeout forward (one hour on Huawei Cloud)
)

// HeldHook is one hook that holds an instance now (lifecycle_hook_status
// HANGING).
type HeldHook struct {
	GroupID       string
	InstanceID    string
	HookName      string
	ActionKey     string // lifecycle_action_key, for the callback
	DefaultResult string // what AS does at the timeout: CONTINUE or ABANDON
	// TimeoutRaw is the "timeout" field as AS sent it. Use Deadline to read it.
	TimeoutRaw string
}

// Deadline parses TimeoutRaw (see ParseTimeout). An error means AS sent a
// time we cannot read: the hook has a deadline we do not know, which the
// engine must treat as such, never as "no deadline".
func (h HeldHook) Deadline() (time.Time, error) {
	t, err := ParseTimeout(h.TimeoutRaw)
	if err != nil {
		return time.Time{}, fmt.Errorf("hook %s on instance %s: %w", h.HookName, h.InstanceID, err)
	}
	return t, nil
}

// ParseTimeout reads a hook's timeout leniently: the documented
// YYYY-MM-DDThh:mm:ssZ, with fractional seconds, with a numeric offset, with
// a space instead of T, or without a zone (taken as UTC). Anything else,
// including an empty string, is an error.
func ParseTimeout(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("AS sent an empty hook timeout")
	}
	layouts := []string{
		time.RFC3339Nano,                     // 2016-11-15T06:43:41Z, .123Z, +08:00
		"2006-01-02T15:04:05.999999999Z0700", // +0800
		"2006-01-02T15:04:05.999999999",      // no zone: UTC
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z0700",
		"2006-01-02 15:04:05.999999999",
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse hook timeout %q (want YYYY-MM-DDThh:mm:ssZ)", s)
}

// HeldHooks lists the hooks that hold instanceID in groupID now. Records of
// hooks already answered (CONTINUE, ABANDON) are left out: AS may list them
// for a while. An empty instanceID lists every held instance of the group.
// A record whose IDs or names are out of AS's documented formats makes the
// whole answer an error (KindFinal): nothing from it reaches a script.
func (c *Client) HeldHooks(ctx context.Context, groupID, instanceID string) ([]HeldHook, error) {
	if err := checkID("scaling group ID", groupID); err != nil {
		return nil, withOp(opListHanging, err)
	}
	if instanceID != "" {
		if err := checkID("instance ID", instanceID); err != nil {
			return nil, withOp(opListHanging, err)
		}
	}
	var out []HeldHook
	err := c.call(ctx, opListHanging, func(ac *as.AsClient) error {
		req := &model.ListHookInstancesRequest{ScalingGroupId: groupID}
		if instanceID != "" {
			req.InstanceId = &instanceID
		}
		resp, err := ac.ListHookInstances(req)
		if err != nil {
			return err
		}
		out = out[:0]
		if resp.InstanceHangingInfo == nil {
			return nil
		}
		for _, r := range *resp.InstanceHangingInfo {
			if r.LifecycleHookStatus == nil || r.LifecycleHookStatus.Value() != StatusHanging {
				continue
			}
			h := heldHookOf(r, groupID)
			if instanceID != "" && h.InstanceID != "" && h.InstanceID != instanceID {
				continue // not ours, whatever the filter did
			}
			if err := h.check(); err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// heldHookOf reads one hanging record; the group is groupID when AS leaves
// it out.
func heldHookOf(r model.InstanceHangingInfos, groupID string) HeldHook {
	h := HeldHook{
		GroupID:       deref(r.ScalingGroupId),
		InstanceID:    deref(r.InstanceId),
		HookName:      deref(r.LifecycleHookName),
		ActionKey:     deref(r.LifecycleActionKey),
		DefaultResult: deref(r.DefaultResult),
		TimeoutRaw:    deref(r.Timeout),
	}
	if h.GroupID == "" {
		h.GroupID = groupID
	}
	return h
}

// maxTimeoutLen bounds a hook's timeout as AS sends it: the documented
// form has 20 characters, with fractions and a zone at most 35.
const maxTimeoutLen = 64

// check refuses a record out of AS's formats.
func (h HeldHook) check() error {
	if err := checkID("AS answered a scaling group ID", h.GroupID); err != nil {
		return err
	}
	if h.InstanceID != "" {
		if err := checkID("AS answered an instance ID", h.InstanceID); err != nil {
			return err
		}
	}
	if err := checkHookName("AS answered a lifecycle hook name", h.HookName); err != nil {
		return err
	}
	if err := checkActionKey("AS answered a lifecycle action key", h.ActionKey); err != nil {
		return err
	}
	if err := checkEnum("AS answered a default result", h.DefaultResult); err != nil {
		return err
	}
	if len(h.TimeoutRaw) > maxTimeoutLen {
		return invalid("AS answered a hook timeout", h.TimeoutRaw, "a time such as 2016-11-15T06:43:41Z")
	}
	return nil
}

// Hook is a lifecycle hook's definition.
type Hook struct {
	Name           string
	Type           string // HookLaunch or HookTerminate
	DefaultResult  string // CONTINUE or ABANDON
	DefaultTimeout time.Duration
}

// ListHooks returns every lifecycle hook of groupID. A hook name or type
// out of AS's formats makes the answer an error.
func (c *Client) ListHooks(ctx context.Context, groupID string) ([]Hook, error) {
	if err := checkID("scaling group ID", groupID); err != nil {
		return nil, withOp(opListHooks, err)
	}
	var out []Hook
	err := c.call(ctx, opListHooks, func(ac *as.AsClient) error {
		resp, err := ac.ListLifeCycleHooks(&model.ListLifeCycleHooksRequest{ScalingGroupId: groupID})
		if err != nil {
			return err
		}
		out = out[:0]
		if resp.LifecycleHooks == nil {
			return nil
		}
		for _, r := range *resp.LifecycleHooks {
			h := Hook{Name: deref(r.LifecycleHookName)}
			if r.LifecycleHookType != nil {
				h.Type = r.LifecycleHookType.Value()
			}
			if r.DefaultResult != nil {
				h.DefaultResult = r.DefaultResult.Value()
			}
			if r.DefaultTimeout != nil {
				h.DefaultTimeout = time.Duration(*r.DefaultTimeout) * time.Second
			}
			if err := h.check(); err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// check refuses a hook definition out of AS's formats.
func (h Hook) check() error {
	if err := checkHookName("AS answered a lifecycle hook name", h.Name); err != nil {
		return err
	}
	if err := checkEnum("AS answered a lifecycle hook type", h.Type); err != nil {
		return err
	}
	return checkEnum("AS answered a default result", h.DefaultResult)
}

// Callback answers a hook. It names the hook by ActionKey when set, else by
// InstanceID and HookName.
type Callback struct {
	GroupID    string
	ActionKey  string
	InstanceID string
	HookName   string
	Result     Result
}

// Callback sends cb. AS.7042 (IsNoLongerHeld) means the hook no longer holds
// the instance. A callback is retried like any call; if its first answer was
// lost on the way, the retry may see AS.7042 although the first attempt took
// effect (Error.Attempts > 1 tells).
func (c *Client) Callback(ctx context.Context, cb Callback) error {
	res, err := callbackResult(cb.Result)
	if err != nil {
		return &Error{Op: opCallback, Kind: KindFinal, Err: err}
	}
	if err := cb.check(); err != nil {
		return withOp(opCallback, err)
	}
	opt := &model.CallbackLifeCycleHookOption{LifecycleActionResult: res}
	switch {
	case cb.ActionKey != "":
		opt.LifecycleActionKey = &cb.ActionKey
	case cb.InstanceID != "" && cb.HookName != "":
		opt.InstanceId, opt.LifecycleHookName = &cb.InstanceID, &cb.HookName
	default:
		return &Error{Op: opCallback, Kind: KindFinal, Err: errors.New("callback needs an action key, or an instance ID and a hook name")}
	}
	return c.call(ctx, opCallback, func(ac *as.AsClient) error {
		_, err := ac.AttachCallbackInstanceLifeCycleHook(&model.AttachCallbackInstanceLifeCycleHookRequest{
			ScalingGroupId: cb.GroupID, Body: opt,
		})
		return err
	})
}

// check refuses a callback whose IDs or names are out of AS's formats.
func (cb Callback) check() error {
	if err := checkID("scaling group ID", cb.GroupID); err != nil {
		return err
	}
	if err := checkActionKey("lifecycle action key", cb.ActionKey); err != nil {
		return err
	}
	if cb.InstanceID != "" {
		if err := checkID("instance ID", cb.InstanceID); err != nil {
			return err
		}
	}
	if cb.HookName != "" {
		return checkHookName("lifecycle hook name", cb.HookName)
	}
	return nil
}

func callbackResult(r Result) (model.CallbackLifeCycleHookOptionLifecycleActionResult, error) {
	e := model.GetCallbackLifeCycleHookOptionLifecycleActionResultEnum()
	switch r {
	case Continue:
		return e.CONTINUE, nil
	case Abandon:
		return e.ABANDON, nil
	case Extend:
		return e.EXTEND, nil
	}
	return e.CONTINUE, fmt.Errorf("unknown callback result %q (want CONTINUE, ABANDON or EXTEND)", r)
}

// Group is a scaling group.
type Group struct {
	ID, Name, Status string
	// Instances is its current_instance_number: the instances in the
	// group now, in any life cycle state.
	Instances int
}

// pageSize is the most AS returns per page for groups and instances.
const pageSize = 100

// ListGroups returns every scaling group of the project, page by page.
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	var out []Group
	err := c.eachGroup(ctx, nil, func(g Group) bool { out = append(out, g); return true })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ProjectSize is how many scaling groups and instances a project has.
type ProjectSize struct {
	Groups, Instances int
}

// ProjectSize lists the project's scaling groups and sums their
// current_instance_number: the instances that share the project's AS
// request limit. One call per 100 groups. Credentials scoped to
// enterprise projects may not see every group in a plain listing
// (discovery meets the same): when it lacks groupID, the agent's own
// group, the groups of every enterprise project they are authorised for
// are counted too, each group once. If AS refuses that listing, the plain
// one's count stands.
func (c *Client) ProjectSize(ctx context.Context, groupID string) (ProjectSize, error) {
	var size ProjectSize
	seen := map[string]bool{}
	count := func(g Group) bool {
		if !seen[g.ID] {
			seen[g.ID] = true
			size.Groups++
			size.Instances += g.Instances
		}
		return true
	}
	if err := c.eachGroup(ctx, nil, count); err != nil || seen[groupID] {
		return size, err
	}
	ep := allGrantedEPs
	if err := c.eachGroup(ctx, &ep, count); err != nil && size.Groups == 0 {
		return size, err
	}
	return size, nil
}

// eachGroup calls f for every scaling group of the project until f returns
// false. A non-nil enterpriseProject is sent as enterprise_project_id.
func (c *Client) eachGroup(ctx context.Context, enterpriseProject *string, f func(Group) bool) error {
	return listPages(ctx, c, opListGroups, func(ac *as.AsClient, start, limit int32) ([]Group, int, *int32, error) {
		resp, err := ac.ListScalingGroups(&model.ListScalingGroupsRequest{
			StartNumber: &start, Limit: &limit, EnterpriseProjectId: enterpriseProject,
		})
		if err != nil || resp.ScalingGroups == nil {
			return nil, 0, nil, err
		}
		page := make([]Group, 0, len(*resp.ScalingGroups))
		for _, g := range *resp.ScalingGroups {
			gr := Group{ID: deref(g.ScalingGroupId), Name: displayName(deref(g.ScalingGroupName))}
			if g.ScalingGroupStatus != nil {
				gr.Status = g.ScalingGroupStatus.Value()
			}
			if g.CurrentInstanceNumber != nil {
				gr.Instances = max(int(*g.CurrentInstanceNumber), 0)
			}
			if err := checkID("AS listed a scaling group ID", gr.ID); err != nil {
				// Only ever used in paths: refused, but the project's
				// other groups are still searched.
				c.log.Warn().Err(err).Msg("skipping a scaling group AS listed")
				continue
			}
			page = append(page, gr)
		}
		return page, len(*resp.ScalingGroups), resp.TotalNumber, nil
	}, f)
}

// Instance is an instance of a scaling group.
type Instance struct {
	ID, Name, GroupID string
	LifecycleState    string // INSERVICE, PENDING_WAIT, REMOVING_WAIT, ...
	HealthStatus      string
}

// eachInstance calls f for every instance of groupID until f returns false.
func (c *Client) eachInstance(ctx context.Context, groupID string, f func(Instance) bool) error {
	if err := checkID("scaling group ID", groupID); err != nil {
		return withOp(opListInstances, err)
	}
	return listPages(ctx, c, opListInstances, func(ac *as.AsClient, start, limit int32) ([]Instance, int, *int32, error) {
		resp, err := ac.ListScalingInstances(&model.ListScalingInstancesRequest{
			ScalingGroupId: groupID, StartNumber: &start, Limit: &limit,
		})
		if err != nil || resp.ScalingGroupInstances == nil {
			return nil, 0, nil, err
		}
		page := make([]Instance, 0, len(*resp.ScalingGroupInstances))
		for _, r := range *resp.ScalingGroupInstances {
			in := Instance{ID: deref(r.InstanceId), Name: displayName(deref(r.InstanceName)), GroupID: deref(r.ScalingGroupId)}
			if in.GroupID == "" {
				in.GroupID = groupID
			}
			if err := checkID("AS listed an instance ID", in.ID); err != nil {
				// Never this instance's (checked already): refused, and
				// the group's other instances are still searched.
				c.log.Warn().Err(err).Str("scaling_group_id", groupID).Msg("skipping an instance AS listed")
				continue
			}
			if r.LifeCycleState != nil {
				in.LifecycleState = r.LifeCycleState.Value()
			}
			if r.HealthStatus != nil {
				in.HealthStatus = r.HealthStatus.Value()
			}
			page = append(page, in)
		}
		return page, len(*resp.ScalingGroupInstances), resp.TotalNumber, nil
	}, f)
}

// listPages is the one pager of the AS listings: it asks fetch for page
// after page (start_number, limit pageSize) and hands each item to f until
// f returns false, a page comes back short or empty, or start reaches the
// answer's total_number. fetch returns the items it kept and how many the
// answer held (it may refuse some). A listing that goes on past maxPages
// is an error.
func listPages[T any](ctx context.Context, c *Client, op string,
	fetch func(ac *as.AsClient, start, limit int32) (page []T, seen int, total *int32, err error), f func(T) bool) error {
	for start, pages := int32(0), 0; ; pages++ {
		var page []T
		var seen int
		var total *int32
		err := c.call(ctx, op, func(ac *as.AsClient) error {
			var err error
			page, seen, total, err = fetch(ac, start, pageSize)
			return err
		})
		if err != nil {
			return err
		}
		for _, item := range page {
			if !f(item) {
				return nil
			}
		}
		start += int32(seen)
		if seen == 0 || (total != nil && start >= *total) || (total == nil && seen < pageSize) {
			return nil
		}
		if pages >= maxPages {
			return errPagingRunaway(op)
		}
	}
}

// withOp names the operation in an *Error made before the call.
func withOp(op string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Op == "" {
		e.Op = op
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxPages bounds a listing: 200 pages of 100 is far beyond AS's quotas on
// groups per project and instances per group, so a listing that goes on is
// an answer that does not add up (a stuck start_number, a false total), not
// a big project; discovery must not loop or grow on it.
const maxPages = 200

func errPagingRunaway(op string) error {
	return &Error{Op: op, Kind: KindFinal, Message: fmt.Sprintf("AS answered more than %d pages; its paging does not add up", maxPages)}
}
