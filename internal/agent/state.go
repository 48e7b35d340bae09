package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/fsutil"
	"github.com/asagent/asagent/internal/trust"
)

// stateVersion is bumped when State changes incompatibly; a file of another
// version is set aside and the agent recovers from the held-hook list.
const stateVersion = 1

// State is what the agent must remember across restarts: which results it
// decided and sent, so a restarted agent never contradicts itself.
type State struct {
	Version    int                    `json:"version"`
	InstanceID string                 `json:"instance_id"`
	GroupID    string                 `json:"scaling_group_id"`
	Phases     map[string]*PhaseState `json:"phases,omitempty"` // by phase name
}

// PhaseState is one lifecycle phase of this instance.
type PhaseState struct {
	Started time.Time `json:"started"`
	// Result is the answer decided for the phase's hooks (CONTINUE or
	// ABANDON), written before the first callback goes out. Once set it
	// never changes: a restart resends it, it never decides again.
	Result   string                `json:"result,omitempty"`
	Reason   string                `json:"reason,omitempty"`
	Override bool                  `json:"override,omitempty"` // decided by an operator (asagent complete)
	Done     bool                  `json:"done,omitempty"`     // every hook answered or no longer held
	Finished time.Time             `json:"finished,omitzero"`
	Hooks    map[string]*HookState `json:"hooks,omitempty"` // by hook name
}

// HookState is one lifecycle hook holding the instance.
type HookState struct {
	ActionKey string `json:"action_key,omitempty"`
	// Timeout is the hook's timeout on this instance's clock (AS's, less
	// the estimated clock offset).
	Timeout time.Time `json:"timeout"`
	Extends int       `json:"extends"`
	// Sent is the result AS accepted for this hook; Outcome says how the
	// hook ended when it was not by our callback ("not held": answered
	// elsewhere or timed out to its default result).
	Sent    string    `json:"sent,omitempty"`
	SentAt  time.Time `json:"sent_at,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	// Result is an answer decided for this hook alone (asagent complete
	// --hook), written before its callback; empty: the phase's Result.
	Result string `json:"result,omitempty"`
}

// answered reports whether the hook no longer waits for us: AS accepted
// our result, or the hook ended some other way. AS may still list an
// answered hook for a while.
func (hs *HookState) answered() bool { return hs.Sent != "" || hs.Outcome != "" }

// phaseStage is where a phase stands; the state file holds the facts it is
// derived from (Result, Done).
type phaseStage int

const (
	stageChecking  phaseStage = iota // no result yet: the checks decide
	stageAnswering                   // result recorded, some hooks not yet answered
	stageDone                        // every hook answered or no longer held
)

// stage says where the phase stands.
func (ps *PhaseState) stage() phaseStage {
	switch {
	case ps.Done:
		return stageDone
	case ps.Result != "":
		return stageAnswering
	}
	return stageChecking
}

// resultFor is the answer decided for the named hook: its own, else the
// phase's; empty when none is decided yet.
func (ps *PhaseState) resultFor(hook string) string {
	if hs := ps.Hooks[hook]; hs != nil && hs.Result != "" {
		return hs.Result
	}
	return ps.Result
}

// holdKind is what a fresh list of held hooks means for a finished phase.
type holdKind int

const (
	staleHold      holdKind = iota // hooks we answered, which AS still lists for a while
	newHold                        // a hold the phase has not seen: the phase starts afresh
	unansweredHold                 // a hook we never answered holds again: the phase resumes
)

// holdAgain classifies the hooks AS lists as holding the instance for this
// finished phase, naming the hook that decided it. A new action key is a
// new hold (an instance removed without deletion and added again); a hook
// we recorded as no longer held that AS lists again was not answered.
func (ps *PhaseState) holdAgain(held []asclient.HeldHook) (hook string, kind holdKind) {
	for _, h := range held {
		hs := ps.Hooks[h.HookName]
		if hs == nil || (h.ActionKey != "" && h.ActionKey != hs.ActionKey) {
			return h.HookName, newHold
		}
		// A hook whose deadline passed before AS took our result
		// (outcomeMissed) may be listed until AS applies its default:
		// resuming it would only fail again, in a loop.
		if hs.Sent == "" && hs.Outcome != outcomeMissed {
			return h.HookName, unansweredHold
		}
	}
	return "", staleHold
}

// resume reopens a finished phase for a hook we never answered.
func (ps *PhaseState) resume(hook string) {
	ps.Done = false
	ps.Hooks[hook].Outcome = ""
}

// startAfresh forgets the named phase for a new hold. A new launch hold
// begins a new life of the instance (added back after leaving): the
// terminate phase of the old life is forgotten too.
func (s *State) startAfresh(phase string) {
	delete(s.Phases, phase)
	if phase == PhaseLaunch {
		delete(s.Phases, PhaseTerminate)
	}
}

// Phase returns the named phase's state, creating it.
func (s *State) Phase(name string) *PhaseState {
	if s.Phases == nil {
		s.Phases = map[string]*PhaseState{}
	}
	p := s.Phases[name]
	if p == nil {
		p = &PhaseState{Hooks: map[string]*HookState{}}
		s.Phases[name] = p
	}
	if p.Hooks == nil {
		p.Hooks = map[string]*HookState{}
	}
	return p
}

// stateStore reads and writes the state file.
type stateStore struct {
	path string
	// policy decides whether the file may be believed: a state file
	// someone else could have written (a loose state_dir, a link) could
	// make the agent send a result it never decided.
	policy trust.Policy
}

// newStateStore is the store of the state file at path, trusted when the
// StrictModes rules hold for this process's user.
func newStateStore(path string) stateStore {
	return stateStore{path: path, policy: trust.Agent(false)}
}

// maxStateSize bounds what load reads: a real state file is a few KB.
const maxStateSize = 1 << 20

// load reads the state; nil means none, a fresh start. A file the trust
// policy refuses is never read (and left in place for a person to look
// at); a corrupt or foreign-version one is renamed aside. Both are
// reported as warn, and the agent relearns from AS what is held.
func (st stateStore) load() (s *State, warn error) {
	data, err := st.read()
	var refused *trust.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.As(err, &refused):
		return nil, fmt.Errorf("state file %s not trusted, ignoring it: %w", st.path, err)
	case err == nil:
		s = &State{}
		err = json.Unmarshal(data, s)
		if err == nil && s.Version != stateVersion {
			err = fmt.Errorf("state version %d, want %d", s.Version, stateVersion)
		}
		if err == nil {
			return s, nil
		}
	}
	aside := st.path + ".corrupt"
	if rerr := os.Rename(st.path, aside); rerr == nil {
		err = fmt.Errorf("%w (moved to %s)", err, aside)
	}
	return nil, fmt.Errorf("state file %s unreadable, starting fresh: %w", st.path, err)
}

// read reads the file the trust policy checked, never the path again.
func (st stateStore) read() ([]byte, error) {
	f, err := st.policy.Open(st.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err == nil && len(data) > maxStateSize {
		err = fmt.Errorf("larger than %d bytes", maxStateSize)
	}
	return data, err
}

// save writes s atomically (see fsutil.WriteFileAtomic): a crash leaves
// either the old state or the new one, never a torn file.
func (st stateStore) save(s *State) error {
	s.Version = stateVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(st.path, append(data, '\n'))
}
