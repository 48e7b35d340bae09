// Package trust decides whether the agent may act on a file that configures
// what it runs as root: a drop-in script, a YAML drop-in, its own
// configuration. It follows OpenSSH's StrictModes: the file and every
// component of the path to it (each directory up to /, each symlink on the
// way) must belong to root or to the agent's own user and be writable by no
// one else, except a sticky directory owned by root (as /tmp), in which
// others cannot rename or remove root's entries. Then it opens the file and
// checks the open file, so that the caller reads or runs what was checked,
// never the path again.
//
// On Windows only the file type is checked: ownership there is a matter of
// ACLs, which the installer sets on the agent's directories.
package trust

import (
	"fmt"
	"io/fs"
	"os"
)

// Policy says whose files the agent trusts.
type Policy struct {
	// UID is the user the agent runs as; files of this user are trusted
	// like root's, so a non-root agent (a rehearsal with the simulator)
	// can own its drop-ins.
	UID int
	// Insecure turns off the owner and mode rules (insecure_dropins, for
	// development). The file-type rules stay: only a regular file opens.
	Insecure bool
}

// Agent is the policy of this process: its own effective user besides root.
func Agent(insecure bool) Policy {
	return Policy{UID: os.Geteuid(), Insecure: insecure}
}

// Error is a file the policy refuses: the component of its path that
// breaks a rule, and which rule.
type Error struct {
	// Kind is "directory" or "symlink" for a component on the way, empty
	// for the file itself.
	Kind   string
	Path   string
	Reason string
	// Err is the system's error behind the refusal, if any: a dangling
	// symlink wraps fs.ErrNotExist.
	Err error
}

func (e *Error) Error() string {
	if e.Kind == "" {
		return e.Reason
	}
	return e.Kind + " " + e.Path + ": " + e.Reason
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// FileKind names a file type that is not a regular file, for messages.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// notRegular is the refusal of a file that is not a regular file.
func notRegular(path string, m fs.FileMode) *Error {
	return &Error{Path: path, Reason: fmt.Sprintf("not a regular file (%s)", FileKind(m))}
}
