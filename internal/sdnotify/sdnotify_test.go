package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket playing systemd's notification socket and
// returns its name as $NOTIFY_SOCKET would carry it.
func listen(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	// A short directory: socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets are not available here: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

// receive reads one datagram, or fails after a bounded wait.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification arrived: %v", err)
	}
	return string(buf[:n])
}

// nothingArrives asserts that the socket has no datagram queued. Sends are
// synchronous (the datagram is in the receive queue when Send returns), so
// a short deadline is a check, not a race.
func nothingArrives(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("unexpected notification %q", buf[:n])
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// FromEnv arms the watchdog only for this process and only with a valid
// timeout, and never turns a missing socket into an error: the agent runs
// from a terminal too.
func TestFromEnv(t *testing.T) {
	const pid = 4242
	cases := []struct {
		name         string
		env          map[string]string
		wantNil      bool
		wantErr      string
		wantWatchdog time.Duration
	}{
		{name: "no socket", env: nil, wantNil: true},
		{name: "no socket, watchdog variables ignored", env: map[string]string{EnvWatchdogUsec: "1000000", EnvWatchdogPID: "4242"}, wantNil: true},
		{name: "path socket", env: map[string]string{EnvSocket: "/run/systemd/notify"}},
		{name: "abstract socket", env: map[string]string{EnvSocket: "@/org/freedesktop/systemd1/notify/123"}},
		{name: "relative socket", env: map[string]string{EnvSocket: "run/notify"}, wantNil: true, wantErr: "want an absolute path"},
		{name: "bare @", env: map[string]string{EnvSocket: "@"}, wantNil: true, wantErr: "want an absolute path"},
		{name: "vsock socket", env: map[string]string{EnvSocket: "vsock:2:1234"}, wantNil: true, wantErr: "vsock"},
		{name: "watchdog for this process", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "300000000", EnvWatchdogPID: "4242"}, wantWatchdog: 5 * time.Minute},
		{name: "watchdog for another process", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "300000000", EnvWatchdogPID: "4243"}},
		{name: "watchdog without pid", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "300000000"}},
		{name: "watchdog pid without timeout", env: map[string]string{EnvSocket: "/n", EnvWatchdogPID: "4242"}},
		{name: "bad watchdog timeout", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "5min", EnvWatchdogPID: "4242"}, wantErr: `WATCHDOG_USEC="5min"`},
		{name: "zero watchdog timeout", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "0", EnvWatchdogPID: "4242"}, wantErr: "positive"},
		{name: "huge watchdog timeout", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "9223372036854775807", EnvWatchdogPID: "4242"}, wantErr: "out of range"},
		{name: "bad watchdog pid", env: map[string]string{EnvSocket: "/n", EnvWatchdogUsec: "1000000", EnvWatchdogPID: "me"}, wantErr: `WATCHDOG_PID="me"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := FromEnv(env(tc.env), pid)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if (n == nil) != tc.wantNil {
				t.Fatalf("notifier = %v, want nil: %v", n, tc.wantNil)
			}
			if got := n.WatchdogInterval(); got != tc.wantWatchdog {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tc.wantWatchdog)
			}
		})
	}
}

// Each call sends exactly the protocol's assignments, one datagram per
// call, and free text can never inject a second assignment.
func TestMessages(t *testing.T) {
	path, conn := listen(t)
	n, err := FromEnv(env(map[string]string{EnvSocket: path, EnvWatchdogUsec: "300000000", EnvWatchdogPID: "77"}), 77)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", n.Ready, "READY=1"},
		{"status", func() error { return n.Status("launch: 2/3 checks passed, hook expires 14:05") }, "STATUS=launch: 2/3 checks passed, hook expires 14:05"},
		{"status with line breaks", func() error { return n.Status("a\nREADY=1\r\tb") }, "STATUS=a READY=1  b"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"stopping", func() error { return n.Stopping("stopping: SIGTERM") }, "STOPPING=1\nSTATUS=stopping: SIGTERM"},
		{"several assignments", func() error { return n.Send("STATUS=x", "EXTEND_TIMEOUT_USEC=1000") }, "STATUS=x\nEXTEND_TIMEOUT_USEC=1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, conn); got != tc.want {
				t.Errorf("datagram = %q, want %q", got, tc.want)
			}
		})
	}
}

// Send refuses what is not one VAR=value line rather than send a datagram
// that systemd would read differently.
func TestSendRejectsMalformedAssignments(t *testing.T) {
	path, conn := listen(t)
	n, err := FromEnv(env(map[string]string{EnvSocket: path}), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"READY", "STATUS=a\nREADY=1"} {
		t.Run(fmt.Sprintf("%q", a), func(t *testing.T) {
			if err := n.Send(a); err == nil {
				t.Fatal("Send accepted it")
			}
		})
	}
	nothingArrives(t, conn)
}

// Without an armed watchdog nothing is sent: WATCHDOG=1 from a process the
// watchdog does not belong to would be ignored at best.
func TestWatchdogSendsNothingWhenNotArmed(t *testing.T) {
	path, conn := listen(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"no watchdog", map[string]string{EnvSocket: path}},
		{"another process's watchdog", map[string]string{EnvSocket: path, EnvWatchdogUsec: "1000000", EnvWatchdogPID: "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := FromEnv(env(tc.env), 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Watchdog(); err != nil {
				t.Fatal(err)
			}
			nothingArrives(t, conn)
		})
	}
}

// A nil Notifier (no service manager) accepts every call and does nothing.
func TestNilNotifier(t *testing.T) {
	var n *Notifier
	for name, f := range map[string]func() error{
		"Ready":    n.Ready,
		"Status":   func() error { return n.Status("x") },
		"Watchdog": n.Watchdog,
		"Stopping": func() error { return n.Stopping("x") },
		"Send":     func() error { return n.Send("READY=1") },
	} {
		t.Run(name, func(t *testing.T) {
			if err := f(); err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
	if n.WatchdogInterval() != 0 {
		t.Error("a nil notifier has a watchdog")
	}
}

// A socket that nobody listens on is an error the caller can log, not a
// hang or a panic.
func TestSendToMissingSocket(t *testing.T) {
	n, err := FromEnv(env(map[string]string{EnvSocket: filepath.Join(t.TempDir(), "gone")}), 1)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Ready()
	if err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Fatalf("err = %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("err %v does not wrap the socket error", err)
	}
}

// systemd usually hands services an abstract-namespace socket
// ("@/org/freedesktop/systemd1/notify/..."); it must work like a path.
func TestAbstractSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the abstract socket namespace is Linux's")
	}
	name := fmt.Sprintf("@asagent-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("abstract unix sockets are not available: %v", err)
	}
	defer conn.Close()
	n, err := FromEnv(env(map[string]string{EnvSocket: name}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Errorf("datagram = %q", got)
	}
}
