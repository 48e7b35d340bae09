package cloud

import (
	"net/http"
	"strings"
)

// Observer is told what the cloud clients do, for metrics. New's obs may
// be nil: nothing is told.
type Observer interface {
	// ASRequest is called once for each HTTP request to AS, retries
	// included, with its operation (one of ASOperations) and the status of
	// the answer; status is 0 when no answer came (a network error, a
	// timeout, the agent stopping).
	ASRequest(operation string, status int)
	// CredentialsFetched is called after each fetch of the agency's
	// temporary credentials from the metadata service: err is nil when it
	// worked.
	CredentialsFetched(err error)
}

// The AS operations, as ASRequest names them.
const (
	OpListHeldHooks = "list_held_hooks" // the hooks holding an instance (GET scaling_instance_hook/{group}/list)
	OpCallback      = "callback"        // CONTINUE, ABANDON or EXTEND (PUT scaling_instance_hook/{group}/callback)
	OpListHooks     = "list_hooks"      // the group's hooks (GET scaling_lifecycle_hook/{group}/list)
	OpShowHook      = "show_hook"       // one hook (GET scaling_lifecycle_hook/{group}/{hook})
	OpListGroups    = "list_groups"     // the project's groups (GET scaling_group)
	OpListInstances = "list_instances"  // a group's instances (GET scaling_group_instance/{group}/list)
	OpOther         = "other"           // anything else
)

// ASOperations lists every operation ASRequest may name.
func ASOperations() []string {
	return []string{OpListHeldHooks, OpCallback, OpListHooks, OpShowHook, OpListGroups, OpListInstances, OpOther}
}

// asOperation names the AS operation of a request from its method and
// path: /autoscaling-api/v1/{project_id}/{resource}[/{group}[/{what}]].
func asOperation(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "autoscaling-api" {
		return OpOther
	}
	res, rest := parts[3], parts[4:]
	last := ""
	if len(rest) == 2 {
		last = rest[1]
	}
	switch {
	case method == http.MethodGet && res == "scaling_instance_hook" && last == "list":
		return OpListHeldHooks
	case method == http.MethodPut && res == "scaling_instance_hook" && last == "callback":
		return OpCallback
	case method == http.MethodGet && res == "scaling_lifecycle_hook" && last == "list":
		return OpListHooks
	case method == http.MethodGet && res == "scaling_lifecycle_hook" && last != "":
		return OpShowHook
	case method == http.MethodGet && res == "scaling_group" && len(rest) == 0:
		return OpListGroups
	case method == http.MethodGet && res == "scaling_group_instance" && last == "list":
		return OpListInstances
	}
	return OpOther
}

// observedTransport tells an Observer of every AS request that goes
// through it.
type observedTransport struct {
	base http.RoundTripper
	obs  Observer
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.obs.ASRequest(asOperation(req.Method, req.URL.Path), status)
	return resp, err
}

// wrapAS returns the AS client's transport wrapper for obs; nil when
// there is no observer.
func wrapAS(obs Observer) func(http.RoundTripper) http.RoundTripper {
	if obs == nil {
		return nil
	}
	return func(base http.RoundTripper) http.RoundTripper { return observedTransport{base: base, obs: obs} }
}

// fetched returns the metadata client's credential-fetch hook for obs; nil
// when there is no observer.
func fetched(obs Observer) func(error) {
	if obs == nil {
		return nil
	}
	return obs.CredentialsFetched
}
