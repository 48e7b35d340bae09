// Package sdnotify is a small client of systemd's service notification
// protocol (sd_notify(3)): it tells the service manager that the agent is
// ready, what it is doing (the STATUS= line `systemctl status` shows) and
// that its main loop is alive (WATCHDOG=1).
//
// It is the protocol and nothing more: one datagram of newline-separated
// VAR=value assignments to the unix socket named by $NOTIFY_SOCKET. A
// process that was not started by a listening service manager gets a nil
// *Notifier, whose methods do nothing, so callers need no special case.
package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Environment variables set by systemd for a Type=notify service.
const (
	// EnvSocket names the socket that notifications go to.
	EnvSocket = "NOTIFY_SOCKET"
	// EnvWatchdogUsec is the watchdog timeout in microseconds (WatchdogSec=).
	EnvWatchdogUsec = "WATCHDOG_USEC"
	// EnvWatchdogPID is the process that the watchdog timeout applies to.
	EnvWatchdogPID = "WATCHDOG_PID"
)

// Notifier sends notifications to the service manager's socket. The zero
// value is not usable; a nil *Notifier is, and sends nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// FromEnv returns the Notifier that $NOTIFY_SOCKET names, or nil when it is
// unset (no service manager listens: a terminal, a container without
// systemd). pid is this process's id: the watchdog is armed only when
// $WATCHDOG_USEC is set and $WATCHDOG_PID is pid, so that a child which
// inherited the variables (a drop-in script running `asagent status`)
// never pings on its parent's behalf.
//
// This is stricter than libsystemd's sd_watchdog_enabled, which also arms
// the watchdog when $WATCHDOG_PID is missing: systemd always sets both for
// the main process, so a lone WATCHDOG_USEC came from somewhere else.
//
// A malformed $NOTIFY_SOCKET is an error and a nil Notifier. A malformed
// $WATCHDOG_USEC or $WATCHDOG_PID is an error too, but the Notifier is
// still returned, with the watchdog off: READY and STATUS must still reach
// systemd, or it would fail the start.
func FromEnv(getenv func(string) string, pid int) (*Notifier, error) {
	socket := getenv(EnvSocket)
	if socket == "" {
		return nil, nil
	}
	addr, err := socketAddr(socket)
	if err != nil {
		return nil, err
	}
	n := &Notifier{addr: addr}
	n.watchdog, err = watchdogInterval(getenv(EnvWatchdogUsec), getenv(EnvWatchdogPID), pid)
	return n, err
}

// socketAddr checks $NOTIFY_SOCKET: an absolute path, or "@name" for
// Linux's abstract namespace (Go's net package maps the leading '@' to the
// NUL byte the kernel expects).
func socketAddr(socket string) (*net.UnixAddr, error) {
	switch {
	case strings.HasPrefix(socket, "/"), strings.HasPrefix(socket, "@") && len(socket) > 1:
		return &net.UnixAddr{Name: socket, Net: "unixgram"}, nil
	case strings.HasPrefix(socket, "vsock:"):
		// systemd 254+ can hand a VM's agent an AF_VSOCK address; the agent
		// runs inside the VM's own systemd, which never does that.
		return nil, fmt.Errorf("%s=%q: vsock notification sockets are not supported", EnvSocket, socket)
	default:
		return nil, fmt.Errorf("%s=%q: want an absolute path or an @abstract name", EnvSocket, socket)
	}
}

// watchdogInterval decodes the watchdog variables: 0 means no watchdog.
func watchdogInterval(usec, wpid string, pid int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return 0, fmt.Errorf("%s=%q: want a positive number of microseconds; the watchdog stays off", EnvWatchdogUsec, usec)
	}
	if wpid == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(wpid)
	if err != nil || p <= 0 {
		return 0, fmt.Errorf("%s=%q: want a process id; the watchdog stays off", EnvWatchdogPID, wpid)
	}
	if p != pid {
		return 0, nil // the watchdog is another process's
	}
	if us > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("%s=%q: out of range; the watchdog stays off", EnvWatchdogUsec, usec)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// WatchdogInterval is the service manager's watchdog timeout: WATCHDOG=1
// must arrive more often than this (systemd's advice is every half of it).
// It is 0 when no watchdog is armed for this process.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Send sends the assignments ("READY=1", "STATUS=...") in one datagram, so
// the service manager applies them together. A nil Notifier sends nothing.
// An assignment must be one line; Status takes care of that for free text.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil || len(assignments) == 0 {
		return nil
	}
	for _, a := range assignments {
		if strings.ContainsRune(a, '\n') || !strings.Contains(a, "=") {
			return fmt.Errorf("sd_notify: %q is not one VAR=value line", a)
		}
	}
	// A new socket per message, as libsystemd does: nothing to keep open,
	// and a restarted service manager (daemon-reexec) is found again.
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	msg := strings.Join(assignments, "\n")
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready tells the service manager that start-up is complete: for a
// Type=notify unit, `systemctl start` returns and units ordered after this
// one start.
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Status sets the one-line status `systemctl status` shows. Line breaks and
// other control characters become spaces: a newline would end the
// assignment and start another.
func (n *Notifier) Status(line string) error {
	return n.Send("STATUS=" + oneLine(line))
}

// Stopping tells the service manager that the service is shutting down
// by itself or on request, with a last status line.
func (n *Notifier) Stopping(line string) error {
	return n.Send("STOPPING=1", "STATUS="+oneLine(line))
}

// Watchdog tells the service manager that the main loop is alive. It sends
// nothing when no watchdog is armed for this process (see FromEnv).
func (n *Notifier) Watchdog() error {
	if n.WatchdogInterval() == 0 {
		return nil
	}
	return n.Send("WATCHDOG=1")
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
