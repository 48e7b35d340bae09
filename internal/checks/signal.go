package checks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// SignalBoard holds the signals that the application raised with
// `asagent signal NAME`. The agent's control socket calls Raise; signal
// checks read it and wake at once when a signal is raised. A raised signal
// stays raised until Lower, so an application that says "ready" before the
// launch phase begins is not missed. It is safe for concurrent use; the zero
// value is not: use NewSignalBoard.
type SignalBoard struct {
	clock clockwork.Clock

	mu     sync.Mutex
	raised map[string]time.Time
	// changed is closed and replaced on every Raise, waking every waiter.
	changed chan struct{}
}

// NewSignalBoard returns an empty board that time-stamps signals with clock
// (nil: the real clock).
func NewSignalBoard(clock clockwork.Clock) *SignalBoard {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &SignalBoard{clock: clock, raised: map[string]time.Time{}, changed: make(chan struct{})}
}

// maxSignalName bounds a signal name, which arrives from any local user
// through the control socket.
const maxSignalName = 64

// ValidSignalName reports whether name can be raised: 1 to 64 of ASCII
// letters, digits, '_', '-' and '.'.
func ValidSignalName(name string) bool {
	if name == "" || len(name) > maxSignalName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Raise records that the application sent signal name and wakes the checks
// that wait for it. Raising a raised signal keeps its first time.
func (b *SignalBoard) Raise(name string) error {
	if !ValidSignalName(name) {
		return fmt.Errorf("signal name %q: want 1 to %d of the characters A-Z a-z 0-9 . _ -", name, maxSignalName)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.raised[name]; !ok {
		b.raised[name] = b.clock.Now()
	}
	close(b.changed)
	b.changed = make(chan struct{})
	return nil
}

// Lower forgets signal name, for example when a new phase must wait for a
// fresh one.
func (b *SignalBoard) Lower(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.raised, name)
}

// Raised reports whether signal name is raised and since when.
func (b *SignalBoard) Raised(name string) (since time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	since, ok = b.raised[name]
	return since, ok
}

// wait returns a channel that is closed at the next Raise. Take it before
// looking at Raised so that a Raise in between is not missed.
func (b *SignalBoard) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// signalProber passes once its signal is raised.
type signalProber struct {
	board *SignalBoard
	name  string
}

func (s signalProber) probe(_ context.Context, _ attempt) outcome {
	if s.board == nil {
		return outcome{kind: notYet, err: fmt.Errorf("no signal board: `asagent signal %s` cannot reach this run", s.name)}
	}
	if since, ok := s.board.Raised(s.name); ok {
		return outcome{kind: pass, output: "signal " + s.name + " raised at " + since.UTC().Format(time.RFC3339)}
	}
	return outcome{kind: notYet, err: fmt.Errorf("waiting for `asagent signal %s`", s.name)}
}

// wake lets the runner sleep on the board as well as on its interval.
func (s signalProber) wake() <-chan struct{} {
	if s.board == nil {
		return nil
	}
	return s.board.wait()
}
