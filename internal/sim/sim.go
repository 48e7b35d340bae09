// Package sim simulates the parts of Huawei Cloud that asagent talks to: the
// ECS metadata service (instance identity, session tokens, temporary
// credentials) and the Auto Scaling lifecycle-hook API, on the real paths and
// with the real JSON shapes, so that the official SDK works against it.
//
// One http.Handler serves both. Tests run it under httptest.NewServer; the
// `asagent sim` command runs it as a standalone server. It shares no code
// with the agent's own cloud client: the server side, including signature
// verification, is written here from the published API description, and the
// tests check it against the official SDK.
//
// All time comes from Options.Clock, so hook timeouts, EXTEND, credential
// expiry and X-Sdk-Date skew can be driven by a fake clock; the cloud's own
// clock may run ahead of it or behind (Unknowns.ClockOffset). Unknowns also
// play the other behaviours of the real cloud that its documentation leaves
// open.
package sim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// Documented defaults. Tests and the standalone server may shorten the first
// two so that a run with real processes finishes in seconds.
const (
	// DefaultExtendBy is how far EXTEND moves a hook's timeout: the callback
	// API documents "one more hour" per EXTEND.
	DefaultExtendBy = 3600 * time.Second
	// DefaultMinHookTimeout is the documented lower bound of default_timeout.
	DefaultMinHookTimeout = 60 * time.Second
	// DefaultCredentialLifetime is the lifetime of the securitykey
	// credentials: the metadata service's temporary credentials last 24 h.
	DefaultCredentialLifetime = 24 * time.Hour

	// maxHookTimeout is the documented upper bound of default_timeout (seconds).
	maxHookTimeout = 86400
	// defaultHookTimeout is default_timeout when a create request omits it (seconds).
	defaultHookTimeout = 3600
)

// Options configures a simulator. The zero value is usable: a real clock,
// documented defaults, the DefaultScenario and no log.
type Options struct {
	// Clock is the source of all time: hook timeouts, token and credential
	// expiry, X-Sdk-Date skew, added latency. Nil means the real clock.
	Clock clockwork.Clock
	// AccessKey and SecretKey are the permanent AK/SK the AS API accepts.
	// Empty: only the temporary credentials from securitykey work.
	AccessKey, SecretKey string
	// ExtendBy is how far EXTEND moves a hook's timeout; 0 means DefaultExtendBy.
	ExtendBy time.Duration
	// MinHookTimeout is the lower bound of default_timeout validation, for
	// the API and the scenario alike; 0 means DefaultMinHookTimeout. It is
	// rounded up to whole seconds because default_timeout is in seconds.
	MinHookTimeout time.Duration
	// CredentialLifetime is how long securitykey credentials stay valid;
	// 0 means DefaultCredentialLifetime.
	CredentialLifetime time.Duration
	// Scenario predefines groups, hooks and instances; nil means DefaultScenario().
	Scenario *Scenario
	// Log receives one readable line per request and per lifecycle event.
	// Secrets never reach it. Nil: silent.
	Log io.Writer
}

// Sim is a running simulator. All its methods are safe for concurrent use.
type Sim struct {
	clock          clockwork.Clock
	accessKey      string
	secretKey      string
	extendBy       time.Duration
	minHookTimeout int // seconds
	credLifetime   time.Duration
	handler        http.Handler

	// Lock order: mu, then recMu, then logMu. Handlers answer while
	// holding mu, and answering records and logs the request.
	logMu sync.Mutex
	log   io.Writer

	recMu    sync.Mutex
	requests []Request

	mu        sync.Mutex
	project   string
	region    string
	zone      string
	local     string
	userData  string
	groups    []*group
	tokenMode TokenMode
	tokens    map[string]time.Time // metadata session token -> expiry
	agency    bool
	creds     []*tempCredential // issued by securitykey, newest last
	faults    map[Route]*faultState
	throttle  throttle
	outcomes  []Outcome
	holds     []heldEntry // every hold ever made, oldest first (the control path's status)
	callbacks []Callback  // every callback that got past the gateway, oldest first
	home      string      // the group scale-out adds the local instance to
	unknowns  Unknowns
	lostLeft  int // answers still to lose (Unknowns.LostAnswers)
	// due is when sweep must look again (see sweep), if dueSet.
	due    time.Time
	dueSet bool

	// offset is Unknowns.ClockOffset, read without mu: every request
	// stamps its record with now() before taking any lock.
	offset atomic.Int64
}

// New builds a simulator from opts. It fails when an option or the scenario
// is invalid; the error names the field.
func New(opts Options) (*Sim, error) {
	s := &Sim{
		clock:        opts.Clock,
		accessKey:    opts.AccessKey,
		secretKey:    opts.SecretKey,
		extendBy:     opts.ExtendBy,
		credLifetime: opts.CredentialLifetime,
		log:          opts.Log,
		tokens:       make(map[string]time.Time),
		agency:       true,
		faults:       make(map[Route]*faultState),
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return nil, errors.New("sim: access key and secret key must be given together")
	}
	if err := s.setDurations(opts); err != nil {
		return nil, err
	}
	sc := DefaultScenario()
	if opts.Scenario != nil {
		sc = opts.Scenario.clone() // validate fills in defaults: leave the caller's alone
	}
	if err := sc.validate(s.minHookTimeout); err != nil {
		return nil, err
	}
	s.unknowns, s.lostLeft = sc.Unknowns, sc.Unknowns.LostAnswers
	s.offset.Store(int64(sc.Unknowns.ClockOffset)) // before load: holds start by AS's clock
	s.load(sc)
	s.home = homeGroup(sc)
	s.issueCredential(s.clock.Now())
	s.handler = s.routes()
	return s, nil
}

// setDurations applies the defaults and bounds of the duration options.
func (s *Sim) setDurations(opts Options) error {
	if s.extendBy == 0 {
		s.extendBy = DefaultExtendBy
	}
	if s.credLifetime == 0 {
		s.credLifetime = DefaultCredentialLifetime
	}
	minTimeout := opts.MinHookTimeout
	if minTimeout == 0 {
		minTimeout = DefaultMinHookTimeout
	}
	switch {
	case s.extendBy < 0:
		return fmt.Errorf("sim: ExtendBy %v must be positive", s.extendBy)
	case s.credLifetime < 0:
		return fmt.Errorf("sim: CredentialLifetime %v must be positive", s.credLifetime)
	case minTimeout < 0 || minTimeout > maxHookTimeout*time.Second:
		return fmt.Errorf("sim: MinHookTimeout %v must be between 1s and %ds", minTimeout, maxHookTimeout)
	}
	s.minHookTimeout = int((minTimeout + time.Second - 1) / time.Second)
	return nil
}

// Handler returns the one handler that serves the metadata paths and the AS
// paths.
func (s *Sim) Handler() http.Handler { return s.handler }

// ProjectID returns the project the AS API serves and the metadata service
// reports.
func (s *Sim) ProjectID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.project
}

// Region returns the region the metadata service reports.
func (s *Sim) Region() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.region
}

// LocalInstanceID returns the instance ID ("uuid") that meta_data.json reports.
func (s *Sim) LocalInstanceID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// SetLocalInstance changes the instance ID that meta_data.json reports, as if
// the agent ran on another instance. The instance need not be in a group.
func (s *Sim) SetLocalInstance(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local = id
}

// now is AS's current time in UTC, the zone of every timestamp the APIs
// return: the clock plus Unknowns.ClockOffset.
func (s *Sim) now() time.Time {
	return s.clock.Now().UTC().Add(time.Duration(s.offset.Load()))
}

// logf writes one line to the log, if there is one.
func (s *Sim) logf(format string, args ...any) {
	if s.log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, format+"\n", args...)
}
