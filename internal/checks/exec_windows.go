//go:build windows

package checks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// group kills a command's process tree on Windows, which has no process
// groups that can be signalled and no SIGTERM: taskkill /T /F walks the
// tree by parent pid. Children whose parent already exited are out of its
// reach; a job object would catch them too.
type group struct {
	cmd *exec.Cmd

	mu        sync.Mutex
	cancelled bool // Cancel ran while the process did
}

// prepare starts cmd in a new process group and arms the tree kill.
func prepare(cmd *exec.Cmd, grace time.Duration) *group {
	g := &group{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
	cmd.Cancel = func() error {
		g.mu.Lock()
		g.cancelled = true
		g.mu.Unlock()
		g.killTree()
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = grace
	return g
}

func (g *group) killTree() {
	if g.cmd.Process == nil {
		return
	}
	taskkill := filepath.Join(systemRoot(), "System32", "taskkill.exe")
	_ = exec.Command(taskkill, "/T", "/F", "/PID", strconv.Itoa(g.cmd.Process.Pid)).Run()
}

// killed reports whether the attempt's end reached the process while it ran.
func (g *group) killed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cancelled
}

// cleanup kills what is left of the tree after a cancelled attempt.
func (g *group) cleanup(cancelled bool) {
	if cancelled {
		g.killTree()
	}
}

func systemRoot() string {
	if r := os.Getenv("SystemRoot"); r != "" {
		return r
	}
	return `C:\Windows`
}

// scriptCommand runs the drop-in script at path with the interpreter its
// extension calls for. Windows keeps running it by path: f only proved it
// a regular file, and the directory's ACL protects it.
func scriptCommand(ctx context.Context, _ *os.File, path string) (*exec.Cmd, error) {
	argv, err := interpreterFor(path, systemRoot())
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	return cmd, nil
}

// shellArgv runs an exec check's shell: text with cmd.exe.
func shellArgv(script string) []string {
	return []string{filepath.Join(systemRoot(), "System32", "cmd.exe"), "/C", script}
}

// lookPath uses the agent's own PATH and PATHEXT, which scripts inherit on
// Windows.
func lookPath(file string) (string, error) {
	if strings.ContainsAny(file, `\/`) {
		return file, nil
	}
	return exec.LookPath(file)
}

// baseEnviron is the agent's environment without ASAGENT_ variables:
// cmd.exe and PowerShell do not work without SystemRoot, TEMP and the like.
func baseEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "ASAGENT_") {
			env = append(env, kv)
		}
	}
	return env
}

// workDir is the system drive's root.
func workDir() string {
	if d := os.Getenv("SystemDrive"); d != "" {
		return d + `\`
	}
	return `C:\`
}
