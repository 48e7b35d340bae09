package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/asagent/asagent/internal/sim"
)

// unknownsFlags are the `asagent sim` flags that play the cloud's unknowns
// (sim.Unknowns). Each is named after the scenario file's key under
// `unknowns:` and overrides it when given.
type unknownsFlags struct {
	fs      *flag.FlagSet
	u       sim.Unknowns
	results string // --lost-answer-results, comma-separated
}

func addUnknownsFlags(fs *flag.FlagSet) *unknownsFlags {
	uf := &unknownsFlags{fs: fs}
	u := &uf.u
	fs.StringVar(&u.NotHeldCode, "not-held-code", "", "error code of a callback on a hook no longer held (default AS.7042)")
	fs.StringVar(&u.ExtendRefusalCode, "extend-refusal-code", "", "refuse EXTENDs past --extend-cap with this code (e.g. AS.7045)")
	fs.IntVar(&u.ExtendCap, "extend-cap", 0, "EXTENDs a hold accepts before --extend-refusal-code applies (0: none)")
	fs.IntVar(&u.LostAnswers, "lost-answers", 0, "apply this many callbacks but close the connection without their answer")
	fs.StringVar(&uf.results, "lost-answer-results", "", "only lose answers to these results (comma-separated CONTINUE, ABANDON, EXTEND)")
	fs.DurationVar(&u.HoldDelay, "hold-delay", 0, "keep a joining instance PENDING, unheld, this long before its launch hooks hold it")
	fs.IntVar(&u.TokenPutStatus, "token-put-status", 0, "answer every metadata token PUT with this HTTP status (e.g. 403)")
	fs.DurationVar(&u.ClockOffset, "clock-offset", 0, "AS's clock runs this far ahead of the real one (negative: behind)")
	fs.StringVar(&u.GatewayCodes, "gateway-codes", "", "spell the API gateway's error codes APIG (default) or APIGW")
	fs.BoolVar(&u.EnterpriseProjectScoped, "enterprise-project-scoped", false,
		"list only the default enterprise project's groups unless asked for enterprise_project_id=all_granted_eps")
	return uf
}

// apply copies the flags given on the command line onto u, and checks the
// result.
func (uf *unknownsFlags) apply(u *sim.Unknowns) error {
	uf.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "not-held-code":
			u.NotHeldCode = uf.u.NotHeldCode
		case "extend-refusal-code":
			u.ExtendRefusalCode = uf.u.ExtendRefusalCode
		case "extend-cap":
			u.ExtendCap = uf.u.ExtendCap
		case "lost-answers":
			u.LostAnswers = uf.u.LostAnswers
		case "lost-answer-results":
			u.LostAnswerResults = nil
			for _, r := range strings.Split(uf.results, ",") {
				if r = strings.ToUpper(strings.TrimSpace(r)); r != "" {
					u.LostAnswerResults = append(u.LostAnswerResults, r)
				}
			}
		case "hold-delay":
			u.HoldDelay = uf.u.HoldDelay
		case "token-put-status":
			u.TokenPutStatus = uf.u.TokenPutStatus
		case "clock-offset":
			u.ClockOffset = uf.u.ClockOffset
		case "gateway-codes":
			u.GatewayCodes = uf.u.GatewayCodes
		case "enterprise-project-scoped":
			u.EnterpriseProjectScoped = uf.u.EnterpriseProjectScoped
		}
	})
	return u.Validate()
}

// describeUnknowns is a one-line summary of the unknowns played, for the
// log; "" when all are at their defaults.
func describeUnknowns(u sim.Unknowns) string {
	var parts []string
	add := func(cond bool, format string, a ...any) {
		if cond {
			parts = append(parts, fmt.Sprintf(format, a...))
		}
	}
	add(u.NotHeldCode != "", "not_held_code=%s", u.NotHeldCode)
	add(u.ExtendRefusalCode != "", "extend_refusal_code=%s extend_cap=%d", u.ExtendRefusalCode, u.ExtendCap)
	add(u.LostAnswers > 0, "lost_answers=%d%s", u.LostAnswers, listIf(u.LostAnswerResults))
	add(u.HoldDelay > 0, "hold_delay=%v", u.HoldDelay)
	add(u.TokenPutStatus != 0, "token_put_status=%d", u.TokenPutStatus)
	add(u.ClockOffset != 0, "clock_offset=%v", u.ClockOffset)
	add(u.GatewayCodes != "", "gateway_codes=%s", u.GatewayCodes)
	add(u.EnterpriseProjectScoped, "enterprise_project_scoped=true")
	return strings.Join(parts, " ")
}

func listIf(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + strings.Join(items, ",") + ")"
}
