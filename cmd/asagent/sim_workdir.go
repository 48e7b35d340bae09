package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/asagent/asagent/internal/sim"
)

// A rehearsal directory: what `asagent sim --workdir DIR` creates where
// missing, so that `asagent run --config DIR/agent.yaml` works as any user
// and touches nothing outside DIR. Without --workdir the simulator makes
// the same in a temporary directory, which it removes when it stops.

// workdir names the parts of a rehearsal directory.
type workdir struct {
	dir string
	tmp bool // made by the simulator, removed when it stops
}

func (w workdir) config() string     { return filepath.Join(w.dir, "agent.yaml") }
func (w workdir) scenario() string   { return filepath.Join(w.dir, "scenario.yaml") }
func (w workdir) launchDir() string  { return filepath.Join(w.dir, "launch.d") }
func (w workdir) termDir() string    { return filepath.Join(w.dir, "terminate.d") }
func (w workdir) includeDir() string { return filepath.Join(w.dir, "conf.d") }
func (w workdir) stateDir() string   { return filepath.Join(w.dir, "state") }
func (w workdir) socket() string     { return filepath.Join(w.dir, "agent.sock") }

// maxSocketPath is the longest path a unix socket can have (sun_path is
// 108 bytes on Linux, with its NUL).
const maxSocketPath = 107

// prepareWorkdir makes dir (absolute) and its directories where missing:
// drop-in directories the agent may trust (mode 0755: writable by their
// owner alone), a private state directory. dir "" makes a temporary one.
func prepareWorkdir(dir string) (workdir, error) {
	w := workdir{dir: dir}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "asagent-sim-")
		if err != nil {
			return w, err
		}
		w = workdir{dir: tmp, tmp: true}
	}
	abs, err := filepath.Abs(w.dir)
	if err != nil {
		return w, err
	}
	w.dir = abs
	if len(w.socket()) > maxSocketPath {
		return w, fmt.Errorf("--workdir %s is too long for the agent's control socket there (%d bytes at most): choose a shorter path", w.dir, maxSocketPath-len("/agent.sock"))
	}
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{w.dir, 0o755}, {w.launchDir(), 0o755}, {w.termDir(), 0o755}, {w.includeDir(), 0o755}, {w.stateDir(), 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return w, err
		}
	}
	return w, nil
}

// writeIfMissing writes body to path unless the file exists, and says
// which it did.
func writeIfMissing(path string, body []byte) (written bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

// rehearsalScenario is the scenario a work directory starts with: the
// default group and hooks, and this instance not in the group yet, so that
// `asagent sim scale-out` is the scaling action that adds it. The hooks'
// 5 minutes leave time to start the agent; the agent EXTENDs at once (its
// margin is longer).
func rehearsalScenario() string {
	return `# The simulator's starting state for ` + "`asagent sim --workdir`" + `; every key is in
# docs/simulator.md. This instance is in no group yet: ` + "`asagent sim scale-out`" + `
# adds it and the launch hook holds it, as AS does on a scaling action.
local_instance: ` + sim.DefaultInstanceID + `
groups:
  - id: ` + sim.DefaultGroupID + `
    name: ` + sim.DefaultGroupName + `
    hooks:
      - {name: ` + sim.DefaultLaunchHook + `, type: INSTANCE_LAUNCHING, default_result: ABANDON, default_timeout: 300}
      - {name: ` + sim.DefaultTerminateHook + `, type: INSTANCE_TERMINATING, default_result: ABANDON, default_timeout: 300}
    instances: []
`
}

// rehearsalConfig is the agent.yaml for the simulator at url: complete,
// with every path under the work directory.
func rehearsalConfig(w workdir, s *sim.Sim, url string, f simFlags) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# agent.yaml for the simulator at %s (this instance: %s).\n", url, s.LocalInstanceID())
	fmt.Fprintf(&b, "# Everything the agent touches is under %s. Run it with\n#   asagent run --config %s\n", w.dir, w.config())
	fmt.Fprintln(&b, "cloud:")
	fmt.Fprintf(&b, "  metadata_endpoint: %s\n", url)
	fmt.Fprintf(&b, "  as_endpoint: %s\n", url)
	fmt.Fprintf(&b, "  region: %s\n", s.Region())
	fmt.Fprintf(&b, "  project_id: %s\n", s.ProjectID())
	// The local instance's group; else the one scale-out adds it to. An
	// agent on an instance finds it by itself; here the instance may start
	// outside it.
	if g, ok := s.GroupOf(s.LocalInstanceID()); ok {
		fmt.Fprintf(&b, "  scaling_group_id: %s\n", g)
	} else if gs := s.GroupIDs(); len(gs) > 0 {
		fmt.Fprintf(&b, "  scaling_group_id: %s\n", gs[0])
	}
	if f.accessKey != "" {
		fmt.Fprintln(&b, "  credentials:")
		fmt.Fprintf(&b, "    access_key: %s\n", f.accessKey)
		fmt.Fprintf(&b, "    secret_key: %s\n", f.secretKey)
	} else {
		fmt.Fprintln(&b, "  # no credentials: the agency's, from the metadata service, as on an instance")
	}
	fmt.Fprintln(&b, "poll:")
	fmt.Fprintln(&b, "  idle_interval: 5s     # 25s on an instance: a rehearsal need not wait")
	fmt.Fprintln(&b, "  hooks_interval: 15s   # 5m on an instance")
	fmt.Fprintf(&b, "launch:\n  scripts_dir: %s\n", w.launchDir())
	fmt.Fprintf(&b, "terminate:\n  scripts_dir: %s\n", w.termDir())
	fmt.Fprintf(&b, "include_dir: %s\n", w.includeDir())
	fmt.Fprintf(&b, "state_dir: %s\n", w.stateDir())
	fmt.Fprintf(&b, "control_socket: %s\n", w.socket())
	return b.Bytes()
}

// writeAgentConfig writes the work directory's agent.yaml where missing and
// prints it, with what to run next. An agent.yaml kept from an earlier run
// that names another simulator address is pointed out.
func writeAgentConfig(out io.Writer, w workdir, s *sim.Sim, url string, f simFlags) error {
	want := rehearsalConfig(w, s, url, f)
	written, err := writeIfMissing(w.config(), want)
	if err != nil {
		return err
	}
	have, err := os.ReadFile(w.config())
	if err != nil {
		return err
	}
	switch {
	case w.tmp:
		fmt.Fprintf(out, "work directory %s (temporary: removed when the simulator stops; --workdir DIR keeps one)\n", w.dir)
	case written:
		fmt.Fprintf(out, "work directory %s: wrote agent.yaml\n", w.dir)
	default:
		fmt.Fprintf(out, "work directory %s: kept its agent.yaml\n", w.dir)
	}
	if !written && !strings.Contains(string(have), url+"\n") {
		fmt.Fprintf(out, "warning: %s does not point at %s; remove it to have it written again\n", w.config(), url)
	}
	fmt.Fprintf(out, "# %s\n%s", w.config(), have)
	simFlag := ""
	if url != "http://"+simDefaultListen {
		simFlag = " --sim " + url
	}
	fmt.Fprintf(out, "next: asagent run --config %s   (in another terminal)\n", w.config())
	if _, held := s.GroupOf(s.LocalInstanceID()); held {
		fmt.Fprintf(out, "      the instance is in its group already; then: asagent sim scale-in%s, asagent sim status%s\n", simFlag, simFlag)
	} else {
		fmt.Fprintf(out, "      then: asagent sim scale-out%s, asagent sim status%s\n", simFlag, simFlag)
	}
	return nil
}
