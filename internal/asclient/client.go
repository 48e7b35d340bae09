// Package asclient is the agent's Auto Scaling API client. It is built on the
// official SDK's AS v1 client (models, paths, the SDK's own signer) and adds
// what the agent needs around it: credentials that are re-read on every call
// so temporary ones are renewed without a restart, a per-call timeout,
// classified errors, retries with capped exponential backoff and jitter up
// to the caller's deadline, and scaling group discovery.
//
// Nothing here lets the SDK reach out by itself: requests carry our own
// credential type (the SDK never consults its metadata accessor or IAM, since
// the AK, SK and project ID are always set), go only to the configured or
// region-table endpoint, and use a transport without a proxy.
package asclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer/algorithm"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/impl"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/region"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
)

// Defaults for Options. Each says why it has its value.
const (
	// DefaultCallTimeout bounds one HTTP call. The SDK's own 120 s would let
	// one stuck call eat a large part of a hook's one-hour window.
	DefaultCallTimeout = 15 * time.Second
	// DefaultRetryBudget bounds the retries of a call whose context has no
	// deadline, so that no call retries forever by accident.
	DefaultRetryBudget = 2 * time.Minute
	// DefaultThrottleDelay is the shortest wait after a 429: Huawei advises
	// retrying a throttled call after 2 to 5 seconds.
	DefaultThrottleDelay = 2 * time.Second
)

// Credentials yields the credentials to sign with. metadata.Static and
// *metadata.AgencyCredentials implement it.
type Credentials interface {
	Credentials(ctx context.Context) (metadata.Credentials, error)
	Invalidate(used metadata.Credentials)
}

// Options configure a Client.
type Options struct {
	// Region picks the endpoint from the SDK's AS region table
	// (https://as.{region}.myhuaweicloud.com and its exceptions) when
	// Endpoint is empty.
	Region string
	// Endpoint overrides the region table (cloud.as_endpoint): a base URL
	// with scheme and host, e.g. https://as.cn-north-4.myhuaweicloud.com.
	Endpoint string
	// ProjectID fills {project_id} in every path. Required: with it empty
	// the SDK would ask IAM for it.
	ProjectID string
	// Credentials are read before every call. Required.
	Credentials Credentials
	// CallTimeout bounds one HTTP call; 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// RetryBudget bounds retries when the caller's context has no deadline;
	// 0 means DefaultRetryBudget.
	RetryBudget time.Duration
	// Backoff paces retries; the zero value means backoff.Default().
	Backoff backoff.Policy
	// ThrottleDelay is the shortest wait after a 429; 0 means DefaultThrottleDelay.
	ThrottleDelay time.Duration
	// InsecureSkipVerify turns off TLS verification (cloud.insecure_skip_verify).
	InsecureSkipVerify bool
	// Clock is the time source for retry sleeps, deadlines and the signature
	// date (X-Sdk-Date); nil means the real clock.
	Clock clockwork.Clock
	// Logger receives retries and give-ups; never secrets.
	Logger zerolog.Logger
	// UserAgent is appended to the SDK's User-Agent.
	UserAgent string
	// Transport replaces the HTTP transport (tests). nil means a private
	// transport with no proxy.
	Transport http.RoundTripper
	// WrapTransport, when set, wraps the transport (Transport or the
	// private one) to watch every HTTP request, for metrics.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client calls the AS API for one project. It is safe for concurrent use:
// each call builds its own SDK client around a shared transport, so nothing
// the SDK keeps per client (its endpoint index, its credential) is shared.
type Client struct {
	endpoints   []string
	projectID   string
	creds       Credentials
	callTimeout time.Duration
	budget      time.Duration
	policy      backoff.Policy
	throttle    time.Duration
	clock       clockwork.Clock
	log         zerolog.Logger
	userAgent   string
	rt          http.RoundTripper
}

// New returns a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	if opts.ProjectID == "" {
		return nil, errors.New("AS client: project ID is required (cloud.project_id, or from the metadata service)")
	}
	if opts.Credentials == nil {
		return nil, errors.New("AS client: credentials are required")
	}
	eps, err := resolveEndpoints(opts.Region, opts.Endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{
		endpoints:   eps,
		projectID:   opts.ProjectID,
		creds:       opts.Credentials,
		callTimeout: opts.CallTimeout,
		budget:      opts.RetryBudget,
		policy:      opts.Backoff,
		throttle:    opts.ThrottleDelay,
		clock:       opts.Clock,
		log:         opts.Logger,
		userAgent:   opts.UserAgent,
		rt:          opts.Transport,
	}
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	if c.budget <= 0 {
		c.budget = DefaultRetryBudget
	}
	if c.policy == (backoff.Policy{}) {
		c.policy = backoff.Default()
	}
	if c.throttle <= 0 {
		c.throttle = DefaultThrottleDelay
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.userAgent == "" {
		c.userAgent = "asagent"
	}
	if c.rt == nil {
		c.rt = &http.Transport{
			Proxy:               nil, // only the AS endpoint, never a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: c.callTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: opts.InsecureSkipVerify}, //nolint:gosec // the user's explicit choice
			TLSHandshakeTimeout: c.callTimeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	if opts.WrapTransport != nil {
		c.rt = opts.WrapTransport(c.rt)
	}
	return c, nil
}

// Endpoint returns the AS endpoint the client calls.
func (c *Client) Endpoint() string { return c.endpoints[0] }

// ProjectID returns the project the client works in.
func (c *Client) ProjectID() string { return c.projectID }

// resolveEndpoints picks the configured endpoint or the SDK's region entry.
func resolveEndpoints(region, endpoint string) ([]string, error) {
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("AS endpoint %q: want a base URL such as https://as.cn-north-4.myhuaweicloud.com", endpoint)
		}
		return []string{u.Scheme + "://" + u.Host}, nil
	}
	if region == "" {
		return nil, errors.New("AS client: neither a region nor an AS endpoint is known (set cloud.region or cloud.as_endpoint)")
	}
	reg, err := asregion.SafeValueOf(region)
	if err != nil || reg == nil || len(reg.Endpoints) == 0 {
		return nil, fmt.Errorf("region %q is not in the SDK's AS region table: set cloud.as_endpoint", region)
	}
	eps := make([]string, 0, len(reg.Endpoints))
	for _, e := range reg.Endpoints {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" {
			continue
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, fmt.Errorf("region %q: endpoint %q has no http(s) scheme", region, e)
		}
		eps = append(eps, u.Scheme+"://"+u.Host)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("region %q has no usable AS endpoint: set cloud.as_endpoint", region)
	}
	return eps, nil
}

// call runs fn against a fresh SDK client until it succeeds, fails finally,
// or the next retry would end after the deadline (ctx's, else now plus the
// retry budget). A 401 with renewable credentials invalidates them and
// retries once at once.
func (c *Client) call(ctx context.Context, op string, fn func(*as.AsClient) error) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = c.clock.Now().Add(c.budget)
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		used, err := c.once(ctx, fn)
		if err == nil {
			if attempt > 1 {
				c.log.Debug().Str("op", op).Int("attempts", attempt).Msg("AS call succeeded after retries")
			}
			return nil
		}
		e := classify(op, err)
		e.Attempts = attempt
		if done(ctx) {
			return e
		}
		if e.Kind == KindAuth && !renewed && used.Temporary() {
			// Temporary credentials can be revoked or expire early: get new
			// ones before calling it an auth failure.
			renewed = true
			c.creds.Invalidate(used)
			c.log.Info().Str("op", op).Str("access_key", metadata.MaskAccessKey(used.AccessKey)).
				Msg("AS rejected the temporary credentials; renewing them")
			continue
		}
		if !e.Retryable() {
			return e
		}
		delay := c.policy.Delay(attempt - 1)
		if e.Throttled() {
			delay = max(delay, c.throttle)
		}
		if c.clock.Now().Add(delay).After(deadline) {
			e.GaveUp = true
			c.log.Warn().Str("op", op).Int("attempts", attempt).Err(e).Msg("AS call failed; no time left to retry")
			return e
		}
		c.log.Debug().Str("op", op).Int("attempt", attempt).Dur("delay", delay).Err(e).Msg("AS call failed; retrying")
		if err := backoff.Sleep(ctx, c.clock, delay); err != nil {
			return e
		}
	}
}

// once makes one call with the current credentials, and returns them so a
// 401 can invalidate exactly those.
func (c *Client) once(ctx context.Context, fn func(*as.AsClient) error) (metadata.Credentials, error) {
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		return metadata.Credentials{}, &credentialsError{err: err}
	}
	if creds.AccessKey == "" || creds.SecretKey == "" {
		// The SDK's signer refuses empty keys, but never send such a request.
		return creds, &credentialsError{err: errors.New("credentials have an empty access key or secret key"), final: true}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	hcfg := sdkconfig.DefaultHttpConfig().
		WithTimeout(0). // callCtx bounds the call (see ctxTransport)
		WithHttpRoundTripper(ctxTransport{ctx: callCtx, base: c.rt}).
		WithUserAgent(c.userAgent).
		WithSigningAlgorithm(algorithm.GetDefaultSigningAlgorithm())
	hc := core.NewHcHttpClient(impl.NewDefaultHttpClient(hcfg)).
		WithEndpoints(append([]string(nil), c.endpoints...)).
		WithCredential(&signingCredential{creds: creds, projectID: c.projectID, clock: c.clock}).
		WithErrorHandler(sdkerr.DefaultErrorHandler{})
	err = fn(as.NewAsClient(hc))
	if err != nil && done(callCtx) && !done(ctx) {
		err = &callTimeoutError{timeout: c.callTimeout, err: err}
	}
	return creds, err
}

// ctxTransport runs every request of one call under that call's context: the
// SDK's Sync takes no context, so this is how cancellation and the per-call
// timeout reach the connection.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// signingCredential is the auth.ICredential the SDK client gets: a snapshot of
// the current credentials that delegates signing to the SDK's own
// basic.Credentials. Built fresh per call, so renewed credentials apply at
// once; built as a literal with AK, SK and project ID set, so the SDK's
// metadata accessor and IAM project lookup are never armed.
type signingCredential struct {
	creds     metadata.Credentials
	projectID string
	clock     clockwork.Clock
}

var _ auth.ICredential = (*signingCredential)(nil)

// ProcessAuthParams is what the SDK calls to fill in a missing project ID
// (via IAM); ours is always set, so there is nothing to do.
func (s *signingCredential) ProcessAuthParams(*impl.DefaultHttpClient, string) (auth.ICredential, error) {
	return s, nil
}

// ProcessAuthRequest signs req with the SDK's signer. The signature date
// comes from our clock, so that it agrees with the clock of whoever checks it
// (the simulator's fake clock in tests, the real one in production).
func (s *signingCredential) ProcessAuthRequest(hc *impl.DefaultHttpClient, req *request.DefaultHttpRequest) (*request.DefaultHttpRequest, error) {
	req.AddHeaderParam(signer.HeaderXDate, s.clock.Now().UTC().Format(signer.BasicDateFormat))
	b := &basic.Credentials{
		BaseCredentials: auth.BaseCredentials{
			AK:            s.creds.AccessKey,
			SK:            s.creds.SecretKey.Reveal(),
			SecurityToken: s.creds.SecurityToken.Reveal(),
		},
		ProjectId: s.projectID,
	}
	return b.ProcessAuthRequest(hc, req)
}

// done reports whether ctx has ended, without calling ctx.Err: a context
// made by clockwork.WithDeadline on a fake clock blocks in Err until it is
// done (clockwork v0.5.0), which would stall every retry in a fake-clock run.
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
