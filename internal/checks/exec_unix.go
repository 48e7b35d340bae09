//go:build !windows

package checks

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// group kills a command's process group: SIGTERM when the attempt's context
// ends (exec.Cmd.Cancel), SIGKILL once the grace has passed, and children
// that outlived their parent with it.
type group struct {
	cmd   *exec.Cmd
	grace time.Duration

	mu     sync.Mutex
	termAt time.Time // when SIGTERM went out; zero if it did not
}

// prepare puts cmd in its own process group and arms the kill on cancel.
// WaitDelay bounds how long Wait reads pipes that a leftover child holds,
// and how long a leader that ignores SIGTERM lives before os/exec kills it.
func prepare(cmd *exec.Cmd, grace time.Duration) *group {
	g := &group{cmd: cmd, grace: grace}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		g.mu.Lock()
		g.termAt = time.Now()
		g.mu.Unlock()
		return g.signal(syscall.SIGTERM)
	}
	cmd.WaitDelay = grace
	return g
}

// killed reports whether the attempt's end reached the process while it
// ran (Cancel sent SIGTERM). When it did not, the script exited by itself
// and its exit status counts, even if a child kept its output open until
// the timeout.
func (g *group) killed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.termAt.IsZero()
}

// signal sends sig to the whole group; the group's id is the leader's pid.
func (g *group) signal(sig syscall.Signal) error {
	if g.cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-g.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// cleanup runs after Wait. When the attempt was cancelled or timed out it
// gives what is left of the group the rest of the grace, then SIGKILLs it:
// a child that ignores SIGTERM must not outlive its attempt. A script that
// exited by itself keeps its background children.
func (g *group) cleanup(cancelled bool) {
	if !cancelled || g.cmd.Process == nil {
		return
	}
	g.mu.Lock()
	termAt := g.termAt
	g.mu.Unlock()
	if !termAt.IsZero() {
		deadline := time.NewTimer(time.Until(termAt.Add(g.grace)))
		defer deadline.Stop()
		poll := time.NewTicker(20 * time.Millisecond)
		defer poll.Stop()
	wait:
		for g.signal(0) == nil {
			select {
			case <-deadline.C:
				break wait
			case <-poll.C:
			}
		}
	}
	_ = g.signal(syscall.SIGKILL)
}

// shellArgv runs an exec check's shell: text.
func shellArgv(script string) []string { return []string{"/bin/sh", "-c", script} }

// lookPath finds a command in safePath, not in the agent's own PATH.
func lookPath(file string) (string, error) {
	return lookPathIn(file, safePath, func(fi fs.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 })
}

// baseEnviron is the environment before the ASAGENT_ variables.
func baseEnviron() []string {
	env := []string{"PATH=" + safePath}
	// Harmless, and scripts misbehave without them.
	for _, k := range []string{"HOME", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// workDir is where scripts start.
func workDir() string { return "/" }
