// Package version reports what build of asagent is running.
package version

import (
	"fmt"
	"runtime"
)

// Version and Commit are set at link time:
//
//	go build -ldflags "-X github.com/asagent/asagent/internal/version.Version=1.2.3 \
//	  -X github.com/asagent/asagent/internal/version.Commit=abc1234"
//
// A plain `go build` leaves Version as "dev" so a locally built binary is never
// mistaken for a release.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is the one-line form printed by `asagent version` and sent as the
// User-Agent suffix, e.g. "asagent 1.2.3 (commit abc1234, go1.26.8 linux/amd64)".
func String() string {
	return fmt.Sprintf("asagent %s (commit %s, %s %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
