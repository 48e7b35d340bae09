//go:build windows

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kardianos/service"
)

// runUnderServiceManager runs the agent as a Windows service when the
// service control manager started this process: the SCM must hear from
// the process within seconds, so kardianos/service's loop starts first and
// the configuration is loaded inside it, with errors going to the Event
// Log. From a console it returns handled=false and `asagent run` runs as
// everywhere else.
func runUnderServiceManager(_ context.Context, cio cmdIO, path string) (int, bool) {
	if service.Interactive() {
		return 0, false
	}
	p := &scmProgram{exit: os.Exit, stopWait: scmStopWait}
	s, err := service.New(p, &service.Config{Name: serviceName})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent: %v\n", err)
		return exitFailed, true
	}
	p.stopSelf = func() { _ = s.Stop() }
	elog, err := s.Logger(nil)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent: event log: %v\n", err)
		return exitFailed, true
	}
	w := eventLogWriter{l: elog}
	p.run = func(ctx context.Context) int {
		cfg, code, ok := loadConfig(cmdIO{stdout: w, stderr: w}, path)
		if !ok {
			return code
		}
		log := newLogger(w, cfg.Log)
		return runAgent(ctx, log, cfg, path, logNotifier{log: log})
	}
	if err := s.Run(); err != nil {
		_ = elog.Error(err)
		return exitFailed, true
	}
	return p.exitCode(), true
}
