package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/config"
)

// exitConfig is cmd/asagent's exit code for an invalid configuration
// (EX_CONFIG); the unit must not restart on it.
const exitConfig = "78"

// beatEvery is the longest time between two WATCHDOG=1 of a responsive
// agent (internal/agent's heartbeat bound).
const beatEvery = 30 * time.Second

// directives parses a unit file into section -> key -> values, in order.
func directives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d: %q is not KEY=VALUE in a section", n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// The unit keeps the promises the README and the issue make: a notify
// service that restarts except on a config error, owns its state and
// runtime directories, starts after the network but not after cloud-init,
// and has a watchdog the agent's heartbeat can satisfy.
func TestUnitDirectives(t *testing.T) {
	d := directives(t, Unit())
	one := func(section, key string) string {
		t.Helper()
		v := d[section][key]
		if len(v) != 1 {
			t.Fatalf("[%s] %s= appears %d times, want once", section, key, len(v))
		}
		return v[0]
	}
	duration := func(section, key string) time.Duration {
		t.Helper()
		v := one(section, key)
		v = strings.NewReplacer("min", "m", "sec", "s").Replace(v)
		dur, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("[%s] %s=%s: %v", section, key, one(section, key), err)
		}
		return dur
	}
	cases := []struct {
		section, key, want string
	}{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", PackagedExec + " run"},
		{"Service", "Restart", "always"},
		{"Service", "RestartPreventExitStatus", exitConfig},
		{"Service", "StateDirectory", "asagent"},
		{"Service", "RuntimeDirectory", "asagent"},
		{"Service", "KillMode", "mixed"},
		{"Unit", "After", "network-online.target"},
		{"Unit", "Wants", "network-online.target"},
		{"Unit", "StartLimitIntervalSec", "0"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, tc := range cases {
		t.Run(tc.section+"/"+tc.key, func(t *testing.T) {
			if got := one(tc.section, tc.key); got != tc.want {
				t.Errorf("[%s] %s=%s, want %s", tc.section, tc.key, got, tc.want)
			}
		})
	}
	t.Run("not ordered after cloud-init", func(t *testing.T) {
		// The agent must run (and EXTEND) while cloud-init still runs.
		for _, key := range []string{"After", "Requires", "Wants", "BindsTo", "Requisite"} {
			for _, v := range d["Unit"][key] {
				if strings.Contains(v, "cloud") {
					t.Errorf("[Unit] %s=%s waits for cloud-init", key, v)
				}
			}
		}
	})
	t.Run("watchdog fits the heartbeat", func(t *testing.T) {
		// Two missed beats in a row must not be enough to kill a healthy agent.
		if w := duration("Service", "WatchdogSec"); w < 2*beatEvery {
			t.Errorf("WatchdogSec=%v, want at least %v", w, 2*beatEvery)
		}
	})
	t.Run("stop fits a final answer", func(t *testing.T) {
		// cloud.request_timeout is at most 120 s, the checks' kill grace 3 s.
		if s := duration("Service", "TimeoutStopSec"); s < 123*time.Second {
			t.Errorf("TimeoutStopSec=%v, want at least 123s", s)
		}
	})
	t.Run("no mount namespace", func(t *testing.T) {
		// Each of these gives the service a private mount namespace, where
		// a drain script's umount would not reach the host.
		for _, key := range []string{
			"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
			"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
			"ProtectControlGroups", "ProtectClock", "ProtectProc", "ProcSubset",
			"ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths", "BindPaths",
			"BindReadOnlyPaths", "TemporaryFileSystem", "RootDirectory", "NoNewPrivileges",
		} {
			if v, ok := d["Service"][key]; ok {
				t.Errorf("[Service] %s=%v would break drop-in scripts", key, v)
			}
		}
	})
}

// The paths the unit creates are the ones the agent uses by default, so a
// default install keeps its state where systemd manages it.
func TestUnitDirectoriesMatchConfigDefaults(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the unit is for Linux; other systems have other defaults")
	}
	d := directives(t, Unit())
	cfg := config.Default()
	if want := "/var/lib/" + d["Service"]["StateDirectory"][0]; cfg.StateDir != want {
		t.Errorf("state_dir default %s, unit's StateDirectory is %s", cfg.StateDir, want)
	}
	if want := "/run/" + d["Service"]["RuntimeDirectory"][0] + "/"; !strings.HasPrefix(cfg.ControlSocket, want) {
		t.Errorf("control_socket default %s is not under the unit's RuntimeDirectory %s", cfg.ControlSocket, want)
	}
}

// UnitFor changes the ExecStart= line only, and quotes what systemd would
// otherwise split or expand.
func TestUnitFor(t *testing.T) {
	cases := []struct {
		name     string
		exe      string
		args     []string
		wantExec string
		wantErr  string
	}{
		{"packaged", PackagedExec, []string{"run"}, "ExecStart=/usr/bin/asagent run", ""},
		{"other path with config", "/usr/local/bin/asagent", []string{"run", "--config", "/etc/asagent/other.yaml"}, "ExecStart=/usr/local/bin/asagent run --config /etc/asagent/other.yaml", ""},
		{"space", "/opt/my agent/asagent", []string{"run"}, `ExecStart="/opt/my agent/asagent" run`, ""},
		{"specifier and variable", "/opt/a%n$HOME/asagent", []string{"run"}, `ExecStart=/opt/a%%n$$HOME/asagent run`, ""},
		{"quote and backslash", `/opt/a"b\c/asagent`, []string{"run"}, `ExecStart="/opt/a\"b\\c/asagent" run`, ""},
		{"empty argument", "/usr/bin/asagent", []string{"run", "--config", ""}, `ExecStart=/usr/bin/asagent run --config ""`, ""},
		{"relative", "asagent", []string{"run"}, "", "absolute path"},
		{"newline", "/usr/bin/asagent", []string{"run\nExecStartPre=/bin/evil"}, "", "control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnitFor(tc.exe, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var execs []string
			for _, l := range strings.Split(got, "\n") {
				if strings.HasPrefix(l, "ExecStart") {
					execs = append(execs, l)
				}
			}
			if len(execs) != 1 || execs[0] != tc.wantExec {
				t.Errorf("ExecStart lines = %q, want [%q]", execs, tc.wantExec)
			}
			if rest := strings.Replace(got, tc.wantExec, "ExecStart=/usr/bin/asagent run", 1); rest != Unit() {
				t.Error("UnitFor changed more than the ExecStart= line")
			}
		})
	}
}

// systemd itself accepts the unit: `systemd-analyze verify` on the unit as
// `asagent service install` writes it, for an executable at a plain path
// and at one that needs quoting. (The packaged unit, with /usr/bin/asagent,
// is verified the same way by the end-to-end test inside a container.)
func TestSystemdAnalyzeVerify(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd is Linux's")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing; .ci/run must install systemd")
		}
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir string }{
		{"plain path", "bin"},
		{"path with a space and a percent", "my agent 100%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, tc.dir, "asagent")
			if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(self, exe); err != nil {
				t.Fatal(err)
			}
			text, err := UnitFor(exe, "run")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, UnitName)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				// verify prints warnings (unknown keys, bad values) and still
				// exits 0 for some of them: any output is a failure.
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}
