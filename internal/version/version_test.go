package version

import (
	"runtime"
	"strings"
	"testing"
)

// A plain build must say "dev" and name the Go toolchain, so bug reports carry both.
func TestStringNamesVersionAndGo(t *testing.T) {
	s := String()
	for _, want := range []string{"asagent dev", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
}
