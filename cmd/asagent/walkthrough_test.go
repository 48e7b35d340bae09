//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
	"github.com/asagent/asagent/internal/testutil"
)

// walkUser is the account the walk-through runs as when the test runs as
// root: created for the test when absent, and removed after it.
const walkUser = "asagent-walk"

// rehearsalUser is who runs the walk-through: this process's user when it
// is not root; else walkUser, created with useradd when absent. nil means
// root after all (no useradd here): the walk-through then runs as root.
func rehearsalUser(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil // already a user without privileges
	}
	u, err := user.Lookup(walkUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", walkUser).CombinedOutput()
		if err != nil {
			t.Logf("useradd %s: %v %s; the walk-through runs as root", walkUser, err, out)
			return nil
		}
		t.Cleanup(func() {
			if out, err := exec.Command("userdel", walkUser).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v %s", walkUser, err, out)
			}
		})
		if u, err = user.Lookup(walkUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// rehearsal is the walk-through of docs/simulator.md, run with the real
// binary as a user without privileges, in a directory of its own.
type rehearsal struct {
	t    *testing.T
	bin  string
	dir  string // --workdir
	cred *syscall.Credential
	url  string
}

// command returns the binary with args, run as the rehearsal's user with a
// plain environment.
func (r *rehearsal) command(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Dir(r.dir), "LANG=C.UTF-8"}
	cmd.Dir = filepath.Dir(r.dir) // the work directory does not exist before the simulator makes it
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

// run runs one command to its end and fails the test unless it exits 0.
func (r *rehearsal) run(args ...string) string {
	r.t.Helper()
	out, err := r.command(args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("asagent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs a long-lived command until the test ends (SIGTERM, then a
// bounded wait), with its output in log.
func (r *rehearsal) start(log io.Writer, args ...string) *exec.Cmd {
	r.t.Helper()
	cmd := r.command(args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// file writes a file of the rehearsal, owned by its user.
func (r *rehearsal) file(rel, body string, mode os.FileMode) {
	r.t.Helper()
	path := filepath.Join(r.dir, rel)
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		r.t.Fatal(err)
	}
	if r.cred != nil {
		if err := os.Chown(path, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			r.t.Fatal(err)
		}
	}
}

// status is `asagent sim status --json`.
func (r *rehearsal) status() sim.LocalStatus {
	r.t.Helper()
	var ans sim.ControlAnswer
	out := r.run("sim", "status", "--json", "--sim", r.url)
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		r.t.Fatalf("sim status --json: %v\n%s", err, out)
	}
	return ans.Status
}

// waitHolds waits until the instance has had n holds, every one ended.
func (r *rehearsal) waitHolds(n int, what string) sim.LocalStatus {
	r.t.Helper()
	var st sim.LocalStatus
	testutil.Eventually(r.t, 90*time.Second, 250*time.Millisecond, what, func() bool {
		st = r.status()
		return len(st.Holds) == n && st.Holds[n-1].Status != "HANGING"
	})
	return st
}

// The walk-through of docs/simulator.md, as a user without privileges
// runs it: `asagent sim --workdir`, drop-ins written there, `asagent run`
// on the agent.yaml it made, then scale-out, scale-in and scale-out again
// from the command line. Each hold must be answered CONTINUE by the agent
// (a callback signed with the agency's credentials, never by a timeout or
// a third party), the launch after an EXTEND, and `asagent status` works
// on the rehearsal's own socket.
func TestWalkthroughAsUser(t *testing.T) {
	bin := buildBinary(t)
	cred := rehearsalUser(t)
	base, err := os.MkdirTemp("", "asagent-walk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	r := &rehearsal{t: t, dir: filepath.Join(base, "rehearsal"), cred: cred}
	r.bin = filepath.Join(base, "asagent")
	if data, err := os.ReadFile(bin); err != nil || os.WriteFile(r.bin, data, 0o755) != nil {
		t.Fatalf("copy the binary: %v", err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
		t.Logf("running as %s (uid %d)", walkUser, cred.Uid)
	}

	var simLog, agentLog lockedBuffer
	defer func() {
		if t.Failed() {
			t.Logf("simulator:\n%s\nagent:\n%s", simLog.String(), agentLog.String())
		}
	}()
	simOut, simW := io.Pipe()
	simProc := r.command("sim", "--workdir", r.dir, "--listen", "127.0.0.1:0")
	simProc.Stdout, simProc.Stderr = simW, &simLog
	if err := simProc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = simProc.Process.Signal(syscall.SIGTERM)
		_ = simProc.Wait()
		simW.Close()
	})
	r.url = readListeningURL(t, simOut)

	r.file("launch.d/10-app-ready", "#!/bin/sh\n[ -e "+r.dir+"/app-ready ] || { echo 'warming up'; exit 1; }\necho ready\n", 0o755)
	r.file("terminate.d/10-drain", "#!/bin/sh\nif [ \"$ASAGENT_ATTEMPT\" -lt 2 ]; then echo draining; exit 1; fi\necho drained\n", 0o755)
	r.start(&agentLog, "run", "--config", filepath.Join(r.dir, "agent.yaml"))

	if out := r.run("sim", "scale-out", "--sim", r.url); !strings.Contains(out, "PENDING_WAIT, held by launch-hook") {
		t.Fatalf("scale-out:\n%s", out)
	}
	testutil.Eventually(t, 60*time.Second, 250*time.Millisecond, "the agent's EXTEND", func() bool {
		cbs := r.status().Callbacks
		return len(cbs) > 0 && cbs[0].Result == sim.ResultExtend
	})
	if out := r.run("status", "--config", filepath.Join(r.dir, "agent.yaml")); !strings.Contains(out, "launch: 0/1 check passed") {
		t.Errorf("asagent status while the launch waits:\n%s", out)
	}
	r.file("app-ready", "", 0o644)
	r.waitHolds(1, "the launch hold to end")
	r.run("sim", "scale-in", "--sim", r.url)
	r.waitHolds(2, "the terminate hold to end")
	r.run("sim", "scale-out", "--sim", r.url)
	st := r.waitHolds(3, "the second launch hold to end")

	if st.LifeCycleState != sim.StateInService {
		t.Errorf("after the second scale-out: %s, want INSERVICE", st.LifeCycleState)
	}
	for i, h := range st.Holds {
		if h.Status != sim.ResultContinue || h.EndedBy != sim.ByCallback {
			t.Errorf("hold %d (%s): %s by %s, want CONTINUE by callback", i, h.Hook, h.Status, h.EndedBy)
		}
	}
	var continues []string
	for _, cb := range st.Callbacks {
		if cb.From != sim.CallerAgency || !cb.Accepted() {
			t.Errorf("callback %+v: want one from the agent (agency credentials), accepted", cb)
		}
		if cb.Result == sim.ResultContinue {
			continues = append(continues, cb.Hook)
		}
	}
	if got, want := strings.Join(continues, ","), "launch-hook,terminate-hook,launch-hook"; got != want {
		t.Errorf("CONTINUE callbacks for %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "state", "state.json")); err != nil {
		t.Errorf("the agent kept no state in the work directory: %v", err)
	}
}

// readListeningURL reads `asagent sim` output up to its next steps and
// returns the URL it listens on; the rest of the output is drained.
func readListeningURL(t *testing.T, r io.Reader) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	url := ""
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			switch {
			case !ok:
				t.Fatal("asagent sim stopped before it printed its next steps")
			case strings.HasPrefix(l, "listening on "):
				url = strings.TrimPrefix(l, "listening on ")
			case strings.HasPrefix(l, "next: "):
				go func() {
					for range lines {
					}
				}()
				if url == "" {
					t.Fatal("asagent sim printed no URL")
				}
				return url
			}
		case <-deadline:
			t.Fatal("asagent sim printed no next steps within 30s")
		}
	}
}
