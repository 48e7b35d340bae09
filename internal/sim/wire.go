package sim

import "time"

// The AS API's JSON shapes. Field names and formats follow the published
// API and the SDK's model types (services/as/v1/model); the SDK oracle tests
// decode every answer with those models. They are written out here rather
// than built from the SDK models because the models' enums cannot hold
// every value the API returns (STANDBY, for instance).

// apiTime is the API's timestamp format, e.g. 2016-11-15T06:43:41Z.
const apiTime = "2006-01-02T15:04:05Z"

func formatTime(t time.Time) string { return t.UTC().Format(apiTime) }

// hookJSON is a lifecycle hook in create, show, update and list answers.
type hookJSON struct {
	Name                  string  `json:"lifecycle_hook_name"`
	Type                  string  `json:"lifecycle_hook_type"`
	DefaultResult         string  `json:"default_result"`
	DefaultTimeout        int     `json:"default_timeout"`
	NotificationTopicURN  string  `json:"notification_topic_urn"`
	NotificationTopicName string  `json:"notification_topic_name"`
	NotificationMetadata  *string `json:"notification_metadata"`
	CreateTime            string  `json:"create_time"`
}

func (h *hook) toJSON() hookJSON {
	return hookJSON{
		Name: h.name, Type: h.typ, DefaultResult: h.defaultResult, DefaultTimeout: h.timeout,
		NotificationTopicURN: h.topicURN, NotificationTopicName: h.topicName,
		NotificationMetadata: h.metadata, CreateTime: formatTime(h.created),
	}
}

// hookBody is the create and update request body. Pointers tell "absent"
// from "empty"; update changes only what is present.
type hookBody struct {
	Name                 *string `json:"lifecycle_hook_name"`
	Type                 *string `json:"lifecycle_hook_type"`
	DefaultResult        *string `json:"default_result"`
	DefaultTimeout       *int    `json:"default_timeout"`
	NotificationTopicURN *string `json:"notification_topic_urn"`
	NotificationMetadata *string `json:"notification_metadata"`
}

// hangingJSON is one record of the hanging-instances answer.
type hangingJSON struct {
	InstanceID     string `json:"instance_id"`
	ScalingGroupID string `json:"scaling_group_id"`
	HookName       string `json:"lifecycle_hook_name"`
	ActionKey      string `json:"lifecycle_action_key"`
	DefaultResult  string `json:"default_result"`
	Timeout        string `json:"timeout"`
	Status         string `json:"lifecycle_hook_status"`
}

// callbackBody is the callback request body.
type callbackBody struct {
	ActionKey  string `json:"lifecycle_action_key"`
	InstanceID string `json:"instance_id"`
	HookName   string `json:"lifecycle_hook_name"`
	Result     string `json:"lifecycle_action_result"`
}

// actionBody is the POST .../action request body.
type actionBody struct {
	InstanceIDs    []string `json:"instances_id"`
	Action         string   `json:"action"`
	InstanceDelete string   `json:"instance_delete"`
}

// groupJSON is a scaling group in the list answer.
type groupJSON struct {
	Name                    string   `json:"scaling_group_name"`
	ID                      string   `json:"scaling_group_id"`
	Status                  string   `json:"scaling_group_status"`
	ConfigurationID         string   `json:"scaling_configuration_id"`
	ConfigurationName       string   `json:"scaling_configuration_name"`
	CurrentInstanceNumber   int      `json:"current_instance_number"`
	DesireInstanceNumber    int      `json:"desire_instance_number"`
	MinInstanceNumber       int      `json:"min_instance_number"`
	MaxInstanceNumber       int      `json:"max_instance_number"`
	CoolDownTime            int      `json:"cool_down_time"`
	AvailableZones          []string `json:"available_zones"`
	CreateTime              string   `json:"create_time"`
	IsScaling               bool     `json:"is_scaling"`
	HealthAuditMethod       string   `json:"health_periodic_audit_method"`
	HealthAuditTime         int      `json:"health_periodic_audit_time"`
	InstanceTerminatePolicy string   `json:"instance_terminate_policy"`
	DeletePublicIP          bool     `json:"delete_publicip"`
	EnterpriseProjectID     string   `json:"enterprise_project_id"`
}

// groupsPage is the list-groups answer.
type groupsPage struct {
	TotalNumber int         `json:"total_number"`
	StartNumber int         `json:"start_number"`
	Limit       int         `json:"limit"`
	Groups      []groupJSON `json:"scaling_groups"`
}

// instanceJSON is an instance in the list-instances answer.
type instanceJSON struct {
	InstanceID             string `json:"instance_id"`
	InstanceName           string `json:"instance_name"`
	ScalingGroupID         string `json:"scaling_group_id"`
	ScalingGroupName       string `json:"scaling_group_name"`
	LifeCycleState         string `json:"life_cycle_state"`
	HealthStatus           string `json:"health_status"`
	ConfigurationName      string `json:"scaling_configuration_name"`
	ConfigurationID        string `json:"scaling_configuration_id"`
	CreateTime             string `json:"create_time"`
	ProtectFromScalingDown bool   `json:"protect_from_scaling_down"`
}

// instancesPage is the list-instances answer.
type instancesPage struct {
	TotalNumber int            `json:"total_number"`
	StartNumber int            `json:"start_number"`
	Limit       int            `json:"limit"`
	Instances   []instanceJSON `json:"scaling_group_instances"`
}

// The scaling configuration every simulated group reports: the simulator
// does not model configurations, but the fields are always present.
const (
	simConfigID   = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
	simConfigName = "as-config-sim"
)

// healthOf is the health_status AS reports for a life cycle state: new
// instances are INITIALIZING until they are in service.
func healthOf(state string) string {
	if state == StatePending || state == StatePendingWait {
		return "INITIALIZING"
	}
	return "NORMAL"
}

func (s *Sim) groupToJSON(g *group) groupJSON {
	n := len(g.instances)
	return groupJSON{
		Name: g.name, ID: g.id, Status: "INSERVICE",
		ConfigurationID: simConfigID, ConfigurationName: simConfigName,
		CurrentInstanceNumber: n, DesireInstanceNumber: n, MinInstanceNumber: 0, MaxInstanceNumber: max(n, 10),
		CoolDownTime: 300, AvailableZones: []string{s.zone}, CreateTime: formatTime(g.created),
		HealthAuditMethod: "NOVA_AUDIT", HealthAuditTime: 5, InstanceTerminatePolicy: "OLD_CONFIG_OLD_INSTANCE",
		EnterpriseProjectID: g.enterpriseProject,
	}
}

func instanceToJSON(g *group, in *instance) instanceJSON {
	return instanceJSON{
		InstanceID: in.id, InstanceName: instanceName(in.id), ScalingGroupID: g.id, ScalingGroupName: g.name,
		LifeCycleState: in.state, HealthStatus: healthOf(in.state),
		ConfigurationName: simConfigName, ConfigurationID: simConfigID, CreateTime: formatTime(in.created),
	}
}

func hangingToJSON(g *group, in *instance, r *record) hangingJSON {
	return hangingJSON{
		InstanceID: in.id, ScalingGroupID: g.id, HookName: r.hook, ActionKey: r.key,
		DefaultResult: r.defaultResult, Timeout: formatTime(r.timeout), Status: r.status,
	}
}
