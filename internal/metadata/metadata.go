// Package metadata owns the instance's view of itself: its identity (instance
// ID, project, region, availability zone) and its agency's temporary
// credentials, both read from the ECS metadata service, plus static
// credentials from configuration or the SDK's environment variables.
//
// Every request goes to the one configured endpoint and nowhere else: the
// HTTP client has no proxy and follows no redirects, and nothing here uses
// the SDK's own metadata or IAM lookups.
package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
)

// DefaultEndpoint is the ECS metadata service as seen from inside an instance.
const DefaultEndpoint = "http://169.254.169.254"

// Paths and headers of the metadata service (Huawei's ECS metadata API).
const (
	pathToken       = "/meta-data/latest/api/token"
	pathMetaData    = "/openstack/latest/meta_data.json"
	pathSecurityKey = "/openstack/latest/securitykey"

	headerToken    = "X-Metadata-Token"
	headerTokenTTL = "X-Metadata-Token-Ttl-Seconds"
)

// Defaults for Options. Each says why it has its value.
const (
	// DefaultRequestTimeout bounds one metadata request: the service is on the
	// host, so an answer that takes longer than this is not coming.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultTokenTTL is the session token lifetime we ask for: the service's
	// maximum (21600 s), so renewals are rare.
	DefaultTokenTTL = 6 * time.Hour
	// tokenRecheck is how long a "tokens unsupported" answer is believed
	// before the PUT is tried again (token enforcement is an instance setting
	// that can be switched on while the agent runs; a 401 also rechecks).
	tokenRecheck = 10 * time.Minute
	// maxBody caps what is read from one answer: meta_data.json is a few KB.
	maxBody = 1 << 20
)

// Options configure a Client. The zero value talks to DefaultEndpoint with
// the real clock.
type Options struct {
	// Endpoint is the metadata service's base URL (cloud.metadata_endpoint).
	Endpoint string
	// RequestTimeout bounds one HTTP request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// TokenTTL is the session token lifetime to ask for (60 s .. 6 h); 0 means
	// DefaultTokenTTL. The token is renewed when a fifth of it is left.
	TokenTTL time.Duration
	// Backoff paces Identity's retries while the service does not answer;
	// the zero value means backoff.Default().
	Backoff backoff.Policy
	// Clock is the time source for token expiry, credential expiry and
	// retry sleeps; nil means the real clock.
	Clock clockwork.Clock
	// Logger receives state changes (service down, service back); never secrets.
	Logger zerolog.Logger
	// Transport replaces the HTTP transport (tests). nil means a private
	// transport with no proxy, so a proxy variable in the environment cannot
	// send metadata requests (and their tokens) elsewhere.
	Transport http.RoundTripper
	// Fetched, when set, is told of every fetch of the agency's temporary
	// credentials: err is nil when it worked. For metrics.
	Fetched func(err error)
}

// Client reads the ECS metadata service. It is safe for concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	ttl      time.Duration
	timeout  time.Duration
	policy   backoff.Policy
	clock    clockwork.Clock
	log      zerolog.Logger
	fetched  func(error)

	mu             sync.Mutex
	token          string    // current session token; "" when none
	tokenRenewAt   time.Time // when to ask for a new one
	noTokens       bool      // the token PUT failed: going on without tokens
	tokenRecheckAt time.Time // when to believe noTokens no longer
}

// New returns a client for the metadata service that Options names. It sends
// nothing until a method is called.
func New(opts Options) (*Client, error) {
	ep := opts.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("metadata endpoint %q: want an http:// or https:// URL such as %s", ep, DefaultEndpoint)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("metadata endpoint %q: want only scheme, host and port, such as %s", ep, DefaultEndpoint)
	}
	c := &Client{
		endpoint: u.Scheme + "://" + u.Host,
		ttl:      opts.TokenTTL,
		timeout:  opts.RequestTimeout,
		policy:   opts.Backoff,
		clock:    opts.Clock,
		log:      opts.Logger,
		fetched:  opts.Fetched,
	}
	if c.ttl == 0 {
		c.ttl = DefaultTokenTTL
	}
	if c.ttl < time.Minute || c.ttl > 6*time.Hour {
		return nil, fmt.Errorf("metadata token TTL %v: the service accepts 60s to 6h", c.ttl)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.policy == (backoff.Policy{}) {
		c.policy = backoff.Default()
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 nil, // never a proxy: see Options.Transport
			DialContext:           (&net.Dialer{Timeout: c.timeout}).DialContext,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: c.timeout,
		}
	}
	c.http = &http.Client{
		Transport: rt,
		Timeout:   c.timeout,
		// A redirect would send the token to wherever the Location points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// Identity is who this instance is, from meta_data.json.
type Identity struct {
	InstanceID       string // "uuid": the ECS server ID that AS lists
	ProjectID        string
	Region           string
	AvailabilityZone string
}

// metaData is the part of meta_data.json that the agent reads.
type metaData struct {
	UUID             string `json:"uuid"`
	ProjectID        string `json:"project_id"`
	RegionID         string `json:"region_id"`
	AvailabilityZone string `json:"availability_zone"`
}

// Identity reads meta_data.json, retrying with capped exponential backoff and
// jitter until the service answers with a usable document or ctx ends (at
// boot the service may not answer for a while). It logs once when the service
// starts failing and once when it recovers, not on every attempt. On ctx's
// end it returns the last failure, wrapped with the context's error.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	var lastErr error
	start := c.clock.Now()
	for attempt := 0; ; attempt++ {
		id, err := c.IdentityOnce(ctx)
		if err == nil {
			if attempt > 0 {
				c.log.Info().Int("attempts", attempt+1).Stringer("after", c.clock.Since(start)).
					Msg("metadata service answers again")
			}
			return id, nil
		}
		if ctx.Err() != nil {
			if lastErr == nil {
				lastErr = err
			}
			return Identity{}, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		}
		lastErr = err
		if attempt == 0 {
			c.log.Warn().Err(err).Str("endpoint", c.endpoint).
				Msg("metadata service not answering; retrying with backoff")
		}
		if err := backoff.Sleep(ctx, c.clock, c.policy.Delay(attempt)); err != nil {
			return Identity{}, fmt.Errorf("%w (last error: %v)", err, lastErr)
		}
	}
}

// IdentityOnce reads meta_data.json once, without retrying.
func (c *Client) IdentityOnce(ctx context.Context) (Identity, error) {
	body, err := c.get(ctx, pathMetaData)
	if err != nil {
		return Identity{}, err
	}
	var md metaData
	if err := json.Unmarshal(body, &md); err != nil {
		return Identity{}, fmt.Errorf("metadata %s: malformed answer (%d bytes): not JSON", pathMetaData, len(body))
	}
	id := Identity{
		InstanceID:       md.UUID,
		ProjectID:        md.ProjectID,
		Region:           md.RegionID,
		AvailabilityZone: md.AvailabilityZone,
	}
	if id.InstanceID == "" || id.ProjectID == "" {
		return Identity{}, fmt.Errorf("metadata %s: answer lacks uuid or project_id", pathMetaData)
	}
	if err := id.check(); err != nil {
		return Identity{}, fmt.Errorf("metadata %s: %w", pathMetaData, err)
	}
	if !validZone(id.AvailabilityZone) {
		id.AvailabilityZone = "" // only shown and used to derive a region: dropped, not refused
	}
	if id.Region == "" {
		id.Region = regionFromAZ(id.AvailabilityZone)
	}
	return id, nil
}

// The formats of the identity's fields. The instance and project IDs go
// into AS request paths and the region into a host name, so a value out of
// pattern is refused rather than passed on; the zone is only shown and
// used to derive a region, so a bad one is dropped.
var (
	instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	projectIDPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	regionPattern     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// maxRegionLen bounds a region or zone: it becomes a DNS label (63 bytes).
const maxRegionLen = 63

// check refuses identity values out of pattern.
func (id Identity) check() error {
	bad := func(field, v string) error {
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		return fmt.Errorf("%s %s is not valid", field, strconv.QuoteToASCII(v))
	}
	switch {
	case !instanceIDPattern.MatchString(id.InstanceID):
		return bad("uuid", id.InstanceID)
	case !projectIDPattern.MatchString(id.ProjectID):
		return bad("project_id", id.ProjectID)
	case id.Region != "" && !validZone(id.Region):
		return bad("region_id", id.Region)
	}
	return nil
}

// validZone reports a region or zone name fit for a host name (or empty).
func validZone(z string) bool {
	return z == "" || (len(z) <= maxRegionLen && regionPattern.MatchString(z))
}

// regionFromAZ derives "cn-north-4" from "cn-north-4a": Huawei names zones
// after their region plus a letter. Used only when region_id is missing.
func regionFromAZ(az string) string {
	r := strings.TrimRight(az, "abcdefghijklmnopqrstuvwxyz")
	if r == az || r == "" || r[len(r)-1] < '0' || r[len(r)-1] > '9' {
		return ""
	}
	return r
}

// StatusError is an unexpected HTTP status from the metadata service. Its
// message carries the path, the status and the start of the body (error
// bodies hold no secrets; success bodies are never put in an error).
type StatusError struct {
	Path   string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("metadata %s: HTTP %d", e.Path, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// get GETs path with the session token when the service uses tokens, and
// renews the token once after a 401 (only a 401 on a GET says tokens are
// required). An answer saying the instance has no agency is ErrNoAgency,
// whatever its status.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	tok, err := c.sessionToken(ctx, false)
	if err != nil {
		return nil, err
	}
	status, body, err := c.do(ctx, http.MethodGet, path, tok)
	if err != nil {
		return nil, err
	}
	if status == http.StatusUnauthorized && !isNoAgency(body) {
		// Our token expired or was revoked, or tokens became required.
		tok, err = c.sessionToken(ctx, true)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			status, body, err = c.do(ctx, http.MethodGet, path, tok)
			if err != nil {
				return nil, err
			}
		}
	}
	if isNoAgency(body) {
		return nil, ErrNoAgency
	}
	if status != http.StatusOK {
		return nil, &StatusError{Path: path, Status: status, Body: snippet(body)}
	}
	return body, nil
}

// sessionToken returns the token to send, or "" when the service does not
// use tokens. force asks for a new token even if the cached one looks fine
// or the service said it has none (after a 401).
func (c *Client) sessionToken(ctx context.Context, force bool) (string, error) {
	now := c.clock.Now()
	c.mu.Lock()
	if !force {
		if c.token != "" && now.Before(c.tokenRenewAt) {
			tok := c.token
			c.mu.Unlock()
			return tok, nil
		}
		if c.noTokens && now.Before(c.tokenRecheckAt) {
			c.mu.Unlock()
			return "", nil
		}
	}
	c.mu.Unlock()

	status, body, err := c.doToken(ctx)
	if err != nil && done(ctx) {
		return "", err // the caller gave up: that says nothing about tokens
	}
	now = c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && status == http.StatusOK && len(strings.TrimSpace(string(body))) > 0 {
		if c.noTokens || c.token == "" {
			c.log.Debug().Stringer("ttl", c.ttl).Msg("metadata service issues session tokens; using them")
		}
		c.token = strings.TrimSpace(string(body))
		c.tokenRenewAt = now.Add(c.ttl - c.ttl/5)
		c.noTokens = false
		return c.token, nil
	}
	// Any other answer, or none: the token API is documented for few
	// regions, and what it answers where it does not exist is unknown
	// (404, 405, 403, 501, a reset...). Go on without a token; a 401 on a
	// GET is what says tokens are required, and asks again.
	if !c.noTokens {
		ev := c.log.Debug().Int("status", status)
		if err != nil {
			ev = ev.Err(err)
		}
		ev.Msg("metadata token PUT failed; going on without session tokens")
	}
	c.token = ""
	c.noTokens = true
	c.tokenRecheckAt = now.Add(tokenRecheck)
	return "", nil
}

// done reports whether ctx has ended.
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func (c *Client) doToken(ctx context.Context) (int, []byte, error) {
	return c.doReq(ctx, http.MethodPut, pathToken, func(h http.Header) {
		h.Set(headerTokenTTL, strconv.Itoa(int(c.ttl/time.Second)))
	})
}

func (c *Client) do(ctx context.Context, method, path, token string) (int, []byte, error) {
	return c.doReq(ctx, method, path, func(h http.Header) {
		if token != "" {
			h.Set(headerToken, token)
		}
	})
}

func (c *Client) doReq(ctx context.Context, method, path string, hdr func(http.Header)) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, http.NoBody)
	if err != nil {
		return 0, nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	hdr(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("metadata %s %s: %w", method, path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("metadata %s %s: reading answer: %w", method, path, err)
	}
	return resp.StatusCode, body, nil
}

// unwrapURLError drops url.Error's "Get \"URL\":" prefix, which repeats what
// our message already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippet returns the start of an error body, on one line, for messages.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
