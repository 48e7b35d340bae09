package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/systemd"
)

// serviceName is the service's name everywhere: the systemd unit
// asagent.service, the Windows service "asagent".
const serviceName = "asagent"

// serviceDescription is what service managers show next to the name.
const serviceDescription = "Huawei Cloud Auto Scaling lifecycle agent: readiness checks at launch, drain steps at terminate"

// packagedUnitPaths are where the deb and rpm packages put the unit. A
// unit there belongs to the package manager, not to `asagent service`.
func packagedUnitPaths() []string {
	return []string{"/usr/lib/systemd/system/" + systemd.UnitName, "/lib/systemd/system/" + systemd.UnitName}
}

// serviceActions are the `asagent service` actions, in help order.
func serviceActions() []string {
	return []string{"install", "uninstall", "start", "stop", "restart", "status"}
}

func runService(_ context.Context, cio cmdIO, args []string) int {
	const synopsis = "install|uninstall|start|stop|restart|status [--config FILE]"
	fs := newFlags(cio, "service", synopsis)
	cfgPath := fs.String("config", "", "install: the configuration `file` the service runs with (default: the standard path, or $ASAGENT_CONFIG at run time)")
	rest, code, ok := parseFlagsAndArgs(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		if len(rest) == 0 {
			fmt.Fprintln(cio.stderr, "asagent service: which action? one of", strings.Join(serviceActions(), ", "))
		} else {
			fmt.Fprintf(cio.stderr, "asagent service: unexpected argument %q after the action %q\n", rest[1], rest[0])
		}
		fs.Usage()
		return exitUsage
	}
	action := rest[0]
	known := false
	for _, a := range serviceActions() {
		known = known || a == action
	}
	if !known {
		fmt.Fprintf(cio.stderr, "asagent service: unknown action %q; want one of %s\n", action, strings.Join(serviceActions(), ", "))
		return exitUsage
	}
	if *cfgPath != "" && action != "install" {
		fmt.Fprintln(cio.stderr, "asagent service: --config goes with install only")
		return exitUsage
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent service: cannot find this executable: %v\n", err)
		return exitFailed
	}
	cfg, err := serviceConfig(runtime.GOOS, exe, *cfgPath)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent service: %v\n", err)
		return exitFailed
	}
	s, err := service.New(&scmProgram{}, cfg)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent service: %v\n", err)
		return exitFailed
	}
	return serviceControl(cio, s, action, statPackagedUnit)
}

// statPackagedUnit returns the path of a unit file the package manager
// installed, or "".
func statPackagedUnit() string {
	for _, p := range packagedUnitPaths() {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// controller is the part of service.Service that `asagent service` uses.
type controller interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (service.Status, error)
	Platform() string
}

// serviceControl carries out action on s. packaged says whether the deb or
// rpm package owns the unit: then install and uninstall refuse, since a
// second unit in /etc/systemd/system would silently override the
// package's, and removing the package is how to remove its service.
func serviceControl(cio cmdIO, s controller, action string, packaged func() string) int {
	systemdHost := strings.HasSuffix(s.Platform(), "systemd")
	if systemdHost && (action == "install" || action == "uninstall") {
		if p := packaged(); p != "" {
			fmt.Fprintf(cio.stderr, "asagent service %s: %s belongs to the asagent package; ", action, p)
			if action == "install" {
				fmt.Fprintln(cio.stderr, "it is installed already (systemctl enable --now asagent)")
			} else {
				fmt.Fprintln(cio.stderr, "remove the package instead (apt-get remove asagent, or dnf remove asagent)")
			}
			return exitFailed
		}
	}
	var err error
	switch action {
	case "install":
		err = s.Install()
	case "uninstall":
		err = s.Uninstall()
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "restart":
		err = s.Restart()
	case "status":
		return printServiceStatus(cio, s)
	}
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent service %s: %v\n", action, err)
		return exitFailed
	}
	done := map[string]string{"install": "installed", "uninstall": "uninstalled", "start": "started", "stop": "stopped", "restart": "restarted"}[action]
	fmt.Fprintf(cio.stdout, "%s service %s (%s)\n", serviceName, done, s.Platform())
	if action == "install" && systemdHost {
		fmt.Fprintf(cio.stdout, "enabled at boot; start it now with: asagent service start\n")
	}
	return exitOK
}

// printServiceStatus prints running, stopped or not installed; the exit
// code is 0 only for running, so scripts can test it.
func printServiceStatus(cio cmdIO, s controller) int {
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		fmt.Fprintf(cio.stdout, "%s: not installed\n", serviceName)
		return exitFailed
	case err != nil:
		fmt.Fprintf(cio.stdout, "%s: unknown (%v)\n", serviceName, err)
		return exitFailed
	case st == service.StatusRunning:
		fmt.Fprintf(cio.stdout, "%s: running\n", serviceName)
		return exitOK
	case st == service.StatusStopped:
		fmt.Fprintf(cio.stdout, "%s: stopped\n", serviceName)
		return exitFailed
	default:
		fmt.Fprintf(cio.stdout, "%s: unknown\n", serviceName)
		return exitFailed
	}
}

// serviceConfig describes the service for kardianos/service on goos: the
// agent's own unit on systemd, restart-on-failure on Windows.
func serviceConfig(goos, exe, cfgPath string) (*service.Config, error) {
	args := []string{"run"}
	if cfgPath != "" {
		abs, err := filepath.Abs(cfgPath)
		if err != nil {
			return nil, err
		}
		args = append(args, "--config", abs)
	}
	c := &service.Config{
		Name:        serviceName,
		DisplayName: serviceName,
		Description: serviceDescription,
		Executable:  exe,
		Arguments:   args,
		Option:      service.KeyValue{},
	}
	switch goos {
	case "windows":
		c.DisplayName = "asagent (Auto Scaling lifecycle agent)"
		// Start at boot, early: a launch hook is already running. Not
		// delayed auto-start, which waits minutes after boot.
		c.Option["StartType"] = "automatic"
		c.Option["DelayedAutoStart"] = false
		// Like systemd's Restart=always with RestartSec=5s. The agent exits
		// without telling the service manager it stopped only on failure
		// (scmProgram), so an invalid configuration is not restarted.
		c.Option["OnFailure"] = "restart"
		c.Option["OnFailureDelayDuration"] = "5s"
		c.Option["OnFailureResetPeriod"] = 600 // seconds without failure that reset the count
		c.Dependencies = []string{"Tcpip"}
	default:
		unit, err := systemd.UnitFor(exe, args...)
		if err != nil {
			return nil, err
		}
		// kardianos/service renders SystemdScript as a template; the unit
		// has no actions, and a path that looked like one must not become one.
		if strings.Contains(unit, "{{") {
			return nil, fmt.Errorf("%q: a path with {{ cannot be written into the unit", exe)
		}
		c.Option["SystemdScript"] = unit
	}
	return c, nil
}

// scmStopWait bounds how long Stop waits for the agent to wind down: a
// final answer to AS gets cloud.request_timeout (at most 120 s), and
// Windows gives services about as long at shutdown.
const scmStopWait = 125 * time.Second

// scmProgram runs the agent inside kardianos/service's loop, the way a
// Windows service must: Start returns at once, Stop cancels the agent and
// waits for it with a bound.
type scmProgram struct {
	// run runs the agent until ctx ends and returns its exit code.
	run func(ctx context.Context) int
	// stopSelf asks the service manager to stop the service; exit ends the
	// process without telling it (a crash, which its recovery restarts).
	stopSelf func()
	exit     func(code int)
	stopWait time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	code   int
}

// Start implements service.Interface.
func (p *scmProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel, p.done = cancel, make(chan struct{})
	done := p.done
	p.mu.Unlock()
	go func() {
		code := p.run(ctx)
		p.mu.Lock()
		p.code = code
		p.mu.Unlock()
		close(done)
		if ctx.Err() != nil {
			return // Stop asked for it
		}
		// The agent ended by itself. Success and an invalid configuration
		// end as a clean stop (restarting cannot fix a config); any other
		// failure ends the process unannounced, so that the service
		// manager's recovery restarts it, as Restart=always does on systemd.
		if code == exitOK || code == exitConfig {
			p.stopSelf()
			return
		}
		p.exit(code)
	}()
	return nil
}

// Stop implements service.Interface.
func (p *scmProgram) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	t := time.NewTimer(p.stopWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("the agent did not stop within %v", p.stopWait)
	}
}

// exitCode is the agent's exit code once it has returned.
func (p *scmProgram) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

// eventLogWriter sends zerolog's lines to a service.Logger (on Windows the
// Event Log, which is where an administrator looks for a service's
// messages), at the matching severity.
type eventLogWriter struct{ l service.Logger }

// Write implements io.Writer, for lines without a level.
func (w eventLogWriter) Write(p []byte) (int, error) {
	return w.WriteLevel(zerolog.NoLevel, p)
}

// WriteLevel implements zerolog.LevelWriter.
func (w eventLogWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	var err error
	switch {
	case level >= zerolog.ErrorLevel && level <= zerolog.PanicLevel:
		err = w.l.Error(line)
	case level == zerolog.WarnLevel:
		err = w.l.Warning(line)
	default:
		err = w.l.Info(line)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// The compiler checks that the writer is what zerolog and the bridge want.
var (
	_ zerolog.LevelWriter = eventLogWriter{}
	_ io.Writer           = eventLogWriter{}
	_ service.Interface   = (*scmProgram)(nil)
)
