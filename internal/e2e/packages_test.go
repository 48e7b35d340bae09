package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
		deb := onlyFile(t, dist, "asagent_[0-9]*_"+runtime.GOARCH+".deb")
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
		rpm := onlyFile(t, dist, "asagent-[0-9]*.rpm")
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

// `make package` writes each package a second time under the stable name
// the cloud-init example downloads, and SHA256SUMS for all of them; the
// example's download step installs the package only when its checksum is
// the listed one. The step runs here as written, from a file:// URL, with
// its working directory in a temporary one and the install only echoed.
func TestPackagesStableNamesAndChecksums(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	needTool(t, "curl", "curl")
	dist := buildPackages(t, "deb")
	latest := filepath.Join(dist, strings.TrimSpace(runOut(t, filepath.Join(repoRoot(t), "packaging", "latest-name.sh"), "deb", runtime.GOARCH)))
	versioned := onlyFile(t, dist, "asagent_[0-9]*_"+runtime.GOARCH+".deb")
	a, errA := os.ReadFile(latest)
	b, errB := os.ReadFile(versioned)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("%s is not a copy of %s: %v %v", latest, versioned, errA, errB)
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), filepath.Base(latest)+": OK") {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}

	step := cloudInitInstallStep(t)
	run := func(t *testing.T) (string, error) {
		work := t.TempDir()
		script := strings.NewReplacer("PACKAGE_URL", "file://"+dist, "/run/asagent-install", work,
			"DEBIAN_FRONTEND=noninteractive apt-get install", "echo installing").Replace(step)
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		return string(out), err
	}
	t.Run("as built", func(t *testing.T) {
		if out, err := run(t); err != nil || !strings.Contains(out, "installing") {
			t.Errorf("the download step failed on the packages as built: %v\n%s", err, out)
		}
	})
	t.Run("a changed package", func(t *testing.T) {
		if err := os.WriteFile(latest, append(a, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t); err == nil || strings.Contains(out, "installing") {
			t.Errorf("the download step installs a package whose checksum is wrong: %v\n%s", err, out)
		}
	})
}

// cloudInitInstallStep is the example's runcmd entry that downloads and
// installs the package.
func cloudInitInstallStep(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "cloud-init", "user-data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ud struct {
		Runcmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(text, &ud); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range ud.Runcmd {
		if len(cmd) == 3 && cmd[0] == "sh" && strings.Contains(cmd[2], "apt-get install") {
			return cmd[2]
		}
	}
	t.Fatal("the cloud-init example has no sh -c step that installs the package")
	return ""
}
