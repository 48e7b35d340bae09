//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	hcconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	"golang.org/x/sys/unix"

	"github.com/asagent/asagent/internal/sim"
)

// The Debian root the container boots: minbase plus what a booted systemd
// needs. Its cache directory is keyed by this list, so changing it builds a
// new root.
const (
	rootVariant  = "minbase"
	rootPackages = "systemd,systemd-sysv,dbus"
)

// Credentials of the simulator's permanent test key, which the test's own
// SDK client uses to drive scale-in. The agent uses the agency's temporary
// credentials from the metadata service, as on a real instance.
const (
	simAK = "NSPAWNE2ETESTACCESS1"
	simSK = "nspawn-e2e-secret-key-0123456789abcdef"
)

// The agent's configuration in the container: the simulator is the AS
// endpoint (there is no DNS in the namespace), polling is quick so the test
// is, and everything else is the packaged default.
const containerConfig = `# written by the end-to-end test, as cloud-init would
cloud:
  as_endpoint: http://169.254.169.254
poll:
  idle_interval: 2s
launch:
  interval: 1s
terminate:
  interval: 1s
metrics:
  listen: 127.0.0.1:9469
  textfile: ` + containerTextfile + `
`

// containerTextfile is where the agent in the container writes its metrics
// for node_exporter's textfile collector (not installed there).
const containerTextfile = "/var/lib/node_exporter/textfile_collector/asagent.prom"

// Drop-in checks: ready once the application says so, drained likewise.
const (
	launchScript    = "#!/bin/sh\n# ready once the application has started\ntest -e /run/app-ready\n"
	terminateScript = "#!/bin/sh\n# drained once the application has let its connections go\ntest -e /run/app-drained\n"
)

// On a real systemd, as a user installs it: the .deb from `make package` is
// installed with dpkg into a minimal Debian booted with systemd-nspawn,
// inside a network namespace where `asagent sim` is the metadata service
// and AS on 169.254.169.254. The unit becomes active, `systemctl status`
// shows the agent's STATUS line, the launch hook gets CONTINUE only after
// the drop-in check passes, `asagent status` and `asagent service` work,
// the journal has the agent's logs, scale-in runs the drain, the packaged
// unit passes `systemd-analyze verify`, and `dpkg --purge` leaves nothing
// behind. Last, `asagent service install` on a bare binary installs the
// project's unit.
func TestSystemdNspawnEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a container; skipped with -short")
	}
	needRoot(t, "network namespaces, debootstrap and systemd-nspawn")
	nspawn := needTool(t, "systemd-nspawn", "systemd-container")
	needTool(t, "debootstrap", "debootstrap")
	needTool(t, "nsenter", "util-linux")
	needTool(t, "ip", "iproute2")
	needTool(t, "dpkg-deb", "dpkg")
	suite := hostCodename()
	if suite == "" {
		t.Skip("needs a Debian host (no VERSION_CODENAME in /etc/os-release) to debootstrap the same release")
	}
	if _, err := os.Stat("/usr/share/debootstrap/scripts/" + suite); err != nil {
		t.Skipf("this debootstrap cannot build %s: %v", suite, err)
	}
	mirror, err := debianMirror("/", suite)
	if err != nil {
		t.Fatalf("the machine's apt sources name no mirror to debootstrap from: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	start := time.Now()
	dist := buildPackages(t, "deb")
	deb := onlyFile(t, dist, "asagent_[0-9]*_"+runtime.GOARCH+".deb")
	t.Logf("built %s in %v", filepath.Base(deb), time.Since(start).Round(time.Second))
	// The host runs the packaged binary too (as the simulator).
	pkgDir := filepath.Join(t.TempDir(), "pkg")
	unpack := filepath.Join(t.TempDir(), "unpacked")
	for _, argv := range [][]string{
		{"mkdir", "-p", pkgDir, unpack},
		{"cp", deb, filepath.Join(pkgDir, "asagent.deb")},
		{"dpkg-deb", "-x", deb, unpack},
		{"cp", filepath.Join(unpack, "usr", "bin", "asagent"), filepath.Join(pkgDir, "asagent")},
	} {
		run(t, ctx, argv...)
	}
	bin := filepath.Join(pkgDir, "asagent")

	start = time.Now()
	cached := debootstrapRoot(t, ctx, suite, mirror)
	root := filepath.Join(t.TempDir(), "root")
	run(t, ctx, "cp", "-a", "--reflink=auto", cached, root)
	t.Logf("container root ready in %v (cache %s)", time.Since(start).Round(time.Second), cached)

	ns := newNetns(t, ctx)
	simLog := startSim(t, ctx, ns, bin)

	// The configuration and drop-ins go in before the package, as cloud-init's
	// write_files would put them; dpkg keeps the existing agent.yaml.
	writeRootFile(t, root, "/etc/asagent/agent.yaml", containerConfig, 0o644)
	writeRootFile(t, root, "/etc/asagent/launch.d/10-app-ready", launchScript, 0o755)
	writeRootFile(t, root, "/etc/asagent/terminate.d/10-app-drained", terminateScript, 0o755)

	start = time.Now()
	c := bootContainer(t, ctx, nspawn, ns, root, pkgDir)
	t.Logf("container booted in %v", time.Since(start).Round(time.Second))

	// The container must be in the test's namespace before anything in it
	// may use 169.254.169.254.
	if got, want := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", c.init)), nsInode(t, "/run/netns/"+ns); got != want {
		t.Fatalf("the container's network namespace %d is not the test's %d", got, want)
	}

	cl := simClient(t, "/run/netns/"+ns)
	if st := instanceState(t, cl); st != "PENDING_WAIT" {
		t.Fatalf("before the agent runs the instance is %q, want PENDING_WAIT", st)
	}

	start = time.Now()
	c.mustRun(t, ctx, "dpkg", "-i", "--force-confold", "/mnt/asagent/asagent.deb")
	eventually(t, time.Minute, "asagent.service active", func() (bool, string) {
		out, _ := c.run(ctx, "systemctl", "is-active", "asagent")
		return strings.TrimSpace(out) == "active", out
	})
	t.Logf("unit active %v after dpkg -i", time.Since(start).Round(100*time.Millisecond))

	t.Run("systemctl status shows the STATUS line", func(t *testing.T) {
		var status string
		eventually(t, 30*time.Second, `Status: "launch: ...`, func() (bool, string) {
			status, _ = c.run(ctx, "systemctl", "status", "--no-pager", "--lines=0", "asagent")
			return strings.Contains(status, `Status: "launch: `), status
		})
		t.Logf("systemctl status asagent:\n%s", status)
	})
	t.Run("the hook stays held while the drop-in check fails", func(t *testing.T) {
		if st := instanceState(t, cl); st != "PENDING_WAIT" {
			t.Fatalf("instance is %q before the application is ready, want PENDING_WAIT", st)
		}
	})
	t.Run("asagent status inside", func(t *testing.T) {
		out := c.mustRun(t, ctx, "asagent", "status")
		for _, want := range []string{sim.DefaultInstanceID, sim.DefaultGroupID, "launch"} {
			if !strings.Contains(out, want) {
				t.Errorf("asagent status lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("launch CONTINUE after the drop-in check passes", func(t *testing.T) {
		c.mustRun(t, ctx, "touch", "/run/app-ready")
		eventually(t, time.Minute, "the launch hook's CONTINUE", func() (bool, string) {
			return strings.Contains(simLog.String(), "hook="+sim.DefaultLaunchHook+" CONTINUE by callback"), tail(simLog.String(), 5)
		})
		if st := instanceState(t, cl); st != "INSERVICE" {
			t.Errorf("after CONTINUE the instance is %q, want INSERVICE", st)
		}
	})
	t.Run("metrics on /metrics and in the textfile", func(t *testing.T) {
		checkContainerMetrics(t, ctx, c, "/run/netns/"+ns)
	})
	t.Run("the journal has the agent's logs", func(t *testing.T) {
		out := c.mustRun(t, ctx, "journalctl", "-u", "asagent", "--no-pager", "-o", "cat")
		for _, want := range []string{"asagent starting", "instance identified", `"ready"`} {
			if !strings.Contains(out, want) {
				t.Errorf("journal lacks %q:\n%s", want, tail(out, 30))
			}
		}
		if strings.Contains(out, simSK) {
			t.Error("the journal has the simulator's secret key")
		}
	})
	t.Run("systemd-analyze verify on the packaged unit", func(t *testing.T) {
		out, err := c.run(ctx, "systemd-analyze", "verify", "--man=no", "/usr/lib/systemd/system/asagent.service")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("asagent service status and restart", func(t *testing.T) {
		if out := c.mustRun(t, ctx, "asagent", "service", "status"); !strings.Contains(out, "asagent: running") {
			t.Errorf("asagent service status: %s", out)
		}
		before := strings.TrimSpace(c.mustRun(t, ctx, "systemctl", "show", "-p", "MainPID", "--value", "asagent"))
		c.mustRun(t, ctx, "asagent", "service", "restart")
		after := strings.TrimSpace(c.mustRun(t, ctx, "systemctl", "show", "-p", "MainPID", "--value", "asagent"))
		if after == before || after == "0" {
			t.Errorf("MainPID %s before restart, %s after", before, after)
		}
		if out, _ := c.run(ctx, "systemctl", "is-active", "asagent"); strings.TrimSpace(out) != "active" {
			t.Errorf("after restart: %s", out)
		}
	})
	t.Run("scale-in runs the drain, then CONTINUE", func(t *testing.T) {
		remove := model.GetBatchRemoveInstancesOptionActionEnum().REMOVE
		if _, err := cl.BatchRemoveScalingInstances(&model.BatchRemoveScalingInstancesRequest{ScalingGroupId: sim.DefaultGroupID,
			Body: &model.BatchRemoveInstancesOption{InstancesId: []string{sim.DefaultInstanceID}, Action: remove}}); err != nil {
			t.Fatalf("REMOVE: %v", err)
		}
		eventually(t, time.Minute, `Status: "terminate: ...`, func() (bool, string) {
			out, _ := c.run(ctx, "systemctl", "status", "--no-pager", "asagent")
			return strings.Contains(out, `Status: "terminate: `), out
		})
		if st := instanceState(t, cl); st != "REMOVING_WAIT" {
			t.Fatalf("instance is %q before the drain, want REMOVING_WAIT", st)
		}
		c.mustRun(t, ctx, "touch", "/run/app-drained")
		eventually(t, time.Minute, "the terminate hook's CONTINUE", func() (bool, string) {
			return strings.Contains(simLog.String(), "hook="+sim.DefaultTerminateHook+" CONTINUE by callback"), tail(simLog.String(), 5)
		})
		if st := instanceState(t, cl); st != "" {
			t.Errorf("after the drain the instance is %q, want it gone from the group", st)
		}
	})
	t.Run("dpkg --purge leaves nothing behind", func(t *testing.T) {
		c.mustRun(t, ctx, "dpkg", "--purge", "asagent")
		if out, _ := c.run(ctx, "systemctl", "is-active", "asagent"); strings.TrimSpace(out) == "active" {
			t.Errorf("the agent still runs after purge")
		}
		// Anything named after the agent anywhere but the journal (which
		// policy keeps), the test's own bind mount, and the textfile, which
		// is where agent.yaml said (the package cannot know it) and keeps
		// the last counts.
		out := c.mustRun(t, ctx, "find", "/", "-xdev",
			"(", "-path", "/mnt", "-o", "-path", "/var/log/journal", "-o", "-path", "/proc", "-o", "-path", "/sys",
			"-o", "-path", containerTextfile, ")", "-prune",
			"-o", "-name", "*asagent*", "-print")
		if strings.TrimSpace(out) != "" {
			t.Errorf("left behind after purge:\n%s", out)
		}
		// /run is its own filesystem, which find -xdev skipped.
		if out, err := c.run(ctx, "test", "-e", "/run/asagent"); err == nil {
			t.Errorf("/run/asagent is left behind after purge %s", out)
		}
		if out, err := c.run(ctx, "dpkg", "-s", "asagent"); err == nil {
			t.Errorf("dpkg still knows the package:\n%s", out)
		}
	})
	t.Run("asagent service install on a bare binary", func(t *testing.T) {
		c.mustRun(t, ctx, "cp", "/mnt/asagent/asagent", "/usr/local/bin/asagent")
		out := c.mustRun(t, ctx, "/usr/local/bin/asagent", "service", "install")
		if !strings.Contains(out, "installed (linux-systemd)") {
			t.Errorf("service install: %s", out)
		}
		unit := c.mustRun(t, ctx, "cat", "/etc/systemd/system/asagent.service")
		if !strings.Contains(unit, "\nExecStart=/usr/local/bin/asagent run\n") || !strings.Contains(unit, "\nType=notify\n") {
			t.Errorf("installed unit is not the project's, for /usr/local/bin/asagent:\n%s", unit)
		}
		if out, _ := c.run(ctx, "systemctl", "is-enabled", "asagent"); strings.TrimSpace(out) != "enabled" {
			t.Errorf("is-enabled after install: %s", out)
		}
		if out, err := c.run(ctx, "/usr/local/bin/asagent", "service", "status"); err == nil || !strings.Contains(out, "asagent: stopped") {
			t.Errorf("service status of an installed, stopped service: %v: %s", err, out)
		}
		c.mustRun(t, ctx, "/usr/local/bin/asagent", "service", "uninstall")
		if out, err := c.run(ctx, "test", "-e", "/etc/systemd/system/asagent.service"); err == nil {
			t.Errorf("the unit is still there after uninstall %s", out)
		}
		if out, err := c.run(ctx, "/usr/local/bin/asagent", "service", "status"); err == nil || !strings.Contains(out, "not installed") {
			t.Errorf("service status after uninstall: %v: %s", err, out)
		}
	})
	t.Logf("whole test: %v", time.Since(start).Round(time.Second))
}

// run runs argv on the host and fails the test on error.
func run(t *testing.T, ctx context.Context, argv ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// writeRootFile writes a root-owned file into the container's tree.
func writeRootFile(t *testing.T, root, path, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// debootstrapRoot returns a cached minimal Debian root for suite, building
// it from mirror when the cache has none. Concurrent runs wait for one
// builder (flock), and a half-built root never becomes the cache.
func debootstrapRoot(t *testing.T, ctx context.Context, suite, mirror string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(strings.Join([]string{suite, rootVariant, rootPackages, runtime.GOARCH}, "|")))
	dir := filepath.Join(rootCacheDir, "debootstrap-"+suite+"-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(rootCacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(rootCacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(filepath.Join(dir, "usr", "lib", "systemd", "systemd")); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant="+rootVariant, "--include="+rootPackages, suite, tmp, mirror)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("debootstrap %s from %s: %v\n%s", suite, mirror, err, tail(string(out), 30))
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrapped %s into the cache in %v", suite, time.Since(start).Round(time.Second))
	return dir
}

// newNetns creates a network namespace with only its loopback, up, holding
// 169.254.169.254, and removes it when the test ends.
func newNetns(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns := fmt.Sprintf("asagent-e2e-%d", os.Getpid())
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("network namespaces are not permitted here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	for _, argv := range [][]string{
		{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", ns, "ip", "addr", "add", "169.254.169.254/32", "dev", "lo"},
	} {
		run(t, ctx, argv...)
	}
	out := run(t, ctx, "ip", "netns", "exec", ns, "ip", "-o", "link", "show")
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, " lo:") {
		t.Fatalf("namespace %s has more than its loopback:\n%s", ns, out)
	}
	return ns
}

// startSim runs `asagent sim` inside ns on 169.254.169.254:80, once `ip
// netns identify` has confirmed where it runs, and returns its log.
func startSim(t *testing.T, ctx context.Context, ns, bin string) *lockedBuffer {
	t.Helper()
	script := `test "$(ip netns identify)" = "$1" || { echo "not in namespace $1" >&2; exit 99; }; shift; exec "$@"`
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "sh", "-c", script, "sh", ns,
		bin, "sim", "--listen", "169.254.169.254:80", "--access-key", simAK, "--secret-key", simSK)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // it removes its temporary directory
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("asagent sim: %v", err)
	}
	t.Cleanup(func() {
		// ip netns exec and sh exec: this is the simulator itself. SIGTERM
		// lets it remove the temporary directory it made; SIGKILL after 10 s.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("asagent sim log (last lines):\n%s", tail(log.String(), 40))
		}
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on") {
				listening <- sc.Text()
			}
		}
	}()
	select {
	case line := <-listening:
		t.Logf("asagent sim in %s: %s", ns, line)
	case <-time.After(30 * time.Second):
		t.Fatalf("asagent sim did not start; its log:\n%s", log.String())
	}
	return log
}

// container is a booted systemd-nspawn container.
type container struct {
	init int // the container's PID 1, as the host sees it
}

// bootContainer boots root with systemd-nspawn inside ns (entered with
// nsenter: `ip netns exec` remounts /sys, which nspawn cannot live with),
// with pkgDir read-only at /mnt/asagent, and waits until systemd has
// finished booting. The container is powered off when the test ends.
func bootContainer(t *testing.T, ctx context.Context, nspawn, ns, root, pkgDir string) *container {
	t.Helper()
	name := fmt.Sprintf("asagent-e2e-%d", os.Getpid())
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, nspawn,
		"--directory="+root, "--boot", "--register=no", "--keep-unit", "--machine="+name,
		"--console=read-only", "--bind-ro="+pkgDir+":/mnt/asagent")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	console := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM makes nspawn power the container off cleanly.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("container console (last lines):\n%s", tail(console.String(), 40))
		}
	})
	c := &container{}
	eventually(t, 30*time.Second, "the container's systemd", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("systemd-nspawn exited:\n%s", tail(console.String(), 40))
		default:
		}
		c.init = findInit(cmd.Process.Pid)
		return c.init != 0, tail(console.String(), 5)
	})
	eventually(t, time.Minute, "the container to finish booting", func() (bool, string) {
		out, _ := c.run(ctx, "systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		return state == "running" || state == "degraded", out
	})
	if out, _ := c.run(ctx, "systemctl", "is-system-running"); strings.TrimSpace(out) == "degraded" {
		failed, _ := c.run(ctx, "systemctl", "--failed", "--no-pager")
		t.Logf("container booted degraded (units failing in a container are expected):\n%s", failed)
	}
	return c
}

// findInit returns the container's systemd, or 0 while there is none yet:
// nspawn's child, or its grandchild where nspawn keeps an intermediate
// process (it does with an interactive console).
func findInit(nspawnPID int) int {
	isSystemd := func(pid int) bool {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return err == nil && strings.TrimSpace(string(comm)) == "systemd"
	}
	for _, child := range childrenOf(nspawnPID) {
		if isSystemd(child) {
			return child
		}
		for _, gc := range childrenOf(child) {
			if isSystemd(gc) {
				return gc
			}
		}
	}
	return 0
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// run runs argv inside the container (all of its namespaces, through its
// PID 1) with a clean environment, and returns its combined output.
func (c *container) run(ctx context.Context, argv ...string) (string, error) {
	args := append([]string{"-t", strconv.Itoa(c.init), "-a", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "DEBIAN_FRONTEND=noninteractive"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun is run that fails the test on error.
func (c *container) mustRun(t *testing.T, ctx context.Context, argv ...string) string {
	t.Helper()
	out, err := c.run(ctx, argv...)
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// nsInode is the inode that identifies a namespace file.
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// simClient is an official SDK AS client for the simulator, whose sockets
// are created inside the namespace nsPath: the test process itself stays
// in the host's network, where 169.254.169.254 is not ours, and its
// requests can reach only the simulator.
func simClient(t *testing.T, nsPath string) *as.AsClient {
	t.Helper()
	transport := &http.Transport{
		Proxy:       nil, // never a proxy from the environment
		DialContext: dialInNetns(nsPath),
	}
	cred, err := basic.NewCredentialsBuilder().WithAk(simAK).WithSk(simSK).WithProjectId(sim.DefaultProjectID).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc := hcconfig.DefaultHttpConfig().WithTimeout(10 * time.Second)
	hc.HttpTransport = transport
	client, err := as.AsClientBuilder().WithEndpoints([]string{"http://169.254.169.254"}).
		WithCredential(cred).WithHttpConfig(hc).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return as.NewAsClient(client)
}

// dialInNetns dials from a thread that has entered the namespace at
// nsPath. The thread stays locked and is thrown away when its goroutine
// ends, so no other goroutine ever runs in the namespace, and a failure to
// enter it is an error, never a dial from the host's network.
func dialInNetns(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
			f, err := os.Open(nsPath)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
				return
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			ch <- result{conn, err}
		}()
		r := <-ch
		return r.conn, r.err
	}
}

// instanceState is the instance's life_cycle_state in the simulator's
// group, or "" when it is not in the group.
func instanceState(t *testing.T, c *as.AsClient) string {
	t.Helper()
	resp, err := c.ListScalingInstances(&model.ListScalingInstancesRequest{ScalingGroupId: sim.DefaultGroupID})
	if err != nil {
		t.Fatalf("ListScalingInstances: %v", err)
	}
	if resp.ScalingGroupInstances == nil {
		return ""
	}
	for _, in := range *resp.ScalingGroupInstances {
		if in.InstanceId != nil && *in.InstanceId == sim.DefaultInstanceID && in.LifeCycleState != nil {
			return in.LifeCycleState.Value()
		}
	}
	return ""
}

// In an image being built (dpkg in a chroot, no systemd running there) the
// package enables the service for the image's first boot and starts
// nothing, also where the builder has made /run/systemd/system appear.
func TestImageBuildInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Debian root; skipped with -short")
	}
	needRoot(t, "chroot and debootstrap")
	needTool(t, "debootstrap", "debootstrap")
	needTool(t, "chroot", "coreutils")
	suite := hostCodename()
	if suite == "" {
		t.Skip("needs a Debian host (no VERSION_CODENAME in /etc/os-release)")
	}
	mirror, err := debianMirror("/", suite)
	if err != nil {
		t.Fatalf("the machine's apt sources name no mirror: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	deb := onlyFile(t, buildPackages(t, "deb"), "asagent_[0-9]*_"+runtime.GOARCH+".deb")
	cached := debootstrapRoot(t, ctx, suite, mirror)
	for _, tc := range []struct {
		name       string
		runSystemd bool // the builder made /run/systemd/system appear (a bind-mounted /run)
		proc       bool // the builder mounted /proc, as most do
	}{
		{"plain chroot", false, false},
		{"chroot with /run/systemd/system", true, false},
		{"chroot with /proc and /run/systemd/system", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			run(t, ctx, "cp", "-a", "--reflink=auto", cached, root)
			run(t, ctx, "cp", deb, filepath.Join(root, "tmp", "asagent.deb"))
			if tc.runSystemd {
				if err := os.MkdirAll(filepath.Join(root, "run", "systemd", "system"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.proc {
				proc := filepath.Join(root, "proc")
				run(t, ctx, "mount", "-t", "proc", "proc", proc)
				t.Cleanup(func() {
					if out, err := exec.Command("umount", proc).CombinedOutput(); err != nil {
						t.Errorf("umount %s: %v: %s", proc, err, out)
					}
				})
			}
			cmd := exec.CommandContext(ctx, "chroot", root, "dpkg", "-i", "/tmp/asagent.deb")
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("dpkg -i in the chroot: %v\n%s", err, out)
			}
			link, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/asagent.service"))
			if err != nil || !strings.HasSuffix(link, "/systemd/system/asagent.service") {
				t.Errorf("not enabled for boot: %q, %v\ndpkg said:\n%s", link, err, out)
			}
			exe := filepath.Join(root, "usr", "bin", "asagent")
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
					t.Errorf("the agent runs (pid %s) in an image being built", e.Name())
				}
			}
		})
	}
}
