package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/asagent/asagent/systemd"
)

// packagedFiles are the paths both packages must carry, with their modes.
func packagedFiles() map[string]string {
	return map[string]string{
		"/usr/bin/asagent":                          "-rwxr-xr-x",
		"/usr/lib/systemd/system/asagent.service":   "-rw-r--r--",
		"/etc/asagent/agent.yaml":                   "-rw-r--r--",
		"/etc/asagent/launch.d":                     "drwxr-xr-x",
		"/etc/asagent/terminate.d":                  "drwxr-xr-x",
		"/etc/asagent/conf.d":                       "drwxr-xr-x",
		"/usr/share/doc/asagent/agent.yaml.example": "-rw-r--r--",
	}
}

// The .deb and .rpm that `make package` builds carry the binary, the
// project's unit, agent.yaml as a configuration file that upgrades keep,
// empty drop-in directories, and the maintainer scripts from packaging/.
func TestPackageContents(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	rpmPath := needTool(t, "rpm", "rpm")
	dist := buildPackages(t, "deb", "rpm")
	root := repoRoot(t)
	script := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "packaging", "scripts", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}

	t.Run("deb", func(t *testing.T) {
		deb := onlyFile(t, dist, "asagent_*_"+runtime.GOARCH+".deb")
		listing := runOut(t, "dpkg-deb", "-c", deb)
		checkListing(t, listing, func(line string) (mode, path string, ok bool) {
			f := strings.Fields(line)
			if len(f) < 6 {
				return "", "", false
			}
			return f[0], strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/"), true
		})
		ctl := t.TempDir()
		runOut(t, "dpkg-deb", "-e", deb, ctl)
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(ctl, name))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		if got := read("conffiles"); got != "/etc/asagent/agent.yaml" {
			t.Errorf("conffiles = %q, want only /etc/asagent/agent.yaml", got)
		}
		for deb, ours := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
			if read(deb) != script(ours) {
				t.Errorf("%s is not packaging/scripts/%s", deb, ours)
			}
		}
		if arch := strings.TrimSpace(runOut(t, "dpkg-deb", "-f", deb, "Architecture")); arch != runtime.GOARCH {
			t.Errorf("Architecture: %s, want %s", arch, runtime.GOARCH)
		}
		unit := runOut(t, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/lib/systemd/system/asagent.service`, "sh", deb)
		if unit != systemd.Unit() {
			t.Error("the packaged unit is not systemd/asagent.service")
		}
	})

	t.Run("rpm", func(t *testing.T) {
		rpm := onlyFile(t, dist, "asagent-*.rpm")
		listing := runOut(t, rpmPath, "-qplv", rpm)
		checkListing(t, listing, func(line string) (mode, path string, ok bool) {
			f := strings.Fields(line)
			if len(f) < 9 {
				return "", "", false
			}
			return f[0], f[len(f)-1], true
		})
		// c: %config, n: noreplace (an upgrade keeps the edited file).
		flags := runOut(t, rpmPath, "-qp", "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags}\n]`, rpm)
		if !strings.Contains(flags, "/etc/asagent/agent.yaml cn\n") {
			t.Errorf("agent.yaml is not %%config(noreplace):\n%s", flags)
		}
		scripts := runOut(t, rpmPath, "-qp", "--scripts", rpm)
		for _, ours := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
			body := strings.SplitN(script(ours), "\n", 2)[1] // without the #! line
			if !strings.Contains(scripts, body) {
				t.Errorf("the rpm's scripts lack packaging/scripts/%s", ours)
			}
		}
	})
}

// checkListing asserts that every packaged file is in the listing with its
// mode, and that the drop-in directories hold nothing.
func checkListing(t *testing.T, listing string, parse func(string) (mode, path string, ok bool)) {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(listing, "\n") {
		if mode, path, ok := parse(line); ok {
			got[path] = mode
		}
	}
	for path, mode := range packagedFiles() {
		if got[path] != mode {
			t.Errorf("%s: mode %q, want %q", path, got[path], mode)
		}
	}
	for path := range got {
		for _, dir := range []string{"/etc/asagent/launch.d/", "/etc/asagent/terminate.d/", "/etc/asagent/conf.d/"} {
			if strings.HasPrefix(path, dir) {
				t.Errorf("%s is packaged: the drop-in directories must ship empty", path)
			}
		}
	}
}

// runOut runs a host command and returns its standard output.
func runOut(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, msg)
	}
	return string(out)
}
