package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits that validation enforces, with the reason for each.
const (
	// minCheckInterval keeps a misconfigured check from fork-bombing the
	// instance (consul's MinInterval does the same).
	minCheckInterval = time.Second
	// maxMargin stays well below the hour an EXTEND buys; a larger margin
	// would EXTEND again right after every EXTEND.
	maxMargin = 30 * time.Minute
	// maxRequestTimeout is the SDK's own default; anything longer is a mistake.
	maxRequestTimeout = 120 * time.Second
)

// Bounds of poll.project_rate, in requests a second: below one a large
// project's agents would poll hours apart; far above what any API gateway
// grants a project, it is a typo.
const (
	minProjectRate float64 = 1
	maxProjectRate float64 = 10000
)

// checkName is what a check may be called: the run-parts alphabet plus dots,
// so names are safe in logs, environment values and file names.
var checkName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// stampChecks records where each check was written, for messages.
func (d *document) stampChecks(phase string, checks []Check) {
	for i := range checks {
		checks[i].Source = d.file
		checks[i].Line = d.lines[fmt.Sprintf("%s.checks[%d]", phase, i)]
	}
}

// fillChecks stamps the phase's checks and fills their defaults.
func (d *document) fillChecks(phase string, p Phase) []Check {
	d.stampChecks(phase, p.Checks)
	if len(p.Checks) == 0 {
		return nil
	}
	out := make([]Check, len(p.Checks))
	for i, c := range p.Checks {
		out[i] = p.WithDefaults(c)
	}
	return out
}

func (d *document) validate(c *Config) {
	d.validateCloud(c.Cloud)

	d.atLeast("poll.launch_interval", c.Poll.LaunchInterval, time.Second)
	d.atLeast("poll.idle_interval", c.Poll.IdleInterval, time.Second)
	d.atLeast("poll.hooks_interval", c.Poll.HooksInterval, time.Second)
	if c.Poll.Jitter < 0 || c.Poll.Jitter > 0.5 {
		d.add("poll.jitter", "must be between 0 and 0.5, not %g", c.Poll.Jitter)
	}
	if c.Poll.ProjectRate < minProjectRate || c.Poll.ProjectRate > maxProjectRate {
		d.add("poll.project_rate", "must be between %g and %g requests a second, not %g", minProjectRate, maxProjectRate, c.Poll.ProjectRate)
	}

	m := c.Extend.Margin.D()
	switch {
	case m > maxMargin:
		d.add("extend.margin", "must be at most %s: an EXTEND buys an hour, and a larger margin would EXTEND again at once", Duration(maxMargin))
	case m < 2*c.Poll.LaunchInterval.D() || m < 10*time.Second:
		d.add("extend.margin", "must be at least 10s and two poll.launch_interval (%s), to leave time for retries", Duration(2*c.Poll.LaunchInterval.D()))
	}

	for _, ph := range []struct {
		name string
		p    Phase
	}{{"launch", c.Launch}, {"terminate", c.Terminate}} {
		d.validatePhase(ph.name, ph.p)
	}

	if c.IncludeDir != "" {
		d.absPath("include_dir", c.IncludeDir)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		d.add("log.format", "must be auto, json or console, not %q", c.Log.Format)
	}
	d.absPath("state_dir", c.StateDir)
	d.absPath("control_socket", c.ControlSocket)
	d.validateMetrics(c.Metrics)
}

func (d *document) validateMetrics(m Metrics) {
	if m.Listen != "" {
		if err := m.CheckListen(); err != nil {
			d.add("metrics.listen", "%v", err)
		}
	}
	if m.Textfile != "" {
		d.absPath("metrics.textfile", m.Textfile)
		if !strings.HasSuffix(m.Textfile, ".prom") {
			d.add("metrics.textfile", "must end in .prom (node_exporter's textfile collector reads only *.prom), not %q", m.Textfile)
		}
	}
}

// CheckListen says whether the agent may serve /metrics on m.Listen: a
// host:port whose host is a loopback address (127.0.0.0/8, ::1) or
// localhost, or any address with AllowRemote. An empty host means every
// interface. The metrics endpoint enforces it as well as validation.
func (m Metrics) CheckListen() error {
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil || port == "" {
		return fmt.Errorf("must be host:port such as 127.0.0.1:9469, not %q", m.Listen)
	}
	if m.AllowRemote {
		return nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address; set metrics.allow_remote: true to serve other hosts", m.Listen)
	}
	return nil
}

func (d *document) validateCloud(c Cloud) {
	d.endpoint("cloud.metadata_endpoint", c.MetadataEndpoint)
	if c.ASEndpoint != "" {
		d.endpoint("cloud.as_endpoint", c.ASEndpoint)
	}
	cr := c.Credentials
	if (cr.AccessKey == "") != (cr.SecretKey == "") {
		d.add("cloud.credentials", "access_key and secret_key go together: set both, or neither to use the instance's agency")
	}
	if cr.SecurityToken != "" && cr.AccessKey == "" {
		d.add("cloud.credentials.security_token", "needs access_key and secret_key")
	}
	if c.RequestTimeout.D() < time.Second || c.RequestTimeout.D() > maxRequestTimeout {
		d.add("cloud.request_timeout", "must be between 1s and %s, not %s", Duration(maxRequestTimeout), c.RequestTimeout)
	}
	d.proxy("cloud.proxy", c.Proxy)
}

// proxy accepts "" (the environment's proxy), "none", or an http, https or
// socks5 URL with a host. The error never shows a password in the URL.
func (d *document) proxy(key, raw string) {
	if raw == "" || raw == "none" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		d.add(key, "must be none or a URL such as http://proxy.example:3128, not an unparsable value")
		return
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		d.add(key, "must be none or a URL such as http://proxy.example:3128, not %q", u.Redacted())
	}
}

func (d *document) validatePhase(name string, p Phase) {
	if p.ScriptsDir != "" {
		d.absPath(name+".scripts_dir", p.ScriptsDir)
	}
	if p.Mode != Parallel && p.Mode != Sequential {
		d.add(name+".mode", "must be parallel or sequential, not %q", p.Mode)
	}
	d.atLeast(name+".max_wait", p.MaxWait, time.Second)
	if p.OnFailure != Continue && p.OnFailure != Abandon {
		d.add(name+".on_failure", "must be CONTINUE or ABANDON, not %q", p.OnFailure)
	}
	if p.OnStop != StopHold && p.OnStop != StopOnFailure {
		d.add(name+".on_stop", "must be hold or on_failure, not %q", p.OnStop)
	}
	d.atLeast(name+".interval", p.Interval, minCheckInterval)
	d.atLeast(name+".timeout", p.Timeout, time.Second)
	for i, c := range p.Checks {
		d.validateCheck(fmt.Sprintf("%s.checks[%d]", name, i), c)
	}
	d.uniqueNames(name, p.Checks)
}

func (d *document) uniqueNames(phase string, checks []Check) {
	first := map[string]int{}
	for i, c := range checks {
		if j, dup := first[c.Name]; dup && c.Name != "" {
			d.add(fmt.Sprintf("%s.checks[%d].name", phase, i), "%q is already the name of %s.checks[%d]", c.Name, phase, j)
			continue
		}
		first[c.Name] = i
	}
}

// typeFields lists, for each check type, the type-specific keys it accepts.
var typeFields = map[CheckType][]string{
	TypeExec:      {"command", "shell"},
	TypeHTTP:      {"url", "method", "headers", "expect_status", "body_contains", "tls"},
	TypeTCP:       {"address"},
	TypeFile:      {"path", "absent"},
	TypeCloudInit: {"root"},
	TypeSignal:    {"signal"},
}

func (d *document) validateCheck(key string, c Check) {
	if !checkName.MatchString(c.Name) {
		d.add(key+".name", "is required: 1-64 letters, digits, '_', '-' or '.'")
	}
	allowed, known := typeFields[c.Type]
	if !known {
		d.add(key+".type", "must be one of exec, http, tcp, file, cloud-init, signal, not %q", c.Type)
	}
	if known {
		for _, fields := range typeFields {
			for _, f := range fields {
				if _, set := d.lines[key+"."+f]; set && !contains(allowed, f) {
					d.add(key+"."+f, "does not apply to type %s", c.Type)
				}
			}
		}
	}
	d.atLeast(key+".interval", c.Interval, minCheckInterval)
	if c.Timeout <= 0 {
		d.add(key+".timeout", "must be more than 0")
	}
	if c.SuccessThreshold < 1 {
		d.add(key+".success_threshold", "must be at least 1")
	}
	if c.FailureThreshold < 0 {
		d.add(key+".failure_threshold", "must be 0 (keep trying) or more")
	}
	d.validateCheckType(key, c)
}

// validateCheck's part for the fields of each check type.
func (d *document) validateCheckType(key string, c Check) {
	switch c.Type {
	case TypeExec:
		if (len(c.Command) == 0) == (c.Shell == "") {
			d.add(key, "an exec check needs exactly one of command (an argv list) or shell (a script for /bin/sh -c)")
		}
		if len(c.Command) > 0 && c.Command[0] == "" {
			d.add(key+".command", "the program name (first item) is empty")
		}
	case TypeHTTP:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.add(key+".url", "must be an http:// or https:// URL, not %q", c.URL)
		}
		if _, err := ParseStatusSet(c.ExpectStatus); err != nil {
			d.add(key+".expect_status", "%v", err)
		}
		if c.Method != strings.ToUpper(c.Method) || strings.ContainsAny(c.Method, " \t") {
			d.add(key+".method", "must be an upper-case HTTP method such as GET, not %q", c.Method)
		}
	case TypeTCP:
		if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			d.add(key+".address", "must be host:port, not %q", c.Address)
		}
	case TypeFile:
		d.absPath(key+".path", c.Path)
	case TypeCloudInit:
		if c.Root != "" {
			d.absPath(key+".root", c.Root)
		}
	case TypeSignal:
		if c.Signal != "ready" && c.Signal != "drained" {
			d.add(key+".signal", "must be ready or drained, not %q", c.Signal)
		}
	}
}

func (d *document) atLeast(key string, v Duration, lowest time.Duration) {
	if v.D() < lowest {
		d.add(key, "must be at least %s, not %s", Duration(lowest), v)
	}
}

func (d *document) absPath(key, p string) {
	if !filepath.IsAbs(p) {
		d.add(key, "must be an absolute path, not %q", p)
	}
}

// endpoint accepts http as well as https: the metadata service is plain
// HTTP, and AS may sit behind a local proxy or simulator.
func (d *document) endpoint(key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		d.add(key, "must be a URL such as https://host[:port], not %q", raw)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// StatusSet is a set of HTTP status codes, written "200-399" or "200,204,301-308".
type StatusSet [][2]int

// ParseStatusSet parses an expect_status value.
func ParseStatusSet(s string) (StatusSet, error) {
	var set StatusSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(hi))
		}
		if errA != nil || errB != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("must be status codes 100-599 such as \"200-399\" or \"200,204\", not %q", s)
		}
		set = append(set, [2]int{a, b})
	}
	return set, nil
}

// Contains reports whether code is in the set.
func (s StatusSet) Contains(code int) bool {
	for _, r := range s {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}
