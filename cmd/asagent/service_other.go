//go:build !windows

package main

import "context"

// runUnderServiceManager is for Windows, where the service control manager
// must be answered through kardianos/service. Elsewhere the service manager
// (systemd) runs `asagent run` as a plain process: nothing to do.
func runUnderServiceManager(context.Context, cmdIO, string) (int, bool) { return 0, false }
