package checks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
)

// State is where a check or a phase stands. The values are lower-case words
// because they appear as they are in `asagent status` and its JSON.
type State string

// The states. A Verdict is only ever Pending, Passed or Failed.
const (
	Pending State = "pending" // not decided yet
	Passed  State = "passed"
	Failed  State = "failed"
	Refused State = "refused" // a drop-in that the safety rules do not let run
)

// ExitGiveUp is the exit status with which a script or exec check says
// "give up now": the phase fails at once instead of retrying.
const ExitGiveUp = 100

// OutputCap is how many bytes of an attempt's output are kept for the status
// and logged; consul keeps the same 4 KiB, enough for an error message
// without letting a chatty script fill memory or the journal.
const OutputCap = 4096

// Verdict is what a phase's Run or RunOnce decided.
type Verdict struct {
	State  State  // Passed, Failed or Pending
	Reason string // for people: why, in one line
	Failed string // the name of the check that failed the phase, if one did
}

// Result maps the verdict to the hook answer: CONTINUE when the phase
// passed, onFailure when it failed; decided is false while it is pending.
func (v Verdict) Result(onFailure config.Result) (res config.Result, decided bool) {
	switch v.State {
	case Passed:
		return config.Continue, true
	case Failed:
		return onFailure, true
	}
	return "", false
}

// Env is what a script learns about the hook through its environment. The
// phase asks Options.Env for it before every attempt, because the deadline
// moves after each EXTEND.
type Env struct {
	Phase      string
	InstanceID string
	GroupID    string
	HookNames  []string
	Deadline   time.Time // zero: no hook holds the instance (dry run)
}

// Options are a phase's dependencies. The zero value works: real clock, no
// logging, no hook, no signals.
type Options struct {
	// Clock drives intervals, initial_delay and max_wait.
	Clock clockwork.Clock
	Log   zerolog.Logger
	// Env is called before every attempt of a script or exec check.
	Env func() Env
	// Signals is where `asagent signal NAME` lands; signal checks never pass
	// without one.
	Signals *SignalBoard
	// Insecure turns off the owner and mode rules for drop-in scripts
	// (config insecure_dropins).
	Insecure bool
	// Started is when the phase's max_wait began counting: a phase resumed
	// after a restart began before it. Zero: when Run (or RunOnce) starts.
	Started time.Time
	// NoWatch keeps Run of a phase built by FromConfig from watching the
	// drop-in directories: they are read when Run starts, and a drop-in
	// added later joins only through Reload. For callers whose clock stops
	// while a goroutine waits in the kernel (a synctest bubble), which a
	// watcher's blocking read would hold up.
	NoWatch bool
	// KillGrace is how long a timed-out process group has between SIGTERM
	// and SIGKILL, and how long output pipes held open by a leftover child
	// are still read; 0 means DefaultKillGrace.
	KillGrace time.Duration
	// Attempts is told of every attempt a check makes, for metrics; nil:
	// nothing is told.
	Attempts AttemptObserver
}

// AttemptObserver is told of each attempt a check makes. Attempt is called
// from the check's goroutine once the attempt has ended (not for one cut
// short by the phase ending): outcome is one of the Attempt constants, took
// the real time it took. It must return quickly.
type AttemptObserver interface {
	Attempt(phase, check, outcome string, took time.Duration)
}

// What one attempt came to, as an AttemptObserver is told.
const (
	AttemptPassed  = "pass"    // it passed
	AttemptFailed  = "fail"    // it did not pass; the check tries again
	AttemptTimeout = "timeout" // it ran out of its timeout; the check tries again
	AttemptGaveUp  = "give_up" // it gave up (exit 100): the phase fails
	AttemptRefused = "refused" // a drop-in that may no longer run
)

// DefaultKillGrace is the time between SIGTERM and SIGKILL: long enough for
// a script to remove a lock file, short against a 60 s timeout.
const DefaultKillGrace = 3 * time.Second

// MinInterval is the shortest time between two attempts of a check; as in
// consul, a smaller interval risks fork-bombing the instance.
const MinInterval = time.Second

// CheckStatus is one check's part of a status snapshot.
type CheckStatus struct {
	Name   string           `json:"name"`
	Type   config.CheckType `json:"type"`
	Source string           `json:"source,omitempty"` // the script's path, or the YAML file
	State  State            `json:"state"`
	// Running is true while an attempt is in progress.
	Running  bool `json:"running"`
	Attempts int  `json:"attempts"`
	// LastAttempt is when the last attempt started, on the phase's clock.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastDuration is the real time the last attempt took.
	LastDuration time.Duration `json:"last_duration"`
	// LastOutput is the tail (at most OutputCap bytes, valid UTF-8) of the
	// last attempt's output; OutputBytes counts all of it.
	LastOutput  string `json:"last_output,omitempty"`
	OutputBytes int64  `json:"output_bytes"`
	// LastError says why the last attempt did not pass, or why the check is
	// refused or failed.
	LastError string `json:"last_error,omitempty"`
}

// PhaseStatus is a snapshot of a phase for `asagent status` and systemd's
// STATUS= line.
type PhaseStatus struct {
	Phase   string      `json:"phase"`
	Mode    config.Mode `json:"mode"`
	State   State       `json:"state"` // Pending until Run or RunOnce returns
	Running bool        `json:"running"`
	Reason  string      `json:"reason,omitempty"`
	// Started is when max_wait began counting, on the phase's clock:
	// Options.Started, or the start of the last Run.
	Started time.Time     `json:"started,omitzero"`
	MaxWait time.Duration `json:"max_wait"`
	// Checks are sorted by name.
	Checks []CheckStatus `json:"checks"`
	// Problems lists what the last load could not use: an unreadable
	// scripts directory, a duplicate name.
	Problems []string `json:"problems,omitempty"`

	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	Refused int `json:"refused"`
}

// Summary is the status in one line for people and systemd's STATUS=, such
// as "launch: waiting on 2/4 checks (web, db), 1 refused". Refused checks
// count in the total: the phase waits for them too.
func (s PhaseStatus) Summary() string {
	total := s.Passed + s.Failed + s.Pending + s.Refused
	var b strings.Builder
	b.WriteString(s.Phase)
	b.WriteString(": ")
	switch {
	case s.State == Passed:
		fmt.Fprintf(&b, "passed (%d/%s)", s.Passed, plural(total, "check"))
	case s.State == Failed:
		b.WriteString("failed")
		if s.Reason != "" {
			b.WriteString(": " + s.Reason)
		}
	case s.Pending > 0:
		var names []string
		for _, c := range s.Checks {
			if c.State == Pending && len(names) < 3 {
				names = append(names, c.Name)
			}
		}
		if s.Pending > len(names) {
			names = append(names, "…")
		}
		fmt.Fprintf(&b, "waiting on %d/%s (%s)", s.Pending, plural(total, "check"), strings.Join(names, ", "))
	default:
		fmt.Fprintf(&b, "%d/%s passed", s.Passed, plural(total, "check"))
	}
	if s.Refused > 0 {
		b.WriteString(", " + strconv.Itoa(s.Refused) + " refused")
	}
	return b.String()
}

// plural is "1 check" or "2 checks": messages read as English.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
