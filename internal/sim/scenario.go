package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"
)

// Hook types and results, as the AS API spells them.
const (
	HookLaunch    = "INSTANCE_LAUNCHING"
	HookTerminate = "INSTANCE_TERMINATING"

	ResultContinue = "CONTINUE"
	ResultAbandon  = "ABANDON"
	ResultExtend   = "EXTEND"
)

// Instance life_cycle_state values, as the AS API spells them.
const (
	StateInService    = "INSERVICE"
	StatePending      = "PENDING"
	StatePendingWait  = "PENDING_WAIT"
	StateRemoving     = "REMOVING"
	StateRemovingWait = "REMOVING_WAIT"
	StateStandby      = "STANDBY"
)

// Scenario is the starting state of a simulator: one project, its groups,
// their hooks and instances, and which instance the metadata service
// reports as "this instance". It is also the YAML scenario file format of
// `asagent sim --scenario`.
type Scenario struct {
	ProjectID        string `yaml:"project_id"`
	Region           string `yaml:"region"`
	AvailabilityZone string `yaml:"availability_zone"`
	// LocalInstance is the instance ID ("uuid") the metadata service reports.
	LocalInstance string `yaml:"local_instance"`
	// UserData is served at /openstack/latest/user_data; empty answers 404
	// as on an instance launched without user data.
	UserData string  `yaml:"user_data"`
	Groups   []Group `yaml:"groups"`
	// Unknowns play the real cloud's undocumented behaviours (see Unknowns).
	Unknowns Unknowns `yaml:"unknowns"`
}

// Group is a scaling group with its lifecycle hooks and instances.
type Group struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// EnterpriseProjectID is the group's enterprise project; empty means
	// the default one, "0".
	EnterpriseProjectID string     `yaml:"enterprise_project_id"`
	Hooks               []Hook     `yaml:"hooks"`
	Instances           []Instance `yaml:"instances"`
}

// Hook is a lifecycle hook. Empty DefaultResult means ABANDON and zero
// DefaultTimeout means 3600 s, the API's defaults.
type Hook struct {
	Name          string `yaml:"name"`
	Type          string `yaml:"type"`           // INSTANCE_LAUNCHING or INSTANCE_TERMINATING
	DefaultResult string `yaml:"default_result"` // ABANDON or CONTINUE
	// DefaultTimeout is in seconds, between the minimum hook timeout and 86400.
	DefaultTimeout int `yaml:"default_timeout"`
}

// Instance is an instance of a group at start. State PENDING_WAIT or
// REMOVING_WAIT, or Held, means it starts held by every hook of the matching
// type (launch for PENDING_WAIT, terminate for REMOVING_WAIT), with each
// hook's timeout counted from the simulator's start. Empty State is
// INSERVICE, or PENDING_WAIT when Held.
type Instance struct {
	ID    string `yaml:"id"`
	State string `yaml:"state"`
	Held  bool   `yaml:"held"`
}

// Identifiers of the ready-made scenario. They have the real formats (a
// 32-hex project ID, UUIDs for groups and instances) so that clients which
// check formats accept them.
const (
	DefaultProjectID     = "0b9d7f2c4a6e48b1a3c5e7f90d2b4c6e"
	DefaultRegion        = "cn-north-4"
	DefaultZone          = "cn-north-4a"
	DefaultGroupID       = "5c3b2f6a-8d1e-4f7a-9b2c-1d4e6f8a0b3c"
	DefaultGroupName     = "as-group-sim"
	DefaultInstanceID    = "b8e6f1c2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
	DefaultLaunchHook    = "launch-hook"
	DefaultTerminateHook = "terminate-hook"
)

// DefaultScenario returns the ready-made case, as on a real boot: one
// project, one group with one launch hook and one terminate hook (both
// ABANDON after 3600 s), and the local instance added to it and held in
// PENDING_WAIT.
func DefaultScenario() *Scenario {
	return &Scenario{
		ProjectID:        DefaultProjectID,
		Region:           DefaultRegion,
		AvailabilityZone: DefaultZone,
		LocalInstance:    DefaultInstanceID,
		Groups: []Group{{
			ID:   DefaultGroupID,
			Name: DefaultGroupName,
			Hooks: []Hook{
				{Name: DefaultLaunchHook, Type: HookLaunch, DefaultResult: ResultAbandon, DefaultTimeout: defaultHookTimeout},
				{Name: DefaultTerminateHook, Type: HookTerminate, DefaultResult: ResultAbandon, DefaultTimeout: defaultHookTimeout},
			},
			Instances: []Instance{{ID: DefaultInstanceID, State: StatePendingWait}},
		}},
	}
}

// clone returns a deep copy.
func (sc *Scenario) clone() *Scenario {
	out := *sc
	out.Groups = make([]Group, len(sc.Groups))
	for i, g := range sc.Groups {
		g.Hooks = slices.Clone(g.Hooks)
		g.Instances = slices.Clone(g.Instances)
		out.Groups[i] = g
	}
	out.Unknowns.LostAnswerResults = slices.Clone(sc.Unknowns.LostAnswerResults)
	return &out
}

// LoadScenario reads a YAML scenario file. Unknown keys are errors, with
// their line, so that a typo does not silently fall back to a default.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario decodes a YAML scenario and fills in the documented
// defaults. It checks the structure; values that depend on the simulator's
// options (the minimum hook timeout) are checked by New.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := sc.validate(1); err != nil {
		return nil, err
	}
	return &sc, nil
}

var (
	// hookNamePattern is the documented hook name: 1-32 letters, digits, _ and -.
	hookNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	// idPattern accepts the IDs AS uses (UUIDs, 32-hex project IDs) and
	// readable test IDs, but nothing that would need escaping in a path.
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// codePattern is an error code: AS.7042, APIG.0308, APIGW.0301.
	codePattern = regexp.MustCompile(`^[A-Za-z]{1,16}\.[A-Za-z0-9]{1,16}$`)
)

// validate checks the scenario against the API's rules, fills in defaults,
// and names the offending key in its error.
func (sc *Scenario) validate(minTimeout int) error {
	if sc.ProjectID == "" {
		sc.ProjectID = DefaultProjectID
	}
	if sc.Region == "" {
		sc.Region = DefaultRegion
	}
	if sc.AvailabilityZone == "" {
		sc.AvailabilityZone = sc.Region + "a"
	}
	if !idPattern.MatchString(sc.ProjectID) {
		return fmt.Errorf("scenario: project_id %q: want letters, digits, '.', '_' or '-'", sc.ProjectID)
	}
	if sc.LocalInstance != "" && !idPattern.MatchString(sc.LocalInstance) {
		return fmt.Errorf("scenario: local_instance %q: want letters, digits, '.', '_' or '-'", sc.LocalInstance)
	}
	if err := sc.Unknowns.Validate(); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	seenGroup := map[string]bool{}
	seenInstance := map[string]string{}
	for i := range sc.Groups {
		g := &sc.Groups[i]
		where := fmt.Sprintf("scenario: groups[%d]", i)
		if !idPattern.MatchString(g.ID) {
			return fmt.Errorf("%s.id %q: want letters, digits, '.', '_' or '-'", where, g.ID)
		}
		if seenGroup[g.ID] {
			return fmt.Errorf("%s.id %q: duplicate group", where, g.ID)
		}
		seenGroup[g.ID] = true
		if g.Name == "" {
			g.Name = g.ID
		}
		if g.EnterpriseProjectID == "" {
			g.EnterpriseProjectID = DefaultEnterpriseProject
		}
		if !idPattern.MatchString(g.EnterpriseProjectID) {
			return fmt.Errorf("%s.enterprise_project_id %q: want letters, digits, '.', '_' or '-'", where, g.EnterpriseProjectID)
		}
		if err := validateHooks(where, g.Hooks, minTimeout); err != nil {
			return err
		}
		for j := range g.Instances {
			in := &g.Instances[j]
			iwhere := fmt.Sprintf("%s.instances[%d]", where, j)
			if !idPattern.MatchString(in.ID) {
				return fmt.Errorf("%s.id %q: want letters, digits, '.', '_' or '-'", iwhere, in.ID)
			}
			if other, dup := seenInstance[in.ID]; dup {
				return fmt.Errorf("%s.id %q: already in group %q; an instance is in one group at most", iwhere, in.ID, other)
			}
			seenInstance[in.ID] = g.ID
			if err := in.normalize(iwhere); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateHooks checks a group's hooks with the rules of the create API.
func validateHooks(where string, hooks []Hook, minTimeout int) error {
	if len(hooks) > maxHooksPerGroup {
		return fmt.Errorf("%s.hooks: %d hooks; a group has at most %d", where, len(hooks), maxHooksPerGroup)
	}
	seen := map[string]bool{}
	for k := range hooks {
		h := &hooks[k]
		hwhere := fmt.Sprintf("%s.hooks[%d]", where, k)
		if h.DefaultResult == "" {
			h.DefaultResult = ResultAbandon
		}
		if h.DefaultTimeout == 0 {
			h.DefaultTimeout = defaultHookTimeout
		}
		if seen[h.Name] {
			return fmt.Errorf("%s.name %q: duplicate hook", hwhere, h.Name)
		}
		seen[h.Name] = true
		if err := checkHookFields(h.Name, h.Type, h.DefaultResult, h.DefaultTimeout, minTimeout); err != nil {
			return fmt.Errorf("%s: %w", hwhere, err)
		}
	}
	return nil
}

// checkHookFields applies the documented rules for a hook's fields; the
// create and update APIs and the scenario share it.
func checkHookFields(name, typ, result string, timeout, minTimeout int) error {
	switch {
	case !hookNamePattern.MatchString(name):
		return fmt.Errorf("lifecycle_hook_name %q: want 1-32 letters, digits, '_' or '-'", name)
	case typ != HookLaunch && typ != HookTerminate:
		return fmt.Errorf("lifecycle_hook_type %q: want %s or %s", typ, HookLaunch, HookTerminate)
	case result != ResultAbandon && result != ResultContinue:
		return fmt.Errorf("default_result %q: want %s or %s", result, ResultAbandon, ResultContinue)
	case timeout < minTimeout || timeout > maxHookTimeout:
		return fmt.Errorf("default_timeout %d: want %d..%d seconds", timeout, minTimeout, maxHookTimeout)
	}
	return nil
}

// normalize fills in State from Held and checks that they agree.
func (in *Instance) normalize(where string) error {
	switch in.State {
	case "":
		in.State = StateInService
		if in.Held {
			in.State = StatePendingWait
		}
	case StatePendingWait, StateRemovingWait:
		in.Held = true
	case StateInService, StateStandby:
		if in.Held {
			return fmt.Errorf("%s: held needs state %s or %s, not %s", where, StatePendingWait, StateRemovingWait, in.State)
		}
	default:
		return fmt.Errorf("%s.state %q: want %s, %s, %s or %s", where, in.State,
			StateInService, StatePendingWait, StateRemovingWait, StateStandby)
	}
	return nil
}

// errNoGroup is the scenario-level form of AS.2007.
var errNoGroup = errors.New("scaling group does not exist")
