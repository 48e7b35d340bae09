package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asagent/asagent/internal/trust"
)

// safePath is the PATH scripts get: the agent may run with a minimal or odd
// PATH under systemd or cloud-init, and scripts must not depend on it.
const safePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// execProber runs a drop-in script or an exec check's argv.
type execProber struct {
	script string       // a drop-in script's path; it runs from the file opened and checked
	policy trust.Policy // for a script: whose files it may be
	argv   []string     // an exec check's command, or shellArgv(shell)
}

func (e *execProber) probe(ctx context.Context, a attempt) outcome {
	cmd, release, refused := e.command(ctx)
	if refused != nil {
		return *refused
	}
	defer release()
	cmd.Env = environ(a.env, a.n, e.script)
	cmd.Dir = workDir()
	// cmd.Stdin stays nil: the child reads /dev/null.
	capt := newCapture(a.log)
	cmd.Stdout = capt.stream("stdout")
	cmd.Stderr = capt.stream("stderr")
	g := prepare(cmd, a.grace)
	err := cmd.Run()
	g.cleanup(g.killed())
	out := outcome{}
	out.output, out.outputBytes = capt.finish()
	out.output = strings.TrimRight(out.output, "\n")
	out.kind, out.err = classify(ctx, cmd, err, g.killed())
	return out
}

// command builds the attempt's process, or says why there is none. A
// drop-in script is opened and checked again first, as it may have changed
// since the directory was read, and runs from that open file; release
// closes it once the process has ended.
func (e *execProber) command(ctx context.Context) (cmd *exec.Cmd, release func(), failed *outcome) {
	if e.script == "" {
		prog, err := lookPath(e.argv[0])
		if err != nil {
			return nil, nil, &outcome{kind: notYet, err: err}
		}
		cmd = exec.CommandContext(ctx, prog, e.argv[1:]...)
		cmd.Args[0] = e.argv[0]
		return cmd, func() {}, nil
	}
	f, err := openScript(e.script, e.policy)
	if err != nil {
		return nil, nil, &outcome{kind: refuse, err: err}
	}
	if cmd, err = scriptCommand(ctx, f, e.script); err != nil {
		f.Close()
		return nil, nil, &outcome{kind: refuse, err: err}
	}
	return cmd, func() { f.Close() }, nil
}

// classify turns how a process ended into an attempt's kind.
func classify(ctx context.Context, cmd *exec.Cmd, err error, killed bool) (kind, error) {
	if ctx.Err() != nil && (killed || cmd.ProcessState == nil) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return notYet, fmt.Errorf("timed out; process group killed")
		}
		return notYet, ctx.Err()
	}
	st := cmd.ProcessState
	if st == nil {
		// It never started.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			return notYet, fmt.Errorf("cannot start %s (missing file or #! interpreter): %w", cmd.Args[0], err)
		}
		return notYet, fmt.Errorf("cannot start: %w", err)
	}
	switch code := st.ExitCode(); {
	case st.Success():
		// Also when err is exec.ErrWaitDelay: the script exited 0 and a
		// background child kept its output open; the exit status counts.
		return pass, nil
	case code == ExitGiveUp:
		return giveUp, fmt.Errorf("exit %d: gave up", code)
	case code >= 0:
		return notYet, fmt.Errorf("exit %d", code)
	}
	return notYet, fmt.Errorf("ended by %s", st.String())
}

// environ is a script's whole environment; see the package doc. script is
// a drop-in's path, "" for an exec check.
func environ(e Env, n int, script string) []string {
	deadline := ""
	if !e.Deadline.IsZero() {
		deadline = e.Deadline.UTC().Format(time.RFC3339)
	}
	env := baseEnviron()
	if script != "" {
		env = append(env, "ASAGENT_SCRIPT="+script)
	}
	return append(env,
		"ASAGENT_PHASE="+e.Phase,
		"ASAGENT_INSTANCE_ID="+e.InstanceID,
		"ASAGENT_SCALING_GROUP_ID="+e.GroupID,
		"ASAGENT_HOOK_NAMES="+strings.Join(e.HookNames, ","),
		"ASAGENT_DEADLINE="+deadline,
		"ASAGENT_ATTEMPT="+strconv.Itoa(n),
	)
}

// lookPathIn finds file in the directories of pathList the way a shell
// would, but in the scripts' PATH rather than the agent's own.
func lookPathIn(file, pathList string, isExec func(fs.FileInfo) bool) (string, error) {
	if strings.ContainsRune(file, filepath.Separator) || strings.ContainsRune(file, '/') {
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && isExec(fi) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH=%s: %w", file, pathList, exec.ErrNotFound)
}
