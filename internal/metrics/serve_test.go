package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/syncbuf"
	"github.com/asagent/asagent/internal/testutil"
)

// serving starts r.Serve(cfg) with its log in a buffer and returns a stop
// that ends it and waits for it, and the log.
func serving(t *testing.T, r *Registry, cfg config.Metrics) (stop func(), done <-chan struct{}, logs *syncbuf.Buffer) {
	t.Helper()
	logs = &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		r.Serve(ctx, cfg, zerolog.New(logs))
	}()
	stop = func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return within 10 s of its context ending")
		}
	}
	t.Cleanup(cancel)
	return stop, ch, logs
}

// logged returns the value of field in the first log line with message
// msg, or "".
func logged(logs *syncbuf.Buffer, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["message"] == msg {
			s, _ := line[field].(string)
			return s
		}
	}
	return ""
}

// The textfile is written when serving starts, after every change, at
// least every minute without one (so its gauges and mtime stay fresh), and
// once more at stop; it is readable by node_exporter's user, parses, and
// no temporary file is left in node_exporter's directory.
func TestTextfileWrittenOnChangeAndEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "textfile_collector", "asagent.prom")
		r := New(clockwork.NewRealClock())
		stop, _, logs := serving(t, r, config.Metrics{Textfile: path})
		read := func(name string, labels ...string) float64 {
			t.Helper()
			synctest.Wait()
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v, ok := sample(parse(t, f), name, labels...)
			if !ok {
				t.Fatalf("%s%v not in the textfile", name, labels)
			}
			return v
		}
		if v := read(NameHoldsSeen, "phase", "launch"); v != 0 {
			t.Errorf("at start: holds seen %v", v)
		}
		r.Event(agent.Event{Name: "hold_seen", Phase: "launch", Hook: "boot"})
		if v := read(NameHoldsSeen, "phase", "launch"); v != 1 {
			t.Errorf("after a hold: holds seen %v, want 1", v)
		}
		r.NearestDeadline(time.Now().Add(10 * time.Minute))
		if v := read(NameDeadlineLeft); v != 600 {
			t.Errorf("deadline in %v s, want 600", v)
		}
		time.Sleep(TextfileRefresh)
		if v := read(NameDeadlineLeft); v != 540 {
			t.Errorf("a minute later, with no change: deadline in %v s, want 540", v)
		}
		r.Event(agent.Event{Name: "extend_sent", Phase: "launch", Hook: "boot"})
		stop()
		if v := read(NameExtends, "phase", "launch"); v != 1 {
			t.Errorf("after stop: extends %v, want 1", v)
		}
		if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != textfileMode) {
			t.Errorf("textfile mode %v, %v; want %o", fi.Mode(), err, textfileMode)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Errorf("the textfile directory holds %v, want the textfile alone", entries)
		}
		if strings.Contains(logs.String(), "error") {
			t.Errorf("errors logged:\n%s", logs.String())
		}
	})
}

// A textfile that cannot be written is logged once, not on every change,
// and never stops the agent; writing resumes when it can.
func TestTextfileFailureLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		blocker := filepath.Join(dir, "not-a-dir")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(blocker, "asagent.prom")
		r := New(clockwork.NewRealClock())
		stop, _, logs := serving(t, r, config.Metrics{Textfile: path})
		for range 3 {
			r.Event(agent.Event{Name: "hold_seen", Phase: "launch"})
			synctest.Wait()
		}
		if n := strings.Count(logs.String(), "cannot write the metrics textfile"); n != 1 {
			t.Errorf("failure logged %d times, want once:\n%s", n, logs.String())
		}
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		time.Sleep(TextfileRefresh)
		synctest.Wait()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("not written again once possible: %v", err)
		}
		if !strings.Contains(logs.String(), "works again") {
			t.Errorf("the recovery is not logged:\n%s", logs.String())
		}
		stop()
	})
}

// The endpoint serves the exposition on GET /metrics over loopback, and
// nothing else; it stops with its context.
func TestEndpointServesMetrics(t *testing.T) {
	r := New(nil)
	r.Event(agent.Event{Name: "hold_seen", Phase: "terminate"})
	stop, _, logs := serving(t, r, config.Metrics{Listen: "127.0.0.1:0"})
	var addr string
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, "the endpoint to listen", func() bool {
		addr = logged(logs, "serving metrics on /metrics", "listen")
		return addr != ""
	})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentType {
		t.Errorf("GET /metrics: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if v, ok := sample(parse(t, resp.Body), NameHoldsSeen, "phase", "terminate"); !ok || v != 1 {
		t.Errorf("holds seen: %v %v, want 1", v, ok)
	}
	resp.Body.Close()
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/", 404}, {"GET", "/debug/pprof/", 404}, {"POST", "/metrics", 405}} {
		req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	stop()
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("still serving after stop")
	}
}

// An address other hosts can reach is refused (without allow_remote) even
// if validation was skipped, and nothing listens.
func TestEndpointRefusesRemoteAddress(t *testing.T) {
	_, done, logs := serving(t, New(nil), config.Metrics{Listen: "0.0.0.0:0"})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still runs with only a refused address to serve")
	}
	if !strings.Contains(logs.String(), "metrics.listen refused") || strings.Contains(logs.String(), "serving metrics") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// An address that is taken (the agent's predecessor not gone yet) is
// logged once and tried again every minute until it can be had.
func TestEndpointRetriesTakenAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	clk := clockwork.NewFakeClock()
	stop, _, logs := serving(t, New(clk), config.Metrics{Listen: taken.Addr().String()})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("no retry timer: %v", err)
	}
	if n := strings.Count(logs.String(), "cannot serve metrics"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logs.String())
	}
	taken.Close()
	clk.Advance(listenRetry)
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, "the endpoint to listen", func() bool {
		return logged(logs, "serving metrics on /metrics", "listen") == taken.Addr().String()
	})
	resp, err := http.Get("http://" + taken.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
