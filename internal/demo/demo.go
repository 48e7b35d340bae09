// Package demo runs the whole product on one machine in about 15 s: the
// simulator of Huawei Cloud, a real agent service pointed at it, a readiness
// script that takes a while (so the launch hook is extended) and a drain
// script, then a scale-in. It prints what happens as it happens.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/agent"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/sim"
)

// Timings of the demo: short enough to finish in about 15 s,
// long enough that the launch hook needs an EXTEND before the app is ready.
const (
	hookTimeout = 15 * time.Second // the hooks' default_timeout
	extendBy    = 30 * time.Second // what one EXTEND adds (an hour in the cloud)
	readyAfter  = 12 * time.Second // the app's readiness script passes after this
	limit       = 90 * time.Second // the demo gives up after this
	demoAK      = "AKDEMO00000000000000"
	demoSK      = "demo-secret-key-never-printed"
)

// Options adjust what the demo prints.
type Options struct {
	// Verbose prints every AS API call as it happens; without it only the
	// callbacks (EXTEND, CONTINUE) are told, and the calls are counted in
	// the summary.
	Verbose bool
}

// Run runs the demo and writes its story to out. It returns nil when both
// hooks were answered CONTINUE by the agent and nothing timed out.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	dir, err := os.MkdirTemp("", "asagent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p := newPrinter(out)

	sc := scenario()
	s, endpoint, stopSim, err := serveSim(sc)
	if err != nil {
		return err
	}
	defer stopSim()

	cfg, err := writeFiles(dir, endpoint, sc)
	if err != nil {
		return err
	}
	p.say("simulator on %s: group %q, launch and terminate hooks of %s each, EXTEND adds %s", endpoint, sc.Groups[0].Name, hookTimeout, extendBy)
	p.say("instance %s boots and is held by the launch hook", sc.LocalInstance)
	p.say("its readiness script passes after %s; the drain script after two tries", readyAfter)

	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	log := zerolog.New(checkOutput{p}).Level(zerolog.InfoLevel)
	svc := agent.New(cfg, log, agent.ServiceOptions{Notifier: p})
	agentDone := make(chan error, 1)
	go func() { agentDone <- svc.Run(agentCtx) }()

	watch := &watcher{sim: s, p: p, instance: sc.LocalInstance, verbose: opts.Verbose}
	if err := watch.until(ctx, svc, func() bool { return watch.outcome("INSTANCE_LAUNCHING") != nil }); err != nil {
		return err
	}
	p.say("scale-in: AS removes instance %s; the terminate hook holds it", sc.LocalInstance)
	if err := s.RemoveInstances(sc.Groups[0].ID, sc.LocalInstance); err != nil {
		return err
	}
	if err := watch.until(ctx, svc, func() bool { return watch.outcome("INSTANCE_TERMINATING") != nil }); err != nil {
		return err
	}
	stopAgent()
	if err := <-agentDone; err != nil {
		return err
	}
	if err := watch.summary(out); err != nil {
		return err
	}
	fmt.Fprintln(out, "\ndemo passed: both hooks answered CONTINUE from real checks, the slow launch was extended, nothing timed out")
	fmt.Fprintln(out, "next: rehearse with your own drop-ins, as any user: asagent sim --workdir ~/rehearsal (docs/simulator.md)")
	return nil
}

// serveSim serves a simulator of sc on a free loopback port until stop.
func serveSim(sc *sim.Scenario) (s *sim.Sim, endpoint string, stop func(), err error) {
	s, err = sim.New(sim.Options{AccessKey: demoAK, SecretKey: demoSK, Scenario: sc, ExtendBy: extendBy, MinHookTimeout: time.Second})
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return s, "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// scenario is the default simulator scenario with short hooks.
func scenario() *sim.Scenario {
	sc := sim.DefaultScenario()
	for i := range sc.Groups[0].Hooks {
		sc.Groups[0].Hooks[i].DefaultTimeout = int(hookTimeout / time.Second)
	}
	return sc
}

// writeFiles writes the scripts and returns the agent configuration.
func writeFiles(dir, endpoint string, sc *sim.Scenario) (*config.Config, error) {
	cfg := config.Default()
	cfg.Cloud.MetadataEndpoint = endpoint
	cfg.Cloud.ASEndpoint = endpoint
	cfg.Cloud.Credentials = config.Credentials{AccessKey: demoAK, SecretKey: demoSK}
	cfg.Poll.LaunchInterval = config.Duration(time.Second)
	cfg.Poll.IdleInterval = config.Duration(2 * time.Second)
	cfg.Extend.Margin = config.Duration(10 * time.Second)
	cfg.Launch.Interval = config.Duration(2 * time.Second)
	cfg.Terminate.Interval = config.Duration(time.Second)
	cfg.Launch.ScriptsDir = filepath.Join(dir, "launch.d")
	cfg.Terminate.ScriptsDir = filepath.Join(dir, "terminate.d")
	cfg.IncludeDir = filepath.Join(dir, "conf.d")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.ControlSocket = filepath.Join(dir, "agent.sock")
	start := time.Now().Unix()
	files := map[string]string{
		filepath.Join(cfg.Launch.ScriptsDir, "10-app-ready"): fmt.Sprintf(
			"#!/bin/sh\n# Ready %d s after the demo started.\nleft=$(( %d + %d - $(date +%%s) ))\n"+
				"if [ $left -gt 0 ]; then echo \"warming up, $left s to go\"; exit 1; fi\necho ready\n",
			int(readyAfter/time.Second), start, int(readyAfter/time.Second)),
		filepath.Join(cfg.Terminate.ScriptsDir, "10-drain"): "#!/bin/sh\n" +
			"if [ \"$ASAGENT_ATTEMPT\" -lt 2 ]; then echo \"draining connections\"; exit 1; fi\necho drained\n",
	}
	for path, body := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o755); err != nil { // whatever the umask
			return nil, err
		}
	}
	return cfg, nil
}

// printer writes timestamped lines; it is the agent's Notifier too, so
// every status change of the agent shows.
type printer struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
	last  string
}

func newPrinter(out io.Writer) *printer { return &printer{out: out, start: time.Now()} }

func (p *printer) say(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%6.1fs  %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, a...))
}

// Ready implements agent.Notifier.
func (p *printer) Ready() { p.say("agent: ready (instance and scaling group known)") }

// Status implements agent.Notifier.
func (p *printer) Status(line string) {
	p.mu.Lock()
	same := line == p.last
	p.last = line
	p.mu.Unlock()
	if !same {
		p.say("agent: %s", line)
	}
}

// Watchdog implements agent.Notifier.
func (p *printer) Watchdog() {}

// checkOutput shows the lines the agent logs of its checks' output, and the
// agent's warnings; the rest of the agent's log is left out of the story.
type checkOutput struct{ p *printer }

func (c checkOutput) Write(b []byte) (int, error) {
	var line struct {
		Level   string `json:"level"`
		Check   string `json:"check"`
		Stream  string `json:"stream"`
		Message string `json:"message"`
		Err     string `json:"error"`
	}
	if json.Unmarshal(b, &line) == nil {
		switch {
		case line.Stream != "":
			c.p.say("  check %s: %s", line.Check, line.Message)
		case line.Level == "warn" || line.Level == "error":
			c.p.say("  agent %s: %s %s", line.Level, line.Message, line.Err)
		}
	}
	return len(b), nil
}

// watcher prints the callbacks (every API call when verbose) and the
// hooks' countdown as they happen.
type watcher struct {
	sim      *sim.Sim
	p        *printer
	instance string
	verbose  bool
	seen     int
	lastTick time.Time
}

// until prints progress every 200 ms until cond holds or ctx ends.
func (w *watcher) until(ctx context.Context, svc *agent.Service, cond func() bool) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the demo did not finish in %s: %s", limit, svc.Status().Summary)
		case <-t.C:
			w.calls()
			w.countdown()
		}
	}
	w.calls()
	return nil
}

// calls prints the AS calls made since the last look: the callbacks, or
// every call when verbose.
func (w *watcher) calls() {
	reqs := w.sim.Requests()
	for _, r := range reqs[w.seen:] {
		switch {
		case !strings.HasPrefix(string(r.Route), "as."):
		case w.verbose:
			what := strings.TrimPrefix(string(r.Route), "as.")
			if r.Result != "" {
				what += " " + r.Result
			}
			if r.Hook != "" {
				what += " " + r.Hook
			}
			w.p.say("  API %-36s -> %d %s", what, r.Status, r.ErrorCode)
		case r.Route == sim.RouteCallback:
			answer := "accepted"
			if r.Status/100 != 2 {
				answer = fmt.Sprintf("refused: %d %s", r.Status, r.ErrorCode)
			}
			w.p.say("  agent -> AS: %s %s (%s)", r.Result, r.Hook, answer)
		}
	}
	w.seen = len(reqs)
}

// countdown prints, every 5 s, how long each held hook has left.
func (w *watcher) countdown() {
	if time.Since(w.lastTick) < 5*time.Second {
		return
	}
	w.lastTick = time.Now()
	st, ok := w.sim.Instance(scenario().Groups[0].ID, w.instance)
	if !ok {
		return
	}
	for _, h := range st.Hooks {
		if h.Status == "HANGING" {
			w.p.say("  hook %s holds the instance: times out in %s (%s)", h.Name, time.Until(h.Timeout).Round(time.Second), extended(h.Extends))
		}
	}
}

// extended says how often a hook was extended: "not extended yet",
// "extended once", "extended 2 times".
func extended(n int) string {
	switch n {
	case 0:
		return "not extended yet"
	case 1:
		return "extended once"
	}
	return fmt.Sprintf("extended %d times", n)
}

func (w *watcher) outcome(hookType string) *sim.Outcome {
	for _, o := range w.sim.Outcomes() {
		if o.InstanceID == w.instance && o.HookType == hookType {
			return &o
		}
	}
	return nil
}

// summary prints what happened and checks it is what should have happened.
func (w *watcher) summary(out io.Writer) error {
	counts := map[string]int{}
	for _, r := range w.sim.Requests() {
		if strings.HasPrefix(string(r.Route), "as.") {
			key := strings.TrimPrefix(string(r.Route), "as.")
			if r.Result != "" {
				key += " " + r.Result
			}
			counts[key]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(out, "\nsummary")
	var errs []error
	for _, typ := range []string{"INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"} {
		o := w.outcome(typ)
		fmt.Fprintf(out, "  %-22s %s by %s\n", typ, o.Result, o.By)
		if o.Result != "CONTINUE" || o.By != sim.ByCallback {
			errs = append(errs, fmt.Errorf("%s ended %s by %s, want CONTINUE by the agent", typ, o.Result, o.By))
		}
	}
	fmt.Fprintln(out, "  AS calls made")
	for _, k := range keys {
		fmt.Fprintf(out, "    %-30s %d\n", k, counts[k])
	}
	if counts["callback EXTEND"] == 0 {
		errs = append(errs, errors.New("the launch hook was never extended"))
	}
	return errors.Join(errs...)
}
