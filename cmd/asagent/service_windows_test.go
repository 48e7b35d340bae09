//go:build windows

package main

import (
	"context"
	"io"
	"testing"

	"github.com/kardianos/service"
)

// From a console (as under `go test`) `asagent run` runs as everywhere
// else: only a process the service control manager started goes through
// kardianos/service's loop.
func TestRunUnderServiceManagerFromConsole(t *testing.T) {
	if !service.Interactive() {
		t.Skip("this test process was started by the service control manager")
	}
	if code, handled := runUnderServiceManager(context.Background(), cmdIO{io.Discard, io.Discard}, `C:\nonexistent\agent.yaml`); handled {
		t.Fatalf("handled by the service bridge (exit %d) in a console", code)
	}
}
