//go:build linux

package chaos

import (
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// securityScenario: the local instance held by one launch hook that lasts
// long enough for every run here, and defaults to CONTINUE so a timeout
// cannot pass for an answer the test wants (ABANDON).
func securityScenario(id string) *sim.Scenario {
	return &sim.Scenario{
		LocalInstance: id,
		Groups: []sim.Group{{
			ID: "g-sec", Name: "sec",
			Hooks:     []sim.Hook{{Name: "boot", Type: sim.HookLaunch, DefaultTimeout: 120, DefaultResult: sim.ResultContinue}},
			Instances: []sim.Instance{{ID: id, Held: true}},
		}},
	}
}

// The control socket of the real agent refuses a peer that is neither root
// nor the agent's user, even with the socket's mode and directories opened
// to everyone: SO_PEERCRED, not the file mode, is the last line. The peer
// learns nothing (no instance ID), and its signal does not reach the agent.
func TestControlSocketRefusesOtherUsers(t *testing.T) {
	needBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	c := newCloud(t, sim.Options{Scenario: securityScenario("i-sec-peer"), MinHookTimeout: time.Second})
	d := newAgentDir(t, c, agentOpts{group: "g-sec", staticCreds: true})
	script(t, d.launchD, "10-wait", "exit 1")
	var out lockedBuffer
	p := startAgent(t, d, &out)
	testutil.Eventually(t, 20*time.Second, 50*time.Millisecond, "the control socket", func() bool {
		_, err := os.Stat(d.sock)
		return err == nil
	})
	// Open everything on the way, so only the peer check stands.
	for _, dir := range []string{d.root, filepath.Dir(d.root)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d.sock, 0o777); err != nil {
		t.Fatal(err)
	}
	// The other user needs a config it can read: only the socket matters.
	cfg := filepath.Join(d.root, "peer.yaml")
	if err := os.WriteFile(cfg, []byte("control_socket: "+d.sock+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"signal", "ready"}, {"complete", "--result", "CONTINUE"}} {
		cmd := exec.Command(agentBin, append([]string{args[0], "--config", cfg}, args[1:]...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		b, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("asagent %v as user 65534 succeeded: %s", args, b)
		}
		if strings.Contains(string(b), "i-sec-peer") {
			t.Errorf("asagent %v as user 65534 learned the instance: %s", args, b)
		}
		t.Logf("asagent %v as user 65534: %v: %s", args, err, strings.TrimSpace(string(b)))
	}
	if o := outcomesOf(c.sim, "i-sec-peer")["boot"]; len(o) != 0 {
		t.Errorf("the refused peer's complete reached AS: %+v", o)
	}
	// Root is served.
	if b, err := exec.Command(agentBin, "status", "--config", d.cfg).CombinedOutput(); err != nil || !strings.Contains(string(b), "i-sec-peer") {
		t.Errorf("root's status: %v: %s", err, b)
	}
	p.stop(t, 10*time.Second)
	noSecrets(t, c.secretList(), map[string]string{"agent output": out.String()})
}

// Drop-in permission rules hold in the real agent: a script that is
// world-writable, a script owned by another user and a YAML drop-in that is
// world-writable never run; the phase does not pass on them, and ends by the
// agent's ABANDON at max_wait.
func TestDropInPermissionRules(t *testing.T) {
	needBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	c := newCloud(t, sim.Options{Scenario: securityScenario("i-sec-perm"), MinHookTimeout: time.Second})
	d := newAgentDir(t, c, agentOpts{group: "g-sec", staticCreds: true, launchMax: "6s"})
	ran := filepath.Join(d.root, "ran")
	ww := script(t, d.launchD, "10-world-writable", "echo ww >> "+ran+"; exit 0")
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	other := script(t, d.launchD, "20-other-owner", "echo other >> "+ran+"; exit 0")
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	yml := filepath.Join(d.root, "conf.d", "50-world-writable.yaml")
	if err := os.WriteFile(yml, []byte("launch:\n  checks:\n    - {name: sneaky, type: exec, command: [/bin/sh, -c, 'echo yaml >> "+ran+"']}\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(yml, 0o666); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	p := startAgent(t, d, &out)
	testutil.Eventually(t, 30*time.Second, 50*time.Millisecond, "the hook's answer", func() bool { return len(outcomesOf(c.sim, "i-sec-perm")["boot"]) > 0 })
	p.stop(t, 10*time.Second)
	if o := outcomesOf(c.sim, "i-sec-perm")["boot"]; len(o) != 1 || o[0].Result != sim.ResultAbandon || o[0].By != sim.ByCallback {
		t.Errorf("outcomes %+v, want one ABANDON by callback", o)
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Errorf("a refused drop-in ran: %s", b)
	}
	if t.Failed() {
		t.Logf("agent output:\n%s", out.String())
	}
}

// A user rehearsing without root owns its drop-ins: the real agent, run as
// that user, trusts files and directories of its own user like root's, so
// `asagent checks` passes on a script and a YAML drop-in of that user with
// no insecure_dropins; a script of a third user beside them is refused.
func TestNonRootAgentTrustsItsOwnDropIns(t *testing.T) {
	needBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the agent as another user")
	}
	const agentUID, thirdUID = 65534, 65533
	parent := t.TempDir()
	// Root's, so trusted; opened so that the user reaches work.
	for _, d := range []string{parent, filepath.Dir(parent)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(parent, "work")
	launchD, confD := filepath.Join(work, "launch.d"), filepath.Join(work, "conf.d")
	for _, d := range []string{work, launchD, confD} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ready := filepath.Join(work, "ready")
	cfg := filepath.Join(work, "agent.yaml")
	files := map[string]string{
		ready:                            "",
		cfg:                              "include_dir: " + confD + "\nlaunch:\n  scripts_dir: " + launchD + "\n",
		filepath.Join(confD, "app.yaml"): "launch:\n  checks:\n    - {name: app, type: file, path: " + ready + "}\n",
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script(t, launchD, "10-mine", "exit 0")
	for _, p := range append([]string{work, launchD, confD, filepath.Join(launchD, "10-mine")}, slices.Collect(maps.Keys(files))...) {
		if err := os.Chown(p, agentUID, agentUID); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, error) {
		cmd := exec.Command(agentBin, "checks", "--phase", "launch", "--once", "--config", cfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: agentUID, Gid: agentUID}}
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "launch: passed: all 2 checks passed -> CONTINUE") {
		t.Errorf("as the files' own user: %v\n%s", err, out)
	}
	third := script(t, launchD, "20-third", "exit 0")
	if err := os.Chown(third, thirdUID, thirdUID); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "owned by uid 65533, not by root or the agent's user (uid 65534)") {
		t.Errorf("with a third user's script: %v\n%s", err, out)
	}
}

// TLS verification stays on for AS unless the config turns it off: against
// an AS endpoint with a certificate no CA signed, the real agent sends no
// request that reaches the API (the handshake fails) and says why; with
// cloud.insecure_skip_verify it answers the hook.
func TestTLSVerificationStaysOn(t *testing.T) {
	needBinary(t)
	for _, tc := range []struct {
		name     string
		insecure bool
	}{{"verify", false}, {"insecure_skip_verify", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := "i-sec-tls-" + strings.ReplaceAll(tc.name, "_", "-")
			c := newCloud(t, sim.Options{Scenario: securityScenario(id), MinHookTimeout: time.Second})
			tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
			tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
			tlsSrv.StartTLS()
			t.Cleanup(tlsSrv.Close)
			d := newAgentDir(t, c, agentOpts{group: "g-sec", staticCreds: true})
			// Point AS at the TLS server: rewrite the plain as_endpoint line.
			b, err := os.ReadFile(d.cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg := strings.Replace(string(b), "  as_endpoint: "+c.url()+"\n", "  as_endpoint: "+tlsSrv.URL+"\n", 1)
			if tc.insecure {
				cfg = strings.Replace(cfg, "cloud:\n", "cloud:\n  insecure_skip_verify: true\n", 1)
			}
			if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			script(t, d.launchD, "10-ok", "exit 0")
			var out lockedBuffer
			p := startAgent(t, d, &out)
			defer func() {
				if t.Failed() {
					t.Logf("agent output:\n%s", out.String())
				}
			}()
			if tc.insecure {
				testutil.Eventually(t, 20*time.Second, 50*time.Millisecond, "the hook's answer", func() bool { return len(outcomesOf(c.sim, id)["boot"]) > 0 })
			} else {
				testutil.Eventually(t, 20*time.Second, 50*time.Millisecond, "a TLS error in the log", func() bool {
					return strings.Contains(out.String(), "certificate")
				})
				for _, r := range c.sim.Requests() {
					if strings.HasPrefix(string(r.Route), "as.") {
						t.Fatalf("an AS request got through an unverified TLS connection: %+v", r)
					}
				}
			}
			p.stop(t, 10*time.Second)
			noSecrets(t, c.secretList(), map[string]string{"agent output": out.String()})
		})
	}
}
