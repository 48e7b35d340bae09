// Package asclient is the agent's Auto Scaling API client. It is built on the
// official SDK's AS v1 client (models, paths, the SDK's own signer) and adds
// what the agent needs around it: credentials that are re-read on every call
// so temporary ones are renewed without a restart, a per-call timeout,
// classified errors, retries with capped exponential backoff and jitter up
// to the caller's deadline, and scaling group discovery.
//
// Nothing here lets the SDK reach out by itself: requests carry our own
// credential type (the SDK never consults its metadata accessor or IAM, since
// the AK, SK and project ID are always set), go only to the configured,
// region-table or derived endpoint (never one from the SDK's own region
// variables or files), through the proxy that cloud.proxy or the
// environment names. Every answer is checked before the SDK reads it: a
// redirect is an error, its size is capped, and its Date header feeds an
// estimate of AS's clock. IDs and names in answers are checked against AS's
// formats when they enter.
package asclient

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sync/atomic"
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
	// Region picks the endpoint from the SDK's AS region table when
	// Endpoint is empty; a region the table lacks gets
	// https://as.{region}.myhuaweicloud.com.
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
	// Proxy is cloud.proxy: ProxyFromEnvironment (""), ProxyNone, or a
	// proxy URL that overrides the environment.
	Proxy string
	// Getenv reads the proxy variables; nil means os.Getenv.
	Getenv func(string) string
	// Clock is the time source for retry sleeps, deadlines and the signature
	// date (X-Sdk-Date); nil means the real clock.
	Clock clockwork.Clock
	// Logger receives retries and give-ups; never secrets.
	Logger zerolog.Logger
	// UserAgent is appended to the SDK's User-Agent.
	UserAgent string
	// Transport replaces the HTTP transport (tests); Proxy then does not
	// apply. nil means a private transport with the chosen proxy.
	Transport http.RoundTripper
	// WrapTransport, when set, wraps the transport (Transport or the
	// private one) to watch every HTTP request, for metrics.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client calls the AS API for one project. It is safe for concurrent use:
// each call builds its own SDK client around a shared transport, so nothing
// the SDK keeps per client (its endpoint index, its credential) is shared.
type Client struct {
	endpoint    string
	endpointSrc string // EndpointFrom*
	proxy       proxyChoice
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
	asClock     *asClock
	throttling  throttling
}

// projectIDPattern is a project ID: 32 hex characters on Huawei Cloud;
// readable ones in test setups. It goes into every request path.
var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// New returns a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	if opts.ProjectID == "" {
		return nil, errors.New("AS client: project ID is required (cloud.project_id, or from the metadata service)")
	}
	if !projectIDPattern.MatchString(opts.ProjectID) {
		return nil, fmt.Errorf("AS client: project ID %q: want 1-64 letters, digits, '_' or '-'", truncate(opts.ProjectID, 80))
	}
	if opts.Credentials == nil {
		return nil, errors.New("AS client: credentials are required")
	}
	ep, src, err := resolveEndpoint(opts.Region, opts.Endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{
		endpoint:    ep,
		endpointSrc: src,
		projectID:   opts.ProjectID,
		creds:       opts.Credentials,
		callTimeout: cmp.Or(max(opts.CallTimeout, 0), DefaultCallTimeout),
		budget:      cmp.Or(max(opts.RetryBudget, 0), DefaultRetryBudget),
		policy:      opts.Backoff,
		throttle:    cmp.Or(max(opts.ThrottleDelay, 0), DefaultThrottleDelay),
		clock:       opts.Clock,
		log:         opts.Logger,
		userAgent:   cmp.Or(opts.UserAgent, "asagent"),
		rt:          opts.Transport,
		asClock:     &asClock{log: opts.Logger},
	}
	if c.policy == (backoff.Policy{}) {
		c.policy = backoff.Default()
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.proxy, err = resolveProxy(opts.Proxy, ep, opts.Getenv); err != nil {
		return nil, err
	}
	if c.rt == nil {
		c.rt = &http.Transport{
			Proxy:               c.proxy.fn, // cloud.proxy or the environment; the metadata service never has one
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
func (c *Client) Endpoint() string { return c.endpoint }

// EndpointSource says where Endpoint came from: EndpointFromConfig,
// EndpointFromTable or EndpointFromDerived.
func (c *Client) EndpointSource() string { return c.endpointSrc }

// Proxy describes the proxy that AS calls go through and where it was set,
// e.g. "http://proxy:3128 (HTTPS_PROXY)" or "none"; a password in the
// proxy URL shows as "xxxxx".
func (c *Client) Proxy() string { return c.proxy.desc }

// ProjectID returns the project the client works in.
func (c *Client) ProjectID() string { return c.projectID }

// call runs fn against a fresh SDK client until it succeeds, fails finally,
// or the next retry would end after the deadline (ctx's, else now plus the
// retry budget). A 401 is retried once at once when a retry may mend it
// (see mayMendAuth). A throttled answer is counted (Throttling), and not
// retried for a caller that paces its own calls (Paced); others wait at
// least ThrottleDelay, or what Retry-After asks.
func (c *Client) call(ctx context.Context, op string, fn func(*as.AsClient) error) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = c.clock.Now().Add(c.budget)
	}
	mended := false
	throttled := 0 // throttled answers so far
	for attempt := 1; ; attempt++ {
		a := c.once(ctx, fn)
		used, signedOffset, err := a.creds, a.offset, a.err
		if err == nil {
			if attempt > 1 {
				c.log.Debug().Str("op", op).Int("attempts", attempt).Msg("AS call succeeded after retries")
			}
			return nil
		}
		e := classify(op, err)
		e.Attempts = attempt
		if off, ok := c.ClockOffset(); ok && e.Kind == KindAuth && (off > ClockWarnOffset || off < -ClockWarnOffset) {
			e.Hint += " (this instance's clock is " + aheadOrBehind(off) + ")"
		}
		if done(ctx) {
			return e
		}
		if e.Kind == KindAuth && !mended && c.mayMendAuth(op, used, signedOffset) {
			mended = true
			continue
		}
		if e.Throttled() {
			e.RetryAfter = a.retryAfter
			c.throttling.note(c.clock.Now(), a.retryAfter)
			if paced(ctx) {
				return e
			}
		}
		if !e.Retryable() {
			return e
		}
		delay := c.policy.Delay(attempt - 1)
		if e.Throttled() {
			// Each 429 in a row doubles the wait from ThrottleDelay, with
			// jitter: the project's limit is spent, and every agent of the
			// project is retrying too.
			throttled++
			delay = max(delay, throttleBackoff(c.throttle, throttled), a.retryAfter)
		}
		if c.clock.Now().Add(delay).After(deadline) {
			e.GaveUp = true
			c.log.Warn().Str("op", op).Int("attempts", attempt).Err(e).Msg("AS call failed; no time left to retry")
			return e
		}
		c.log.Debug().Str("op", op).Int("attempt", attempt).Stringer("delay", delay).Err(e).Msg("AS call failed; retrying")
		if err := backoff.Sleep(ctx, c.clock, delay); err != nil {
			return e
		}
	}
}

// mayMendAuth reports whether a 401 is worth one immediate retry, and
// prepares it: temporary credentials can be revoked or expire early, so
// they are renewed; and a signature dated resignOffset or more away from
// what AS's clock now appears to be (by the refusal's own Date header) is
// dated again, so that a clock far off at first boot costs one call, not
// every call until NTP has set it.
func (c *Client) mayMendAuth(op string, used metadata.Credentials, signedOffset time.Duration) bool {
	mend := false
	if off, ok := c.ClockOffset(); ok && (off-signedOffset >= resignOffset || signedOffset-off >= resignOffset) {
		c.log.Info().Str("op", op).Stringer("as_clock_offset", off).
			Msg("AS refused a signature dated by this instance's clock; signing again by AS's clock")
		mend = true
	}
	if used.Temporary() {
		c.creds.Invalidate(used)
		c.log.Info().Str("op", op).Str("access_key", metadata.MaskAccessKey(used.AccessKey)).
			Msg("AS rejected the temporary credentials; renewing them")
		mend = true
	}
	return mend
}

// resignOffset is how far the clock estimate must have moved since a
// refused request was signed for a new signature date to be worth a
// retry: AS accepts signatures up to 15 minutes off.
const resignOffset = 5 * time.Minute

// attempt is what one call to AS came to: the credentials it used, so that
// a 401 can invalidate exactly those, the clock offset the signature was
// dated with, and how long AS asked us to wait (Retry-After; 0 when it did
// not say).
type attempt struct {
	creds      metadata.Credentials
	offset     time.Duration
	retryAfter time.Duration
	err        error
}

// once makes one call with the current credentials.
func (c *Client) once(ctx context.Context, fn func(*as.AsClient) error) attempt {
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		return attempt{err: &credentialsError{err: err}}
	}
	if creds.AccessKey == "" || creds.SecretKey == "" {
		// The SDK's signer refuses empty keys, but never send such a request.
		return attempt{creds: creds, err: &credentialsError{err: errors.New("credentials have an empty access key or secret key"), final: true}}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	var large atomic.Bool
	var retryAfter atomic.Int64
	hcfg := sdkconfig.DefaultHttpConfig().
		WithTimeout(0). // callCtx bounds the call (see callTransport)
		WithHttpRoundTripper(callTransport{ctx: callCtx, base: c.rt, c: c, large: &large, retryAfter: &retryAfter}).
		WithUserAgent(c.userAgent).
		WithSigningAlgorithm(algorithm.GetDefaultSigningAlgorithm())
	offset, _ := c.ClockOffset()
	hc := core.NewHcHttpClient(impl.NewDefaultHttpClient(hcfg)).
		WithEndpoints([]string{c.endpoint}).
		WithCredential(&signingCredential{creds: creds, projectID: c.projectID, date: c.clock.Now().Add(offset)}).
		WithErrorHandler(sdkerr.DefaultErrorHandler{})
	err = fn(as.NewAsClient(hc))
	switch {
	case err != nil && large.Load():
		// The SDK drops read errors of error answers: say what happened.
		err = &answerTooLargeError{size: -1}
	case err != nil && done(callCtx) && !done(ctx):
		err = &callTimeoutError{timeout: c.callTimeout, err: err}
	}
	return attempt{creds: creds, offset: offset, retryAfter: time.Duration(retryAfter.Load()), err: err}
}

// signingCredential is the auth.ICredential the SDK client gets: a snapshot of
// the current credentials that delegates signing to the SDK's own
// basic.Credentials. Built fresh per call, so renewed credentials apply at
// once; built as a literal with AK, SK and project ID set, so the SDK's
// metadata accessor and IAM project lookup are never armed.
type signingCredential struct {
	creds     metadata.Credentials
	projectID string
	date      time.Time // X-Sdk-Date: AS's time as the client knows it
}

var _ auth.ICredential = (*signingCredential)(nil)

// ProcessAuthParams is what the SDK calls to fill in a missing project ID
// (via IAM); ours is always set, so there is nothing to do.
func (s *signingCredential) ProcessAuthParams(*impl.DefaultHttpClient, string) (auth.ICredential, error) {
	return s, nil
}

// ProcessAuthRequest signs req with the SDK's signer. The signature date is
// AS's time by our clock and the offset estimate, so that it agrees with
// the clock of whoever checks it (the simulator's fake clock in tests, AS's
// in production, even while this instance's clock is off).
func (s *signingCredential) ProcessAuthRequest(hc *impl.DefaultHttpClient, req *request.DefaultHttpRequest) (*request.DefaultHttpRequest, error) {
	req.AddHeaderParam(signer.HeaderXDate, s.date.UTC().Format(signer.BasicDateFormat))
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
