//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The examples run as the agent runs them: `asagent checks --once` of the
// real binary, on a configuration whose drop-in directories hold the
// example installed as its header says. Commands the examples need that
// cannot run here (systemctl without a systemd, kubectl without a cluster,
// docker without a daemon) are stubs: shell scripts over /usr/local/sbin,
// the first directory of the PATH the agent gives scripts, in a mount
// namespace of the test's own with a private /run for the stubs' state and
// the examples' pid files. Nothing changes outside it.

// stubs are the stand-ins, by name. They log their command lines to
// /run/stub/log and keep their state in /run/stub.
var stubs = map[string]string{
	"systemctl": `#!/bin/sh
# systemctl: unit states in /run/stub/units/UNIT (none: inactive).
echo "systemctl $*" >> /run/stub/log
case "$1" in
is-active)
	shift
	[ "$1" = --quiet ] && { quiet=1; shift; }
	state=$(cat "/run/stub/units/$1" 2>/dev/null || echo inactive)
	[ -n "$quiet" ] || echo "$state"
	[ "$state" = active ]
	;;
stop)
	shift
	[ "$1" = --no-block ] && shift
	echo deactivating > "/run/stub/units/$1"
	;;
*) exit 1 ;;
esac
`,
	"kubectl": `#!/bin/sh
# kubectl: the cluster knows the node in /run/stub/node; drain exits with
# /run/stub/drain-rc (0 when absent).
echo "kubectl KUBECONFIG=$KUBECONFIG $*" >> /run/stub/log
case "$1" in
get) [ -e /run/stub/node ] && echo "node/$(cat /run/stub/node)"; exit 0 ;;
drain) exit "$(cat /run/stub/drain-rc 2>/dev/null || echo 0)" ;;
esac
exit 1
`,
	"docker": `#!/bin/sh
# docker: running containers' IDs in /run/stub/containers, one a line.
echo "docker $*" >> /run/stub/log
case "$1" in
ps) cat /run/stub/containers 2>/dev/null ;;
stop)
	shift 3 # stop --time N
	for id; do sed -i "/^$id\$/d" /run/stub/containers; done
	;;
*) exit 1 ;;
esac
`,
}

// exampleAttempt is one `asagent checks --once` run: shell run in the
// namespace before it, its exit code and what its output must contain.
type exampleAttempt struct {
	before string
	code   int
	want   []string
}

// exampleCase installs one example and runs attempts of its phase.
type exampleCase struct {
	name     string
	example  string // under examples/
	setup    string // shell, in the namespace, before the first attempt
	attempts []exampleAttempt
}

// fakeNginx starts a stand-in for nginx's master: its pid in
// /run/nginx.pid; SIGQUIT makes it finish "the requests in flight", which
// takes until /run/stub/done exists.
const fakeNginx = `env --default-signal=QUIT sh -c 'echo $$ > /run/nginx.pid
trap "while [ ! -e /run/stub/done ]; do sleep 0.05; done; exit 0" QUIT
while :; do sleep 0.05; done' &
nginx=$!
while [ ! -s /run/nginx.pid ]; do sleep 0.01; done
`

// cloudInitResult writes cloud-init's result.json with the errors.
func cloudInitResult(errs string) string {
	return `mkdir -p /run/cloud-init && echo '{"v1": {"datasource": "DataSourceHuaweiCloud", "errors": [` + errs + `]}}' > /run/cloud-init/result.json`
}

func exampleCases(host string) []exampleCase {
	return []exampleCase{
		{name: "unit active", example: "launch.d/systemd-unit-active",
			attempts: []exampleAttempt{
				{before: "echo activating > /run/stub/units/myapp.service", code: 1, want: []string{"myapp.service is activating", "no answer yet"}},
				{before: "echo active > /run/stub/units/myapp.service", code: 0, want: []string{"active: myapp.service", "-> CONTINUE"}},
			}},
		{name: "unit failed", example: "launch.d/systemd-unit-active",
			attempts: []exampleAttempt{
				{before: "echo failed > /run/stub/units/myapp.service", code: 1, want: []string{"myapp.service has failed", "on_failure ABANDON"}},
			}},
		{name: "http health", example: "conf.d/http-health.yaml",
			attempts: []exampleAttempt{
				{code: 1, want: []string{"web-health", "503", "no answer yet"}},
				{code: 0, want: []string{"web-health  http  passed", "-> CONTINUE"}},
			}},
		{name: "cloud-init", example: "conf.d/cloud-init.yaml",
			attempts: []exampleAttempt{
				{before: `mkdir -p /run/cloud-init && echo '{"v1": {"stage": "modules-final"}}' > /run/cloud-init/status.json`,
					code: 1, want: []string{"cloud-init is running (stage modules-final)", "no answer yet"}},
				{before: cloudInitResult(""), code: 0, want: []string{"cloud-init done (DataSourceHuaweiCloud)", "-> CONTINUE"}},
				{before: cloudInitResult(`"runcmd failed"`), code: 1, want: []string{"finished with 1 error(s): runcmd failed", "on_failure ABANDON"}},
			}},
		{name: "warm cache", example: "launch.d/warm-cache",
			attempts: []exampleAttempt{
				{code: 1, want: []string{"not answering yet: http://", "/api/catalog", "no answer yet"}},
				{code: 0, want: []string{"-> CONTINUE"}},
			}},
		{name: "nginx drain", example: "terminate.d/nginx-drain", setup: fakeNginx,
			attempts: []exampleAttempt{
				{code: 1, want: []string{"is finishing the requests in flight", "no answer yet"}},
				{before: "touch /run/stub/done; wait $nginx", code: 0, want: []string{"nginx is not running", "-> CONTINUE"}},
			}},
		{name: "systemd stop", example: "terminate.d/systemd-stop", setup: "echo active > /run/stub/units/myapp.service",
			attempts: []exampleAttempt{
				{code: 1, want: []string{"stopping myapp.service (it was active)", "no answer yet"}},
				{code: 1, want: []string{"myapp.service is stopping"}},
				{before: "echo inactive > /run/stub/units/myapp.service", code: 0, want: []string{"myapp.service is inactive", "-> CONTINUE"}},
				{before: "grep -c 'systemctl stop --no-block myapp.service' /run/stub/log", code: 0, want: []string{"1\n", "-> CONTINUE"}},
			}},
		{name: "kubectl drain", example: "terminate.d/kubectl-drain", setup: "echo " + host + " > /run/stub/node; echo 1 > /run/stub/drain-rc",
			attempts: []exampleAttempt{
				{code: 1, want: []string{"no answer yet"}},
				{before: "rm /run/stub/drain-rc", code: 0, want: []string{"-> CONTINUE"}},
				{before: "grep -c 'KUBECONFIG=/etc/asagent/kubeconfig drain " + host + " --ignore-daemonsets --delete-emptydir-data --timeout=120s' /run/stub/log",
					code: 0, want: []string{"2\n"}},
			}},
		{name: "kubectl drain, node gone", example: "terminate.d/kubectl-drain",
			attempts: []exampleAttempt{
				{code: 0, want: []string{"node " + host + " is not in the cluster", "-> CONTINUE"}},
			}},
		{name: "containers stop", example: "terminate.d/containers-stop", setup: "printf 'c1\\nc2\\n' > /run/stub/containers",
			attempts: []exampleAttempt{
				{code: 0, want: []string{"stopping c1 c2", "all stopped", "-> CONTINUE"}},
				{before: "grep 'docker stop --time 30 c1 c2' /run/stub/log", code: 0, want: []string{"no containers running", "docker stop --time 30 c1 c2"}},
			}},
	}
}

// Every example does what its header says, with the binary as built.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	needTool(t, "unshare", "util-linux")
	needTool(t, "curl", "curl")
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("needs a mount namespace (unshare --mount: %v %s): run as root", err, out)
	}
	bin := buildAgent(t)
	stubDir := t.TempDir()
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(stubDir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cases := exampleCases(host)
	checkCovered(t, cases)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := installExample(t, tc.example, exampleServer(t))
			phase := "launch"
			if strings.HasPrefix(tc.example, "terminate.d/") {
				phase = "terminate"
			}
			out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
				exampleDriver(bin, stubDir, filepath.Join(dir, "agent.yaml"), phase, tc)).CombinedOutput()
			if err != nil {
				t.Fatalf("driver: %v\n%s", err, out)
			}
			checkAttempts(t, string(out), tc.attempts)
		})
	}
}

// exampleDriver is the shell that runs a case in the namespace.
func exampleDriver(bin, stubDir, cfg, phase string, tc exampleCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mount --bind %s /usr/local/sbin && mount -t tmpfs tmpfs /run && mkdir -p /run/stub/units || exit 1\n", stubDir)
	b.WriteString(tc.setup + "\n")
	for _, a := range tc.attempts {
		fmt.Fprintf(&b, "echo '=== attempt'\n%s\n", a.before)
		fmt.Fprintf(&b, "%s checks --phase %s --once --yes --config %s 2>&1\necho \"=== exit $?\"\n", bin, phase, cfg)
	}
	return b.String()
}

// checkAttempts compares the driver's output, attempt by attempt.
func checkAttempts(t *testing.T, out string, attempts []exampleAttempt) {
	t.Helper()
	parts := strings.Split(out, "=== attempt\n")[1:]
	if len(parts) != len(attempts) {
		t.Fatalf("%d attempts ran, want %d:\n%s", len(parts), len(attempts), out)
	}
	exitLine := regexp.MustCompile(`=== exit (\d+)\n`)
	for i, a := range attempts {
		m := exitLine.FindStringSubmatch(parts[i])
		if m == nil {
			t.Fatalf("attempt %d has no exit code:\n%s", i+1, parts[i])
		}
		if code, _ := strconv.Atoi(m[1]); code != a.code {
			t.Errorf("attempt %d: exit %d, want %d:\n%s", i+1, code, a.code, parts[i])
		}
		for _, w := range a.want {
			if !strings.Contains(parts[i], w) {
				t.Errorf("attempt %d lacks %q:\n%s", i+1, w, parts[i])
			}
		}
	}
}

// exampleServer serves the HTTP examples: /healthz and /api/catalog answer
// 503 the first time, then 200 "ok"; / always 200.
func exampleServer(t *testing.T) string {
	var health, catalog atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n *atomic.Int32
		switch r.URL.Path {
		case "/healthz":
			n = &health
		case "/api/catalog":
			n = &catalog
		}
		if n != nil && n.Add(1) == 1 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// installExample makes an agent configuration with its own drop-in
// directories and installs the example there as its header says (a drop-in
// script with an order prefix, mode 0755; a conf.d file, 0644). The HTTP
// examples' 127.0.0.1:8080 becomes addr, as a user edits the URL.
func installExample(t *testing.T, example, addr string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"launch.d", "terminate.d", "conf.d"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), "127.0.0.1:8080", addr))
	sub, name := filepath.Split(example)
	mode := os.FileMode(0o644)
	if sub != "conf.d/" {
		name, mode = "50-"+name, 0o755
	}
	path := filepath.Join(dir, sub, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("launch:\n  scripts_dir: %[1]s/launch.d\nterminate:\n  scripts_dir: %[1]s/terminate.d\n"+
		"include_dir: %[1]s/conf.d\nstate_dir: %[1]s/state\ncontrol_socket: %[1]s/agent.sock\n", dir)
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkCovered fails for an example no case runs, and for one whose header
// does not say what it expects.
func checkCovered(t *testing.T, cases []exampleCase) {
	t.Helper()
	var run []string
	for _, c := range cases {
		run = append(run, c.example)
	}
	for _, sub := range []string{"launch.d", "terminate.d", "conf.d"} {
		entries, err := os.ReadDir(filepath.Join(repoRoot(t), "examples", sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			rel := sub + "/" + e.Name()
			if !slices.Contains(run, rel) {
				t.Errorf("examples/%s: no test runs it", rel)
			}
			data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", rel))
			if err != nil || !strings.Contains(string(data), "\n# Expects: ") || !strings.Contains(string(data), "\n# Install: ") {
				t.Errorf("examples/%s: the header must say what it expects (# Expects:) and how to install it (# Install:)", rel)
			}
		}
	}
}

// buildAgent builds the asagent binary into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "asagent")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/asagent")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
