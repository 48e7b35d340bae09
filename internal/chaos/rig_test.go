//go:build linux

package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/syncbuf"

	"github.com/asagent/asagent/internal/sim"
)

// Keys the simulator accepts. The suites search all captured output for
// them, and for every temporary credential and metadata token the
// simulator hands out.
const (
	chaosAK = "AKCHAOSNEVERLOG00001"
	chaosSK = "sk-chaos-never-log-this-secret-0001"
)

// cloud is a simulator served on loopback, with a recorder of every secret it
// hands out (metadata session tokens, temporary credentials, their access
// keys: only a masked form of an access key may be printed).
type cloud struct {
	t   *testing.T
	sim *sim.Sim
	srv *httptest.Server

	mu      sync.Mutex
	secrets map[string]bool
}

// newCloud starts a simulator with opts on 127.0.0.1 and a goroutine that
// applies hook timeouts every 200 ms, as `asagent sim` does every second.
func newCloud(t *testing.T, opts sim.Options) *cloud {
	t.Helper()
	if opts.AccessKey == "" {
		opts.AccessKey, opts.SecretKey = chaosAK, chaosSK
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &cloud{t: t, sim: s, secrets: map[string]bool{chaosAK: true, chaosSK: true}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	done := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				s.Sweep()
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-swept
		c.srv.Close()
	})
	return c
}

// serve passes the request to the simulator and notes the secrets in the
// answers of the token and securitykey paths.
func (c *cloud) serve(w http.ResponseWriter, r *http.Request) {
	secretPath := r.URL.Path == "/meta-data/latest/api/token" || r.URL.Path == "/openstack/latest/securitykey"
	if !secretPath {
		c.sim.Handler().ServeHTTP(w, r)
		return
	}
	rec := &teeWriter{ResponseWriter: w}
	c.sim.Handler().ServeHTTP(rec, r)
	body := rec.body.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/token") {
		if tok := strings.TrimSpace(body); tok != "" && rec.status < 300 {
			c.secrets[tok] = true
		}
		return
	}
	var sk struct {
		Credential struct {
			Access        string `json:"access"`
			Secret        string `json:"secret"`
			SecurityToken string `json:"securitytoken"`
		} `json:"credential"`
	}
	if json.Unmarshal([]byte(body), &sk) == nil {
		for _, v := range []string{sk.Credential.Access, sk.Credential.Secret, sk.Credential.SecurityToken} {
			if v != "" {
				c.secrets[v] = true
			}
		}
	}
}

// teeWriter keeps a copy of what it writes, and its status. It passes
// Hijack on, so the simulator's dropped-connection fault still works.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *teeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// secretList is every secret handed out so far.
func (c *cloud) secretList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.secrets))
	for s := range c.secrets {
		out = append(out, s)
	}
	return out
}

// url is the base URL of both the metadata paths and the AS API.
func (c *cloud) url() string { return c.srv.URL }

// lockedBuffer collects a process's output from several goroutines.
type lockedBuffer = syncbuf.Buffer

// agentDir is one agent's files: config, drop-in directories, state.
type agentDir struct {
	root, cfg, launchD, terminateD, state, sock string
}

// agentOpts shape the config an agent runs with.
type agentOpts struct {
	group       string // cloud.scaling_group_id; empty: discovered
	staticCreds bool   // cloud.credentials with the permanent AK/SK; else the agency
	launchMax   string // launch.max_wait; empty: 1h
	timeout     string // launch.timeout (one attempt); empty: 60s
	margin      string // extend.margin; empty: 10s, the least allowed
	extra       string // more YAML, appended
}

// newAgentDir writes a config for an agent against c into a new directory.
func newAgentDir(t *testing.T, c *cloud, o agentOpts) agentDir {
	t.Helper()
	root := t.TempDir()
	d := agentDir{
		root: root, cfg: filepath.Join(root, "agent.yaml"),
		launchD: filepath.Join(root, "launch.d"), terminateD: filepath.Join(root, "terminate.d"),
		state: filepath.Join(root, "state"), sock: filepath.Join(root, "agent.sock"),
	}
	for _, p := range []string{d.launchD, d.terminateD, d.state, filepath.Join(root, "conf.d")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cloud:\n  metadata_endpoint: %s\n  as_endpoint: %s\n  request_timeout: 5s\n", c.url(), c.url())
	if o.group != "" {
		fmt.Fprintf(&b, "  scaling_group_id: %s\n", o.group)
	}
	if o.staticCreds {
		fmt.Fprintf(&b, "  credentials:\n    access_key: %s\n    secret_key: %s\n", chaosAK, chaosSK)
	}
	orDefault := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	fmt.Fprintf(&b, `poll:
  launch_interval: 1s
  idle_interval: 1s
  hooks_interval: 3s
  jitter: 0
extend:
  margin: %s
launch:
  scripts_dir: %s
  interval: 1s
  max_wait: %s
  timeout: %s
terminate:
  scripts_dir: %s
  interval: 1s
include_dir: %s
state_dir: %s
control_socket: %s
log:
  level: debug
  format: json
`, orDefault(o.margin, "10s"), d.launchD, orDefault(o.launchMax, "1h"), orDefault(o.timeout, "60s"), d.terminateD,
		filepath.Join(root, "conf.d"), d.state, d.sock)
	b.WriteString(o.extra)
	if err := os.WriteFile(d.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// script writes an executable drop-in (root-owned, 0755, as the agent requires).
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is one run of the real agent.
type proc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // valid after done
}

// startAgent runs `asagent run` with d's config. Its output goes to out
// (shared across restarts, so the secret search sees all of it). The
// environment is minimal: no HUAWEICLOUD_SDK_* variable leaks in.
func startAgent(t *testing.T, d agentDir, out *lockedBuffer) *proc {
	t.Helper()
	cmd := exec.Command(agentBin, "run", "--config", d.cfg)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + d.root}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits, at most limit, then kills.
func (p *proc) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil && !killedBy(p.err, syscall.SIGTERM) {
			t.Errorf("agent exit after SIGTERM: %v", p.err)
		}
	case <-time.After(limit):
		t.Errorf("agent still running %s after SIGTERM; killing it", limit)
		p.kill()
	}
}

// killedBy reports whether err says the process died of sig. A SIGTERM in
// the first milliseconds, before the agent installs its handler, kills it
// that way; nothing has started then, so nothing is lost, and systemd
// counts it as a clean stop.
func killedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// peakRSS is the process's peak resident set (VmHWM) in KiB, or 0 when it
// cannot be read.
func (p *proc) peakRSS() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

// outcomesOf are the outcomes of instance id, by hook.
func outcomesOf(s *sim.Sim, id string) map[string][]sim.Outcome {
	out := map[string][]sim.Outcome{}
	for _, o := range s.Outcomes() {
		if o.InstanceID == id {
			out[o.Hook] = append(out[o.Hook], o)
		}
	}
	return out
}

// checkCallbacks asserts, over every callback attempt on instance id that
// reached the simulator: per hook, no EXTEND after a result was attempted,
// never two different results, and at most one accepted result.
func checkCallbacks(t *testing.T, s *sim.Sim, id string) {
	t.Helper()
	result := map[string]string{}
	accepted := map[string]int{}
	for _, r := range s.RequestsTo(sim.RouteCallback) {
		if r.InstanceID != id || r.Fault == "drop" || r.Fault == "error" || r.Status == http.StatusTooManyRequests || r.Status == 0 {
			continue
		}
		switch {
		case r.Result == sim.ResultExtend:
			if result[r.Hook] != "" && r.Status < 300 {
				t.Errorf("accepted EXTEND of %s after its result %s", r.Hook, result[r.Hook])
			}
		case result[r.Hook] == "":
			result[r.Hook] = r.Result
		case result[r.Hook] != r.Result:
			t.Errorf("hook %s: result %s after %s", r.Hook, r.Result, result[r.Hook])
		}
		if r.Result != sim.ResultExtend && r.Status < 300 {
			accepted[r.Hook]++
			if accepted[r.Hook] > 1 {
				t.Errorf("hook %s on %s answered %d times", r.Hook, id, accepted[r.Hook])
			}
		}
	}
}

// noSecrets fails the test if any secret appears in any of the texts.
func noSecrets(t *testing.T, secrets []string, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(text, s) {
				t.Errorf("a secret (%d chars, starts %q) appears in %s", len(s), s[:3], name)
			}
		}
	}
}
