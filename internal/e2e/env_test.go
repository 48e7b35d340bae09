package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// rootCacheDir holds what the tests fetch or build once per machine (the
// Debian root, cloud-init's unpacked package). It is outside the repository,
// so that CI's fresh clones share it (debootstrap takes a minute or more).
const rootCacheDir = "/var/cache/asagent-test"

// inCI reports whether the test runs under .ci/run, which installs every
// tool these tests need: there a missing tool is a failure, not a skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// needTool returns the path of a program the test needs. Where it is
// missing the test skips with what to install, or fails under CI.
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if inCI() {
		t.Fatalf("%s is not installed; .ci/run must install Debian's %s", name, debianPackage)
	}
	t.Skipf("needs %s (apt-get install %s)", name, debianPackage)
	return ""
}

// repoRoot is the repository's top directory (the test runs in its package
// directory, two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "packaging", "nfpm.yaml")); err != nil {
		t.Fatalf("repository root not found from the test directory: %v", err)
	}
	return root
}

// buildPackages runs `make package` for this machine's architecture and
// the given formats into a temporary directory, exactly as a release does,
// and returns the directory.
func buildPackages(t *testing.T, formats ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds packages; skipped with -short")
	}
	makePath := needTool(t, "make", "make")
	dist := t.TempDir()
	cmd := exec.Command(makePath, "-C", repoRoot(t), "package",
		"DIST="+dist, "PKG_ARCHS="+runtime.GOARCH, "PKG_FORMATS="+strings.Join(formats, " "))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	return dist
}

// onlyFile returns the one file in dir matching pattern.
func onlyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("want one %s in %s, found %q (%v)", pattern, dir, m, err)
	}
	return m[0]
}
