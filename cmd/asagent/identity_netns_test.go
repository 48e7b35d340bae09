//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// netnsCmd runs argv inside the network namespace ns.
func netnsCmd(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}

// The real binary, with no metadata configuration at all, finds everything
// at the default endpoint 169.254.169.254 -- played by `asagent sim` inside a
// network namespace this test creates, never the host's own address. Only
// cloud.as_endpoint is set, since the real AS endpoint has no DNS there.
func TestIdentityInNetworkNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and creates a network namespace; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (ip netns add); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command to create a network namespace")
	}
	ns := fmt.Sprintf("asagent-identity-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("network namespaces are not permitted here (ip netns add: %v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, argv := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", "169.254.169.254/32", "dev", "lo"},
	} {
		if out, err := netnsCmd(ctx, ns, argv...).CombinedOutput(); err != nil {
			t.Fatalf("%v in %s: %v: %s", argv, ns, err, out)
		}
	}
	// Inside the namespace there must be nothing but its loopback, so that
	// nothing can reach the host's 169.254.169.254.
	out, err := netnsCmd(ctx, ns, "ip", "-o", "link", "show").CombinedOutput()
	if err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), " lo:") {
		t.Fatalf("namespace %s has more than its loopback (%v):\n%s", ns, err, out)
	}

	bin := buildBinary(t)
	const ak, sk = "NETNSTESTACCESSKEY01", "netns-test-secret-key-0123456789"
	simCmd := netnsCmd(ctx, ns, bin, "sim", "--listen", "169.254.169.254:80", "--access-key", ak, "--secret-key", sk)
	// The end of ctx stops it with SIGTERM, so that it removes the
	// temporary directory it made; SIGKILL only if it hangs.
	simCmd.Cancel = func() error { return simCmd.Process.Signal(syscall.SIGTERM) }
	simCmd.WaitDelay = 10 * time.Second
	simOut, err := simCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var simErr bytes.Buffer
	simCmd.Stderr = &simErr
	if err := simCmd.Start(); err != nil {
		t.Fatalf("starting asagent sim in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		// ip netns exec execs the binary: this is the simulator itself. A
		// SIGTERM lets it remove the temporary directory it made.
		stopGently(simCmd, 10*time.Second)
		t.Logf("asagent sim stderr:\n%s", simErr.String())
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(simOut)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on") {
				listening <- sc.Text()
			}
		}
	}()
	select {
	case line := <-listening:
		t.Logf("asagent sim: %s", line)
	case <-time.After(30 * time.Second):
		t.Fatalf("asagent sim did not start listening; stderr:\n%s", simErr.String())
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	// proxy: none keeps AS calls off the environment's proxy, so that the
	// case with a dead proxy in the environment tests the metadata
	// client alone, which must never use one.
	cfg := fmt.Sprintf("cloud:\n  as_endpoint: http://169.254.169.254\n  proxy: none\nstate_dir: %s\n", filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		env   []string
		creds string
	}{
		{"agency credentials", nil, "metadata securitykey, temporary"},
		{"static credentials", []string{"HUAWEICLOUD_SDK_AK=" + ak, "HUAWEICLOUD_SDK_SK=" + sk}, "(environment)"},
		// A proxy in the environment where nothing listens: a metadata
		// request sent through it would fail.
		{"proxy in the environment", []string{"HTTP_PROXY=http://127.0.0.1:1", "http_proxy=http://127.0.0.1:1"}, "metadata securitykey, temporary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The check and the command run in one shell in the namespace:
			// identity is started only after `ip netns identify` confirms that
			// this process is in the namespace the test created.
			script := `test "$(ip netns identify)" = "$1" || { echo "not in namespace $1" >&2; exit 99; }; shift; exec "$@"`
			cmd := netnsCmd(ctx, ns, "sh", "-c", script, "sh", ns, bin, "identity", "--config", cfgPath, "--timeout", "30s")
			cmd.Env = append(cleanEnv(), tc.env...)
			out, err := cmd.CombinedOutput()
			t.Logf("asagent identity:\n%s", out)
			if err != nil {
				t.Fatalf("asagent identity: %v", err)
			}
			for _, want := range []string{
				"metadata service:   http://169.254.169.254",
				sim.DefaultInstanceID + " (metadata service)",
				sim.DefaultProjectID + " (metadata service)",
				sim.DefaultRegion + " (metadata service)",
				tc.creds,
				"http://169.254.169.254 (config)",
				sim.DefaultGroupID,
				"API list hooks:", "API list hanging:",
				"usable",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if strings.Contains(string(out), sk) {
				t.Error("the secret key was printed")
			}
		})
	}
}

// cleanEnv is the test's environment without the SDK's credential and
// region variables, proxy variables or the agent's config path, so the
// host's settings cannot change what the binary sees.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HUAWEICLOUD_") || strings.HasPrefix(kv, "ASAGENT_") ||
			strings.HasPrefix(strings.ToUpper(kv), "HTTP_PROXY=") || strings.HasPrefix(strings.ToUpper(kv), "HTTPS_PROXY=") ||
			strings.HasPrefix(strings.ToUpper(kv), "NO_PROXY=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
