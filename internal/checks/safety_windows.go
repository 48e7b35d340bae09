//go:build windows

package checks

import "io/fs"

// execProblem has nothing to check: Windows has no execute bit, and the
// name rule already admits only runnable extensions.
func execProblem(fs.FileInfo) string { return "" }
