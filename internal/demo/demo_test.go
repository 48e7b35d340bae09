package demo

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/asagent/asagent/internal/sim"
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
	if err := Run(context.Background(), &out, Options{}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"agent -> AS: EXTEND launch-hook (accepted)", "agent -> AS: CONTINUE terminate-hook (accepted)",
		"INSTANCE_LAUNCHING     CONTINUE by callback", "INSTANCE_TERMINATING   CONTINUE by callback", "check 10-drain: drained", "extended once",
		"demo passed", "next: rehearse with your own drop-ins, as any user: asagent sim --workdir"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), demoSK) {
		t.Error("the demo printed the secret key")
	}
	if strings.Contains(out.String(), "  API ") || strings.Contains(out.String(), "times)") {
		t.Errorf("without --verbose the demo prints API lines, or an unplural count:\n%s", out.String())
	}
}

// The demo tells the callbacks; with Verbose it prints every AS call as
// it is answered.
func TestDemoVerbosePrintsEveryCall(t *testing.T) {
	s, err := sim.New(sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/autoscaling-api/v1/" + s.ProjectID() + "/scaling_group") // unsigned: 401
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, verbose := range []bool{false, true} {
		var out bytes.Buffer
		w := &watcher{sim: s, p: newPrinter(&out), verbose: verbose}
		w.calls()
		if got := strings.Contains(out.String(), "API list_groups"); got != verbose {
			t.Errorf("verbose %v: printed %q", verbose, out.String())
		}
	}
}
