//go:build !windows

package checks

import "io/fs"

// execProblem refuses a file without any execute bit, as run-parts skips it:
// `chmod -x` is how an admin disables a script.
func execProblem(fi fs.FileInfo) string {
	if fi.Mode().Perm()&0o111 == 0 {
		return "not executable (chmod +x to enable it)"
	}
	return ""
}
