//go:build !windows

package checks

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// execProblem refuses a file without any execute bit, as run-parts skips it:
// `chmod -x` is how an admin disables a script.
func execProblem(fi fs.FileInfo) string {
	if fi.Mode().Perm()&0o111 == 0 {
		return "not executable (chmod +x to enable it)"
	}
	return ""
}

// ownerProblem applies cron's and sudo's rules: owned by root or by the
// agent's own user, and not writable by group or others.
func ownerProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "cannot read the file's owner"
	}
	if euid := os.Geteuid(); st.Uid != 0 && int(st.Uid) != euid {
		return fmt.Sprintf("owned by uid %d, not by root or the agent's user (uid %d)", st.Uid, euid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Sprintf("group- or world-writable (mode %04o)", perm)
	}
	return ""
}
