package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's run if any test leaves a goroutine behind:
// the engine's tickers, EXTEND loops, check runners and control handlers
// must all end with their context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
