//go:build windows

package checks

import "io/fs"

// execProblem has nothing to check: Windows has no execute bit, and the
// name rule already admits only runnable extensions.
func execProblem(fs.FileInfo) string { return "" }

// ownerProblem has nothing to check: Windows file ownership is an ACL
// matter that the installer sets on the agent's directories.
func ownerProblem(fs.FileInfo) string { return "" }
