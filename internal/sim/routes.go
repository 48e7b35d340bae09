package sim

import (
	"net/http"
	"strings"
)

// Route names one API operation of the simulator. Faults are set per route,
// and the request record says which route each request took.
type Route string

// Metadata service routes.
const (
	RouteToken       Route = "metadata.token"       // PUT /meta-data/latest/api/token
	RouteMetaData    Route = "metadata.meta_data"   // GET /openstack/latest/meta_data.json
	RouteUserData    Route = "metadata.user_data"   // GET /openstack/latest/user_data
	RouteSecurityKey Route = "metadata.securitykey" // GET /openstack/latest/securitykey
	RouteEC2MetaData Route = "metadata.ec2"         // GET /latest/meta-data/...
)

// AS API routes, all under /autoscaling-api/v1/{project_id}.
const (
	RouteCreateHook        Route = "as.create_hook"         // POST /scaling_lifecycle_hook/{group}
	RouteListHooks         Route = "as.list_hooks"          // GET /scaling_lifecycle_hook/{group}/list
	RouteShowHook          Route = "as.show_hook"           // GET /scaling_lifecycle_hook/{group}/{hook}
	RouteUpdateHook        Route = "as.update_hook"         // PUT /scaling_lifecycle_hook/{group}/{hook}
	RouteDeleteHook        Route = "as.delete_hook"         // DELETE /scaling_lifecycle_hook/{group}/{hook}
	RouteListHookInstances Route = "as.list_hook_instances" // GET /scaling_instance_hook/{group}/list
	RouteCallback          Route = "as.callback"            // PUT /scaling_instance_hook/{group}/callback
	RouteListGroups        Route = "as.list_groups"         // GET /scaling_group
	RouteListInstances     Route = "as.list_instances"      // GET /scaling_group_instance/{group}/list
	RouteInstanceAction    Route = "as.instance_action"     // POST /scaling_group_instance/{group}/action
)

// RouteUnknown is any path the simulator does not serve.
const RouteUnknown Route = "unknown"

// asPrefix starts every AS API path.
const asPrefix = "/autoscaling-api/v1/"

// isAS reports whether the route belongs to the AS API (signed, throttled).
func (r Route) isAS() bool { return strings.HasPrefix(string(r), "as.") }

// routes builds the handler: one pattern per route, each wrapped in the
// request pipeline (record, faults, throttle, authentication).
func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, route Route, h func(*call)) {
		mux.Handle(pattern, s.endpoint(route, h))
	}
	handle("PUT /meta-data/latest/api/token", RouteToken, s.serveToken)
	handle("GET /openstack/latest/meta_data.json", RouteMetaData, s.serveMetaData)
	handle("GET /openstack/latest/user_data", RouteUserData, s.serveUserData)
	handle("GET /openstack/latest/securitykey", RouteSecurityKey, s.serveSecurityKey)
	handle("GET /latest/meta-data/{path...}", RouteEC2MetaData, s.serveEC2)

	const p = asPrefix + "{project_id}"
	handle("POST "+p+"/scaling_lifecycle_hook/{group}", RouteCreateHook, s.serveCreateHook)
	handle("GET "+p+"/scaling_lifecycle_hook/{group}/list", RouteListHooks, s.serveListHooks)
	handle("GET "+p+"/scaling_lifecycle_hook/{group}/{hook}", RouteShowHook, s.serveShowHook)
	handle("PUT "+p+"/scaling_lifecycle_hook/{group}/{hook}", RouteUpdateHook, s.serveUpdateHook)
	handle("DELETE "+p+"/scaling_lifecycle_hook/{group}/{hook}", RouteDeleteHook, s.serveDeleteHook)
	handle("GET "+p+"/scaling_instance_hook/{group}/list", RouteListHookInstances, s.serveListHookInstances)
	handle("PUT "+p+"/scaling_instance_hook/{group}/callback", RouteCallback, s.serveCallback)
	handle("GET "+p+"/scaling_group", RouteListGroups, s.serveListGroups)
	handle("GET "+p+"/scaling_group_instance/{group}/list", RouteListInstances, s.serveListInstances)
	handle("POST "+p+"/scaling_group_instance/{group}/action", RouteInstanceAction, s.serveInstanceAction)

	s.controlRoutes(mux) // the local, unsigned control path: control_http.go
	handle("/", RouteUnknown, s.serveUnknown)
	return trimTrailingSlash(mux)
}

// trimTrailingSlash routes ".../list/" like ".../list". The signature's
// canonical URI always ends in "/", so a client may send either form and
// the gateway accepts both.
func trimTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, asPrefix) && len(p) > len(asPrefix) && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimSuffix(p, "/")
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// serveUnknown answers paths the simulator does not serve: the API
// gateway's "API does not exist" for AS paths, a plain 404 elsewhere.
func (s *Sim) serveUnknown(c *call) {
	if strings.HasPrefix(c.r.URL.Path, asPrefix) {
		c.gatewayError(http.StatusNotFound, gatewayCode(s.gatewayPrefix(), gwNoSuchAPI), "The API does not exist or has not been published in the environment")
		return
	}
	c.text(http.StatusNotFound, "Not Found\n")
}
