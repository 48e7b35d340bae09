package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/sdnotify"
	"github.com/asagent/asagent/internal/sim"
)

// notifySocket plays systemd's notification socket and delivers each
// datagram on the returned channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "asn") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets are not available: %v", err)
	}
	msgs := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return path, msgs
}

// waitFor reads datagrams until one satisfies ok, failing after a bound.
// It returns everything read, for the log.
func waitFor(t *testing.T, msgs <-chan string, what string, ok func(string) bool) []string {
	t.Helper()
	var seen []string
	limit := time.NewTimer(60 * time.Second)
	defer limit.Stop()
	for {
		select {
		case m, open := <-msgs:
			if !open {
				t.Fatalf("socket closed while waiting for %s; seen %q", what, seen)
			}
			seen = append(seen, m)
			if ok(m) {
				return seen
			}
		case <-limit.C:
			t.Fatalf("no %s within 60 s; seen %q", what, seen)
		}
	}
}

// `asagent run` under systemd: with $NOTIFY_SOCKET it sends READY=1 only
// after the instance and its group are known, STATUS= lines with what it
// does, WATCHDOG=1 because the watchdog is armed for this process, and
// STOPPING=1 when told to stop; then it exits 0.
func TestRunNotifiesSystemd(t *testing.T) {
	s, err := sim.New(sim.Options{Log: zerolog.NewTestWriter(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`cloud:
  metadata_endpoint: %[1]s
  as_endpoint: %[1]s
launch:
  scripts_dir: %[2]s/launch.d
terminate:
  scripts_dir: %[2]s/terminate.d
include_dir: %[2]s/conf.d
state_dir: %[2]s/state
control_socket: %[2]s/agent.sock
log:
  level: debug
  format: json
`, srv.URL, dir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	socket, msgs := notifySocket(t)
	t.Setenv(sdnotify.EnvSocket, socket)
	t.Setenv(sdnotify.EnvWatchdogUsec, "300000000")
	t.Setenv(sdnotify.EnvWatchdogPID, strconv.Itoa(os.Getpid()))
	for _, k := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_PROJECT_ID", "ASAGENT_CONFIG"} {
		t.Setenv(k, "")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, cmdIO{stdout: &bytes.Buffer{}, stderr: zerolog.NewTestWriter(t)}, []string{"run", "--config", cfgPath})
	}()

	seen := waitFor(t, msgs, "READY=1", func(m string) bool { return m == "READY=1" })
	for _, m := range seen[:len(seen)-1] {
		if !strings.HasPrefix(m, "STATUS=starting") {
			t.Errorf("before READY=1 only start-up status lines may come, got %q", m)
		}
	}
	if len(seen) < 2 {
		t.Errorf("no STATUS= line before READY=1: %q", seen)
	}
	waitFor(t, msgs, "a launch STATUS= line", func(m string) bool { return strings.HasPrefix(m, "STATUS=launch") })
	waitFor(t, msgs, "WATCHDOG=1", func(m string) bool { return m == "WATCHDOG=1" })

	cancel()
	waitFor(t, msgs, "STOPPING=1", func(m string) bool { return strings.HasPrefix(m, "STOPPING=1\nSTATUS=stopping") })
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("asagent run exited %d, want 0", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("asagent run did not return after its context ended")
	}
}
