package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kardianos/service"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/systemd"
)

// On systemd the service is the project's own unit with only ExecStart=
// changed; on Windows it starts at boot and restarts on failure. Both run
// `asagent run`, with --config only when one was given.
func TestServiceConfig(t *testing.T) {
	absCfg, err := filepath.Abs("other.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, goos, exe, cfg string
		wantArgs             []string
		wantUnitExec         string // linux only
		wantOpts             map[string]any
		wantErr              string
	}{
		{name: "linux, packaged path", goos: "linux", exe: "/usr/bin/asagent", wantArgs: []string{"run"}, wantUnitExec: "ExecStart=/usr/bin/asagent run"},
		{name: "linux, bare binary with a config", goos: "linux", exe: "/usr/local/bin/asagent", cfg: "other.yaml",
			wantArgs: []string{"run", "--config", absCfg}, wantUnitExec: "ExecStart=/usr/local/bin/asagent run --config " + absCfg},
		{name: "linux, template-like path", goos: "linux", exe: "/opt/{{Path}}/asagent", wantErr: "{{"},
		{name: "linux, relative path", goos: "linux", exe: "asagent", wantErr: "absolute"},
		{name: "windows", goos: "windows", exe: `C:\Program Files\asagent\asagent.exe`, wantArgs: []string{"run"},
			wantOpts: map[string]any{"StartType": "automatic", "DelayedAutoStart": false, "OnFailure": "restart", "OnFailureDelayDuration": "5s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := serviceConfig(tc.goos, tc.exe, tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != "asagent" || c.Executable != tc.exe {
				t.Errorf("name %q, executable %q", c.Name, c.Executable)
			}
			if fmt.Sprint(c.Arguments) != fmt.Sprint(tc.wantArgs) {
				t.Errorf("arguments = %q, want %q", c.Arguments, tc.wantArgs)
			}
			for k, v := range tc.wantOpts {
				if c.Option[k] != v {
					t.Errorf("option %s = %v, want %v", k, c.Option[k], v)
				}
			}
			unit, _ := c.Option["SystemdScript"].(string)
			if tc.goos != "linux" {
				if unit != "" {
					t.Error("a systemd unit for Windows")
				}
				return
			}
			if !strings.Contains(unit, "\n"+tc.wantUnitExec+"\n") {
				t.Errorf("unit lacks %q", tc.wantUnitExec)
			}
			if want := strings.Replace(unit, tc.wantUnitExec, "ExecStart=/usr/bin/asagent run", 1); want != systemd.Unit() {
				t.Error("the installed unit differs from the packaged one beyond ExecStart=")
			}
		})
	}
}

// recordingController records which service operations ran.
type recordingController struct {
	platform string
	status   service.Status
	err      error
	calls    []string
}

func (r *recordingController) op(name string) error { r.calls = append(r.calls, name); return r.err }
func (r *recordingController) Install() error       { return r.op("install") }
func (r *recordingController) Uninstall() error     { return r.op("uninstall") }
func (r *recordingController) Start() error         { return r.op("start") }
func (r *recordingController) Stop() error          { return r.op("stop") }
func (r *recordingController) Restart() error       { return r.op("restart") }
func (r *recordingController) Platform() string     { return r.platform }
func (r *recordingController) Status() (service.Status, error) {
	r.calls = append(r.calls, "status")
	return r.status, r.err
}

// Each action does exactly its operation; a unit owned by the package is
// never shadowed or removed by `asagent service`; status exits 0 only when
// the service runs, so scripts can rely on it.
func TestServiceControl(t *testing.T) {
	const pkgUnit = "/usr/lib/systemd/system/asagent.service"
	cases := []struct {
		name       string
		platform   string
		action     string
		packaged   string
		status     service.Status
		err        error
		wantCalls  string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "install", platform: "linux-systemd", action: "install", wantCalls: "install", wantCode: exitOK, wantStdout: "asagent service installed (linux-systemd)"},
		{name: "install over the package's unit", platform: "linux-systemd", action: "install", packaged: pkgUnit, wantCode: exitFailed, wantStderr: "belongs to the asagent package"},
		{name: "uninstall the package's unit", platform: "linux-systemd", action: "uninstall", packaged: pkgUnit, wantCode: exitFailed, wantStderr: "remove the package instead"},
		{name: "start the package's unit", platform: "linux-systemd", action: "start", packaged: pkgUnit, wantCalls: "start", wantCode: exitOK, wantStdout: "started"},
		{name: "install on windows", platform: "windows-service", action: "install", packaged: pkgUnit, wantCalls: "install", wantCode: exitOK, wantStdout: "installed (windows-service)"},
		{name: "uninstall", platform: "linux-systemd", action: "uninstall", wantCalls: "uninstall", wantCode: exitOK, wantStdout: "uninstalled"},
		{name: "stop", platform: "linux-systemd", action: "stop", wantCalls: "stop", wantCode: exitOK, wantStdout: "stopped"},
		{name: "restart", platform: "linux-systemd", action: "restart", wantCalls: "restart", wantCode: exitOK, wantStdout: "restarted"},
		{name: "start fails", platform: "linux-systemd", action: "start", err: errors.New("exit status 1"), wantCalls: "start", wantCode: exitFailed, wantStderr: "asagent service start: exit status 1"},
		{name: "status running", platform: "linux-systemd", action: "status", status: service.StatusRunning, wantCalls: "status", wantCode: exitOK, wantStdout: "asagent: running"},
		{name: "status stopped", platform: "linux-systemd", action: "status", status: service.StatusStopped, wantCalls: "status", wantCode: exitFailed, wantStdout: "asagent: stopped"},
		{name: "status not installed", platform: "linux-systemd", action: "status", err: service.ErrNotInstalled, wantCalls: "status", wantCode: exitFailed, wantStdout: "asagent: not installed"},
		{name: "status failed", platform: "linux-systemd", action: "status", err: errors.New("service in failed state"), wantCalls: "status", wantCode: exitFailed, wantStdout: "unknown (service in failed state)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordingController{platform: tc.platform, status: tc.status, err: tc.err}
			var stdout, stderr bytes.Buffer
			code := serviceControl(cmdIO{&stdout, &stderr}, rc, tc.action, func() string { return tc.packaged })
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if got := strings.Join(rc.calls, ","); got != tc.wantCalls {
				t.Errorf("calls = %q, want %q", got, tc.wantCalls)
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout = %q, want %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// The command line of `asagent service` is checked before anything is
// touched.
func TestServiceCommandLine(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no action", []string{"service"}, exitUsage, "which action?"},
		{"help", []string{"service", "-h"}, exitOK, ""}, // the usage goes to stdout
		{"unknown action", []string{"service", "reload"}, exitUsage, `unknown action "reload"`},
		{"config with start", []string{"service", "start", "--config", "x.yaml"}, exitUsage, "--config goes with install only"},
		{"stray argument", []string{"service", "start", "now"}, exitUsage, `unexpected argument "now"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, tc.args)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), tc.wantStderr)
			}
			if code == exitOK && !strings.Contains(stdout.String(), "Usage: asagent service install|uninstall") {
				t.Errorf("stdout = %q, want the usage", stdout.String())
			}
		})
	}
}

// Under a service manager that must be answered (Windows), Stop cancels the
// agent and waits for it; an agent that ends by itself stops the service
// cleanly when restarting cannot help (success, config error) and exits
// unannounced otherwise, so the manager's recovery restarts it.
func TestSCMProgram(t *testing.T) {
	cases := []struct {
		name         string
		byItself     int // exit code when the agent ends on its own; -1: it runs until stopped
		wantStopSelf bool
		wantExit     int // -1: exit not called
	}{
		{"stopped by the service manager", -1, false, -1},
		{"ends cleanly by itself", exitOK, true, -1},
		{"invalid configuration", exitConfig, true, -1},
		{"fails", exitFailed, false, exitFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan string, 1)
			p := &scmProgram{
				run: func(ctx context.Context) int {
					if tc.byItself >= 0 {
						return tc.byItself
					}
					<-ctx.Done()
					return exitOK
				},
				stopSelf: func() { ended <- "stopSelf" },
				exit:     func(code int) { ended <- fmt.Sprintf("exit %d", code) },
				stopWait: scmStopWait,
			}
			if err := p.Start(nil); err != nil {
				t.Fatal(err)
			}
			if tc.byItself < 0 {
				if err := p.Stop(nil); err != nil {
					t.Fatalf("Stop: %v", err)
				}
				select {
				case e := <-ended:
					t.Fatalf("a stop asked for by the service manager also did %s", e)
				default:
				}
				return
			}
			e := <-ended
			switch {
			case tc.wantStopSelf && e != "stopSelf":
				t.Errorf("got %s, want a clean stop", e)
			case tc.wantExit >= 0 && e != fmt.Sprintf("exit %d", tc.wantExit):
				t.Errorf("got %s, want exit %d", e, tc.wantExit)
			}
			if got := p.exitCode(); got != tc.byItself {
				t.Errorf("exit code = %d, want %d", got, tc.byItself)
			}
			if err := p.Stop(nil); err != nil {
				t.Errorf("Stop after the end: %v", err)
			}
		})
	}
}

// An agent that does not wind down makes Stop give up after its bound
// rather than hang the service manager.
func TestSCMProgramStopIsBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := &scmProgram{
		run:      func(context.Context) int { <-release; return exitOK },
		stopSelf: func() {}, exit: func(int) {},
		stopWait: 1, // the bound itself is not under test: only that there is one
	}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("Stop = %v", err)
	}
}

// recordingLogger records the severity and text of each event log entry.
type recordingLogger struct{ entries []string }

func (r *recordingLogger) add(sev string, v ...any) error {
	r.entries = append(r.entries, sev+": "+fmt.Sprint(v...))
	return nil
}
func (r *recordingLogger) Error(v ...any) error   { return r.add("error", v...) }
func (r *recordingLogger) Warning(v ...any) error { return r.add("warning", v...) }
func (r *recordingLogger) Info(v ...any) error    { return r.add("info", v...) }
func (r *recordingLogger) Errorf(f string, a ...any) error {
	return r.add("error", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Warningf(f string, a ...any) error {
	return r.add("warning", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Infof(f string, a ...any) error { return r.add("info", fmt.Sprintf(f, a...)) }

// zerolog lines reach the event log at their own severity, one entry per
// line, without the trailing newline.
func TestEventLogWriter(t *testing.T) {
	cases := []struct {
		level zerolog.Level
		want  string
	}{
		{zerolog.DebugLevel, "info"},
		{zerolog.InfoLevel, "info"},
		{zerolog.WarnLevel, "warning"},
		{zerolog.ErrorLevel, "error"},
		{zerolog.FatalLevel, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.level.String(), func(t *testing.T) {
			rl := &recordingLogger{}
			log := zerolog.New(eventLogWriter{l: rl}).Level(zerolog.DebugLevel)
			log.WithLevel(tc.level).Str("hook", "h1").Msg("hello")
			if len(rl.entries) != 1 {
				t.Fatalf("entries = %q", rl.entries)
			}
			if e := rl.entries[0]; !strings.HasPrefix(e, tc.want+": {") || !strings.Contains(e, `"hook":"h1"`) || strings.HasSuffix(e, "\n") {
				t.Errorf("entry = %q, want a %s entry with the JSON line", e, tc.want)
			}
		})
	}
}
