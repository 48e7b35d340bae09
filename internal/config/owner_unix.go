//go:build !windows

package config

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwnership applies cron's and sudo's rule to a drop-in: a regular file
// (or a link to one) owned by root or the agent's user, writable by no one
// else. Anyone who can write it could otherwise run code as the agent.
func checkOwnership(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("refused: not a regular file")
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refused: mode %04o is group- or world-writable (chmod go-w, or set insecure_dropins for development)", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refused: owned by uid %d, not root or the agent's user (or set insecure_dropins for development)", st.Uid)
	}
	return nil
}
