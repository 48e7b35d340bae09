package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The README's first command must work on a fresh machine: the demo runs the
// real agent against the simulator and succeeds only if both hooks were
// answered CONTINUE by the agent, the launch hook was extended, and nothing
// timed out.
func TestDemoPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 15 s")
	}
	var out bytes.Buffer
	if err := Run(context.Background(), &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"API callback EXTEND launch-hook", "INSTANCE_LAUNCHING     CONTINUE by callback", "INSTANCE_TERMINATING   CONTINUE by callback", "check 10-drain: drained"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), demoSK) {
		t.Error("the demo printed the secret key")
	}
}
