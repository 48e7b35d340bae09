package sim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Unknowns are the behaviours of the real cloud that its documentation
// leaves open (docs/cloud-assumptions.md lists them), so that a client can
// be tested against each way they may turn out. The zero value plays the
// simulator's usual behaviour for every one. A scenario file sets them under
// `unknowns:`; `asagent sim` also takes one flag per field.
type Unknowns struct {
	// NotHeldCode is the error code (HTTP 400) of a callback on a hook that
	// no longer holds the instance, or on an action key AS does not know.
	// Empty means AS.7042, the code inferred from the documentation.
	NotHeldCode string `yaml:"not_held_code"`
	// ExtendRefusalCode, when set, refuses every EXTEND of a hold past its
	// first ExtendCap with HTTP 400 and this code; the hook stays HANGING
	// and its timeout stays where it was. Empty: EXTEND is never refused.
	ExtendRefusalCode string `yaml:"extend_refusal_code"`
	// ExtendCap is how many EXTENDs one hold accepts before
	// ExtendRefusalCode applies; 0 refuses every EXTEND.
	ExtendCap int `yaml:"extend_cap"`
	// LostAnswers is how many callbacks, counted from the start (or from
	// SetUnknowns), are applied but get no answer: the connection is closed
	// after the state changed, as when the answer is lost on the way.
	LostAnswers int `yaml:"lost_answers"`
	// LostAnswerResults limits LostAnswers to callbacks with these results
	// (CONTINUE, ABANDON, EXTEND); empty means any.
	LostAnswerResults []string `yaml:"lost_answer_results"`
	// HoldDelay is how long an instance added to a group (or held by a
	// launch hook at the start) stays PENDING, listed by no hook, before its
	// launch hooks hold it in PENDING_WAIT. Hook timeouts count from the hold.
	HoldDelay time.Duration `yaml:"hold_delay"`
	// TokenPutStatus, when set, is the status of every metadata token PUT
	// (e.g. 400, 403, 501, as on a metadata service without token support
	// that answers neither 404 nor 405); requests without a token are then
	// answered unless the token mode is "required".
	TokenPutStatus int `yaml:"token_put_status"`
	// ClockOffset is how far AS's clock is ahead of the simulator's clock
	// (negative: behind). Every timestamp the APIs return, every Date
	// header, hook timeouts and the X-Sdk-Date check follow AS's clock; a
	// client on the simulator's clock sees its own clock off by -ClockOffset.
	ClockOffset time.Duration `yaml:"clock_offset"`
	// GatewayCodes is the prefix of the API gateway's own error codes:
	// "APIG" (the default: APIG.0308 throttled, APIG.0101 no such API) or
	// "APIGW", where authentication failures also come from the gateway
	// (401 APIGW.0301) instead of AS (AS.0005, AS.0006).
	GatewayCodes string `yaml:"gateway_codes"`
	// EnterpriseProjectScoped plays credentials whose rights are scoped to
	// enterprise projects: a group listing without enterprise_project_id
	// shows only groups of the default enterprise project ("0");
	// enterprise_project_id=all_granted_eps shows every group.
	EnterpriseProjectScoped bool `yaml:"enterprise_project_scoped"`
}

// Gateway code prefixes.
const (
	GatewayAPIG  = "APIG"
	GatewayAPIGW = "APIGW"
)

// DefaultEnterpriseProject is the enterprise project of groups that name
// none: AS reports "0" for the default one.
const DefaultEnterpriseProject = "0"

// allGrantedEPs is the enterprise_project_id value that lists the groups of
// every enterprise project the caller is authorised for.
const allGrantedEPs = "all_granted_eps"

// Validate checks the fields and names the offending key.
func (u *Unknowns) Validate() error {
	for _, c := range []struct{ key, code string }{{"not_held_code", u.NotHeldCode}, {"extend_refusal_code", u.ExtendRefusalCode}} {
		if c.code != "" && !codePattern.MatchString(c.code) {
			return fmt.Errorf("unknowns.%s %q: want a code such as AS.7042", c.key, c.code)
		}
	}
	for _, r := range u.LostAnswerResults {
		if r != ResultContinue && r != ResultAbandon && r != ResultExtend {
			return fmt.Errorf("unknowns.lost_answer_results: %q: want CONTINUE, ABANDON or EXTEND", r)
		}
	}
	switch {
	case u.ExtendCap < 0:
		return fmt.Errorf("unknowns.extend_cap %d: want 0 or more", u.ExtendCap)
	case u.LostAnswers < 0:
		return fmt.Errorf("unknowns.lost_answers %d: want 0 or more", u.LostAnswers)
	case u.HoldDelay < 0:
		return fmt.Errorf("unknowns.hold_delay %v: want 0 or more", u.HoldDelay)
	case u.TokenPutStatus != 0 && (u.TokenPutStatus < 300 || u.TokenPutStatus > 599):
		return fmt.Errorf("unknowns.token_put_status %d: want an HTTP status from 300 to 599", u.TokenPutStatus)
	case u.GatewayCodes != "" && u.GatewayCodes != GatewayAPIG && u.GatewayCodes != GatewayAPIGW:
		return fmt.Errorf("unknowns.gateway_codes %q: want %s or %s", u.GatewayCodes, GatewayAPIG, GatewayAPIGW)
	}
	return nil
}

// SetUnknowns replaces the unknowns the simulator plays, from now on. The
// count of lost answers starts again; a changed ClockOffset moves AS's clock
// at once (as if the instance's clock was stepped the other way).
func (s *Sim) SetUnknowns(u Unknowns) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	u.LostAnswerResults = slices.Clone(u.LostAnswerResults)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unknowns = u
	s.lostLeft = u.LostAnswers
	s.offset.Store(int64(u.ClockOffset))
	return nil
}

// gatewayCode spells the API gateway's code number with the configured
// prefix: "APIG.0308" or "APIGW.0308".
func gatewayCode(prefix, number string) string {
	if prefix == "" {
		prefix = GatewayAPIG
	}
	return prefix + "." + number
}

// gatewayPrefix returns the configured gateway code prefix.
func (s *Sim) gatewayPrefix() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unknowns.GatewayCodes
}

// notHeldCode is the code of a callback on a record that is not HANGING.
// The caller holds s.mu.
func (s *Sim) notHeldCode() string {
	if s.unknowns.NotHeldCode != "" {
		return s.unknowns.NotHeldCode
	}
	return codeNotHanging
}

// extendRefused reports whether an EXTEND of r is refused, and with which
// code. The caller holds s.mu.
func (s *Sim) extendRefused(r *record) (string, bool) {
	u := s.unknowns
	if u.ExtendRefusalCode == "" || r.extends < u.ExtendCap {
		return "", false
	}
	return u.ExtendRefusalCode, true
}

// loseAnswer reports whether the answer to an applied callback with the
// result is to be lost, and counts it. The caller holds s.mu.
func (s *Sim) loseAnswer(result string) bool {
	if s.lostLeft <= 0 {
		return false
	}
	if rs := s.unknowns.LostAnswerResults; len(rs) > 0 && !slices.Contains(rs, result) {
		return false
	}
	s.lostLeft--
	return true
}

// faultLost is the request record's Fault for a callback that was applied
// but whose answer was lost.
const faultLost = "answer lost"

// lose closes the connection of an applied callback without an answer.
func (s *Sim) lose(c *call) {
	c.rec.Fault = faultLost
	s.record(c)
	drop(c.w)
}

// tokenPutStatus is the configured status of token PUTs, or 0. The caller
// holds s.mu.
func (s *Sim) tokenPutStatus() int { return s.unknowns.TokenPutStatus }

// listedGroup reports whether a group listing with the enterprise_project_id
// query value shows g. The caller holds s.mu.
func (s *Sim) listedGroup(g *group, ep string) bool {
	switch ep {
	case allGrantedEPs:
		return true
	case "":
		return !s.unknowns.EnterpriseProjectScoped || g.enterpriseProject == DefaultEnterpriseProject
	default:
		return g.enterpriseProject == ep
	}
}

// dateHeader is the Date header of every answer: AS's clock, at the
// second, as HTTP dates are.
func (s *Sim) dateHeader() string { return s.now().Format(http.TimeFormat) }
