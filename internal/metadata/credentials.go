package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/asagent/asagent/internal/secret"
)

// Secret is the shared never-printing string (see package secret).
type Secret = secret.Secret

// Where credentials came from, as Credentials.Source reports it.
const (
	SourceConfig      = "config"                     // cloud.credentials in agent.yaml
	SourceEnvironment = "environment"                // HUAWEICLOUD_SDK_AK and friends
	SourceAgency      = "metadata securitykey"       // the instance's agency, via the metadata service
	sourceUnknown     = "unknown credentials source" // a Credentials built by hand
)

// Credentials are one AK/SK pair, with a security token when temporary.
type Credentials struct {
	AccessKey     string // not a secret on its own, but shown masked anyway
	SecretKey     Secret
	SecurityToken Secret    // set for temporary credentials
	ExpiresAt     time.Time // zero for credentials that do not expire
	Source        string    // one of the Source constants
}

// Temporary reports whether the credentials carry a security token.
func (c Credentials) Temporary() bool { return c.SecurityToken != "" }

// String describes the credentials without their secrets, e.g.
// "AK HPUA****WXYZ (metadata securitykey, temporary, expires 2026-01-02T03:04:05Z)".
func (c Credentials) String() string {
	src := c.Source
	if src == "" {
		src = sourceUnknown
	}
	var b strings.Builder
	fmt.Fprintf(&b, "AK %s (%s", MaskAccessKey(c.AccessKey), src)
	if c.Temporary() {
		b.WriteString(", temporary")
	}
	if !c.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, ", expires %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	b.WriteString(")")
	return b.String()
}

// GoString keeps %#v from printing the fields raw.
func (c Credentials) GoString() string { return "metadata.Credentials{" + c.String() + "}" }

// MaskAccessKey shows the first and last four characters of an access key,
// enough to tell two keys apart in a log.
func MaskAccessKey(ak string) string {
	if ak == "" {
		return "(none)"
	}
	if len(ak) <= 8 {
		return "****"
	}
	return ak[:4] + "****" + ak[len(ak)-4:]
}

// Provider yields the credentials to sign a request with now. Both the
// static and the agency provider are safe for concurrent use.
type Provider interface {
	// Credentials returns credentials that are valid now (temporary ones
	// are refreshed well before they expire).
	Credentials(ctx context.Context) (Credentials, error)
	// Invalidate says that the cloud rejected used (a 401): the next
	// Credentials call fetches new ones if used are still the current ones.
	Invalidate(used Credentials)
}

// Static is a Provider of fixed AK/SK credentials.
type Static struct{ creds Credentials }

// NewStatic returns a Provider that always yields creds. Both keys must be
// set: an empty AK/SK would make the SDK fall back to the metadata service.
func NewStatic(creds Credentials) (*Static, error) {
	if creds.AccessKey == "" || creds.SecretKey == "" {
		return nil, fmt.Errorf("static credentials (%s): both access key and secret key must be set", creds.Source)
	}
	return &Static{creds: creds}, nil
}

// Credentials returns the fixed credentials.
func (s *Static) Credentials(context.Context) (Credentials, error) { return s.creds, nil }

// Invalidate does nothing: static credentials cannot be renewed.
func (s *Static) Invalidate(Credentials) {}

// The SDK's environment variables for static credentials.
const (
	EnvAccessKey     = "HUAWEICLOUD_SDK_AK"
	EnvSecretKey     = "HUAWEICLOUD_SDK_SK"
	EnvSecurityToken = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
	EnvProjectID     = "HUAWEICLOUD_SDK_PROJECT_ID"
)

// EnvCredentials reads the SDK's usual variables through getenv (os.Getenv in
// production). ok is false when neither key is set; an error means only one
// of them is. projectID is HUAWEICLOUD_SDK_PROJECT_ID, possibly empty.
func EnvCredentials(getenv func(string) string) (creds Credentials, projectID string, ok bool, err error) {
	ak, sk := getenv(EnvAccessKey), getenv(EnvSecretKey)
	projectID = getenv(EnvProjectID)
	if ak == "" && sk == "" {
		return Credentials{}, projectID, false, nil
	}
	if ak == "" || sk == "" {
		return Credentials{}, projectID, false, fmt.Errorf("environment: %s and %s must be set together", EnvAccessKey, EnvSecretKey)
	}
	return Credentials{
		AccessKey:     ak,
		SecretKey:     Secret(sk),
		SecurityToken: Secret(getenv(EnvSecurityToken)),
		Source:        SourceEnvironment,
	}, projectID, true, nil
}

// ErrNoAgency means the instance has no agency, so the metadata service has no
// temporary credentials to give. Its message tells the user what to do.
var ErrNoAgency = errors.New("the metadata service has no temporary credentials for this instance " +
	"(\"Please configure Cloud Service Agency first\"): bind an IAM agency to the instance " +
	"(ECS console: the instance's Management Information, Agency) with the permissions the README lists, " +
	"or set static credentials in cloud.credentials")

// noAgencyMessage is what the securitykey answer says without an agency.
const noAgencyMessage = "Please configure Cloud Service Agency first"

func isNoAgency(body []byte) bool { return bytes.Contains(body, []byte(noAgencyMessage)) }

// Defaults for AgencyCredentials.
const (
	// DefaultRefreshBefore is how long before expires_at temporary
	// credentials are replaced: the SDK's own 40 minutes, which leaves room
	// for a metadata outage of more than half an hour.
	DefaultRefreshBefore = 40 * time.Minute
	// refreshRetry spaces refresh attempts that fail while the current
	// credentials still work, so a down service is not hit on every call.
	refreshRetry = 30 * time.Second
)

// AgencyCredentials is a Provider of the instance agency's temporary
// credentials from the metadata service's securitykey. It caches them,
// refreshes them before they expire (DefaultRefreshBefore, or half their
// lifetime if that is shorter) and after Invalidate, and lets only one
// caller fetch at a time.
type AgencyCredentials struct {
	c             *Client
	refreshBefore time.Duration
	fetching      chan struct{} // a one-slot semaphore: held while fetching

	mu          sync.Mutex
	cur         Credentials
	have        bool
	fetchedAt   time.Time
	stale       bool      // Invalidate named cur
	nextAttempt time.Time // after a failed refresh of still-valid credentials
}

// AgencyCredentials returns a Provider of the agency's temporary credentials;
// refreshBefore of 0 means DefaultRefreshBefore.
func (c *Client) AgencyCredentials(refreshBefore time.Duration) *AgencyCredentials {
	if refreshBefore <= 0 {
		refreshBefore = DefaultRefreshBefore
	}
	return &AgencyCredentials{c: c, refreshBefore: refreshBefore, fetching: make(chan struct{}, 1)}
}

// Credentials returns the cached credentials while they are fresh, and
// otherwise fetches new ones. When a refresh fails but the cached ones have
// not expired, it logs and returns the cached ones. ErrNoAgency is returned
// as is (errors.Is).
func (a *AgencyCredentials) Credentials(ctx context.Context) (Credentials, error) {
	if cr, ok := a.fresh(); ok {
		return cr, nil
	}
	select {
	case a.fetching <- struct{}{}:
	case <-ctx.Done():
		return Credentials{}, ctx.Err()
	}
	defer func() { <-a.fetching }()
	// Another caller may have refreshed while we waited.
	if cr, ok := a.fresh(); ok {
		return cr, nil
	}
	a.mu.Lock()
	now := a.c.clock.Now()
	fallback, usable := a.cur, a.have && !a.stale && now.Before(a.cur.ExpiresAt)
	if usable && now.Before(a.nextAttempt) {
		a.mu.Unlock()
		return fallback, nil
	}
	a.mu.Unlock()

	cr, err := a.c.SecurityKey(ctx)
	if a.c.fetched != nil && ctx.Err() == nil {
		a.c.fetched(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if usable && ctx.Err() == nil {
			a.nextAttempt = a.c.clock.Now().Add(refreshRetry)
			a.c.log.Warn().Err(err).Str("expires_at", fallback.ExpiresAt.UTC().Format(time.RFC3339)).
				Msg("refreshing temporary credentials failed; the current ones are still valid")
			return fallback, nil
		}
		return Credentials{}, err
	}
	if a.have && cr.AccessKey != a.cur.AccessKey {
		a.c.log.Info().Str("access_key", MaskAccessKey(cr.AccessKey)).
			Str("expires_at", cr.ExpiresAt.UTC().Format(time.RFC3339)).Msg("temporary credentials renewed")
	}
	a.cur, a.have, a.stale = cr, true, false
	a.fetchedAt = a.c.clock.Now()
	a.nextAttempt = time.Time{}
	return cr, nil
}

// fresh returns the cached credentials if they need no refresh yet.
func (a *AgencyCredentials) fresh() (Credentials, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.have || a.stale {
		return Credentials{}, false
	}
	// Never negative: with this instance's clock ahead of the issuer's,
	// ExpiresAt may precede fetchedAt, and a negative margin would refetch
	// on every call.
	margin := max(min(a.refreshBefore, a.cur.ExpiresAt.Sub(a.fetchedAt)/2), 0)
	if !a.c.clock.Now().Before(a.cur.ExpiresAt.Add(-margin)) {
		return Credentials{}, false
	}
	return a.cur, true
}

// Invalidate marks the cached credentials stale if they are the ones that
// were rejected, so that many requests failing together cause one refresh.
func (a *AgencyCredentials) Invalidate(used Credentials) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.have && a.cur.AccessKey == used.AccessKey {
		a.stale = true
		a.nextAttempt = time.Time{}
	}
}

// securityKeyAnswer is the securitykey document.
type securityKeyAnswer struct {
	Credential struct {
		Access        string `json:"access"`
		Secret        string `json:"secret"`
		SecurityToken string `json:"securitytoken"`
		ExpiresAt     string `json:"expires_at"`
	} `json:"credential"`
}

// SecurityKey fetches the agency's temporary credentials once, uncached. A
// missing agency gives ErrNoAgency.
func (c *Client) SecurityKey(ctx context.Context) (Credentials, error) {
	body, err := c.get(ctx, pathSecurityKey)
	if err != nil {
		return Credentials{}, err
	}
	var ans securityKeyAnswer
	// The body holds secrets: neither it nor json's message (which may
	// quote it) goes into the error.
	if err := json.Unmarshal(body, &ans); err != nil {
		return Credentials{}, fmt.Errorf("metadata %s: malformed answer (%d bytes): not JSON", pathSecurityKey, len(body))
	}
	cr := ans.Credential
	if cr.Access == "" || cr.Secret == "" || cr.SecurityToken == "" {
		return Credentials{}, fmt.Errorf("metadata %s: answer lacks access, secret or securitytoken", pathSecurityKey)
	}
	exp, err := parseTime(cr.ExpiresAt)
	if err != nil {
		return Credentials{}, fmt.Errorf("metadata %s: expires_at: %w", pathSecurityKey, err)
	}
	return Credentials{
		AccessKey:     cr.Access,
		SecretKey:     Secret(cr.Secret),
		SecurityToken: Secret(cr.SecurityToken),
		ExpiresAt:     exp,
		Source:        SourceAgency,
	}, nil
}

// parseTime accepts the service's "2020-01-08T03:50:07.574000Z" and the other
// usual ISO 8601 shapes; a time without zone is UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse time %q", s)
}
