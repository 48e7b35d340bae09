package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asagent/asagent/internal/syncbuf"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/backoff"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/sim"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture the agent ships for.
const clockTicks = 100

// Sample is one reading of a process from /proc.
type Sample struct {
	RSSKB, PeakRSSKB int64         // VmRSS, VmHWM
	CPU              time.Duration // utime + stime
	Switches         int64         // voluntary + involuntary context switches, all threads
	FDs, Threads     int
}

// ReadProc reads a process's Sample from /proc (Linux only).
func ReadProc(pid int) (Sample, error) {
	var s Sample
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSSKB = n
		case "VmHWM":
			s.PeakRSSKB = n
		case "Threads":
			s.Threads = int(n)
		}
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of the whole line
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				s.Switches += n
			}
		}
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// Footprint is what a process used over a sampling window.
type Footprint struct {
	Name      string
	Window    time.Duration
	RSSKB     int64 // at the end
	MaxRSSKB  int64 // the most seen at any sample in the window
	PeakRSSKB int64 // VmHWM: the most ever, start-up included
	CPU       time.Duration
	Switches  int64 // context switches in the window, all threads
	FDs       int   // at the end
	Threads   int
}

// CPUPercent is CPU time over the window, in percent of one core.
func (f Footprint) CPUPercent() float64 {
	if f.Window <= 0 {
		return 0
	}
	return 100 * f.CPU.Seconds() / f.Window.Seconds()
}

// SwitchesPerSecond is the rate of context switches: a proxy for wakeups.
func (f Footprint) SwitchesPerSecond() float64 {
	if f.Window <= 0 {
		return 0
	}
	return float64(f.Switches) / f.Window.Seconds()
}

// Watch samples the processes every interval for window and returns each
// one's footprint over it.
func Watch(ctx context.Context, names []string, pids []int, window, interval time.Duration) ([]Footprint, error) {
	first := make([]Sample, len(pids))
	out := make([]Footprint, len(pids))
	for i, pid := range pids {
		s, err := ReadProc(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		first[i] = s
		out[i] = Footprint{Name: names[i], MaxRSSKB: s.RSSKB}
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		elapsed := time.Since(start)
		for i, pid := range pids {
			s, err := ReadProc(pid)
			if err != nil {
				return nil, fmt.Errorf("%s exited during the window: %w", names[i], err)
			}
			f := &out[i]
			f.Window, f.RSSKB, f.PeakRSSKB, f.FDs, f.Threads = elapsed, s.RSSKB, s.PeakRSSKB, s.FDs, s.Threads
			f.MaxRSSKB = max(f.MaxRSSKB, s.RSSKB)
			f.CPU, f.Switches = s.CPU-first[i].CPU, s.Switches-first[i].Switches
		}
		if elapsed >= window {
			return out, nil
		}
	}
}

// baselineSettle is how long the baseline runs after its first call
// before it is watched: the agent, too, is watched only once idle.
const baselineSettle = 3 * time.Second

// FootprintOptions shape the footprint probe.
type FootprintOptions struct {
	// Binary is the asagent binary to run (required).
	Binary string
	// Window is how long the idle agent is watched after launch completed (60s).
	Window time.Duration
	// Interval is the time between two samples (1s).
	Interval time.Duration
	// Dir is a scratch directory for the config, state and logs (required).
	Dir string
	// Baseline also runs `asagent bench sdk-idle` (the SDK's AS client
	// alone, polling at the agent's idle interval) and watches it alike.
	Baseline bool
	// Metrics runs the agent with metrics on: /metrics on loopback,
	// scraped every MetricsScrape as Prometheus would, and a textfile.
	Metrics bool
}

// MetricsScrape is how often the footprint probe scrapes an agent with
// metrics on: a common Prometheus scrape_interval (its default is 1m).
const MetricsScrape = 15 * time.Second

// footprintMetricsYAML turns the agent's metrics on.
const footprintMetricsYAML = `metrics:
  listen: 127.0.0.1:0
  textfile: {{DIR}}/textfile/asagent.prom
`

// footprintAgentYAML is the agent's config: the simulator for everything,
// a launch check that passes at once, the default poll timings.
const footprintAgentYAML = `cloud:
  metadata_endpoint: {{URL}}
  as_endpoint: {{URL}}
  credentials:
    access_key: {{AK}}
    secret_key: {{SK}}
launch:
  scripts_dir: {{DIR}}/launch.d
  checks:
    - name: config-present
      type: file
      path: {{DIR}}/agent.yaml
terminate:
  scripts_dir: {{DIR}}/terminate.d
include_dir: {{DIR}}/conf.d
insecure_dropins: true
state_dir: {{DIR}}/state
control_socket: {{DIR}}/agent.sock
log:
  level: info
  format: json
`

// ProbeFootprint runs the real binary as users do: `asagent sim` (the
// default scenario: this instance held by a launch hook, the group has a
// terminate hook) and `asagent run` against it. Once the launch hook is
// answered CONTINUE, it watches the idle agent (and the baseline) for the
// window. The processes are stopped before it returns.
func ProbeFootprint(ctx context.Context, o FootprintOptions) ([]Footprint, error) {
	if o.Binary == "" || o.Dir == "" {
		return nil, errors.New("bench: FootprintOptions.Binary and Dir are required")
	}
	if o.Window <= 0 {
		o.Window = 60 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	for _, d := range []string{"launch.d", "terminate.d", "conf.d", "state"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	simLog := &lockedBuffer{}
	simCmd := exec.Command(o.Binary, "sim", "--listen", "127.0.0.1:0", "--access-key", benchAK, "--secret-key", benchSK)
	simCmd.Stderr = simLog
	stdout, err := simCmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := simCmd.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(simCmd)
	url, err := readListening(stdout, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("asagent sim: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	cfgPath := filepath.Join(o.Dir, "agent.yaml")
	cfg := footprintAgentYAML
	if o.Metrics {
		cfg += footprintMetricsYAML
	}
	cfg = strings.NewReplacer("{{URL}}", url, "{{AK}}", benchAK, "{{SK}}", benchSK, "{{DIR}}", o.Dir).Replace(cfg)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	agentLog, err := os.Create(filepath.Join(o.Dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	defer agentLog.Close()
	runCmd := exec.Command(o.Binary, "run", "--config", cfgPath)
	runCmd.Stdout, runCmd.Stderr = agentLog, agentLog
	runCmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := runCmd.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(runCmd)
	if err := waitFor(ctx, 60*time.Second, func() bool { return strings.Contains(simLog.String(), "result=CONTINUE -> 2") }); err != nil {
		return nil, fmt.Errorf("the launch hook was not answered CONTINUE: %w (see %s)", err, agentLog.Name())
	}
	names, pids := []string{"asagent run (idle after launch)"}, []int{runCmd.Process.Pid}
	if o.Metrics {
		stop, err := scrapeMetrics(ctx, agentLog.Name())
		if err != nil {
			return nil, err
		}
		defer stop()
		names[0] = "asagent run with metrics on (idle after launch)"
	}
	if o.Baseline {
		polls := func() int { return strings.Count(simLog.String(), string(sim.RouteListHookInstances)) }
		before := polls()
		base := exec.Command(o.Binary, "bench", "sdk-idle", "--endpoint", url, "--project", sim.DefaultProjectID,
			"--group", sim.DefaultGroupID, "--instance", sim.DefaultInstanceID, "--access-key", benchAK, "--secret-key", benchSK)
		base.Stdout, base.Stderr = io.Discard, io.Discard
		if err := base.Start(); err != nil {
			return nil, err
		}
		defer stopProcess(base)
		// Let it make its first call and settle, so it is idle as the agent is.
		if err := waitFor(ctx, 30*time.Second, func() bool { return polls() > before }); err != nil {
			return nil, fmt.Errorf("baseline: no call: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(baselineSettle):
		}
		names, pids = append(names, "baseline: the SDK's AS client alone, polling every 25s"), append(pids, base.Process.Pid)
	}
	return Watch(ctx, names, pids, o.Window, o.Interval)
}

// scrapeMetrics finds the address the agent serves /metrics on in its log
// and scrapes it every MetricsScrape until stop is called.
func scrapeMetrics(ctx context.Context, logPath string) (stop func(), err error) {
	var addr string
	err = waitFor(ctx, 10*time.Second, func() bool {
		data, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(data), "\n") {
			var l struct{ Message, Listen string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "serving metrics on /metrics" {
				addr = l.Listen
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("the agent does not say where it serves /metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(MetricsScrape)
		defer tick.Stop()
		for {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// IdleClient is the footprint's baseline: the AS client (the official SDK
// underneath) and nothing else, listing the held hooks every interval
// like an idle agent, until ctx ends.
func IdleClient(ctx context.Context, endpoint, project, group, instance, ak, sk string, interval time.Duration) error {
	creds, err := metadata.NewStatic(metadata.Credentials{AccessKey: ak, SecretKey: metadata.Secret(sk)})
	if err != nil {
		return err
	}
	c, err := asclient.New(asclient.Options{Endpoint: endpoint, ProjectID: project, Credentials: creds, Backoff: backoff.Default(), Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	for {
		_, _ = c.HeldHooks(ctx, group, instance)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// readListening reads the simulator's "listening on URL" line.
func readListening(r io.Reader, limit time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				found <- strings.TrimSpace(u)
				return
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			return "", errors.New("exited before listening")
		}
		return u, nil
	case <-time.After(limit):
		return "", fmt.Errorf("not listening after %s", limit)
	}
}

// waitFor polls cond every 50 ms until it holds, for at most limit.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			return fmt.Errorf("still waiting after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// stopProcess asks the process to stop, then kills it if it has not
// within 10 s.
func stopProcess(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

// lockedBuffer captures output while it is read (see package syncbuf).
type lockedBuffer = syncbuf.Buffer

// FootprintRows are the footprint figures as report rows; the first
// footprint is the agent's, a second one its baseline.
func FootprintRows(fs []Footprint) []Row {
	if len(fs) == 0 {
		return nil
	}
	a := fs[0]
	var b *Footprint
	if len(fs) > 1 {
		b = &fs[1]
	}
	base := func(f func(Footprint) string) string {
		if b == nil {
			return ""
		}
		return f(*b)
	}
	mb := func(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	w := a.Window.Round(time.Second)
	return []Row{
		{Figure: fmt.Sprintf("idle RSS of asagent run (end of %s; most seen)", w), Value: mb(a.RSSKB) + "; " + mb(a.MaxRSSKB),
			Baseline: base(func(f Footprint) string { return mb(f.RSSKB) }), Goal: "<= 15 MB", Verdict: verdict(a.MaxRSSKB <= 15*1024)},
		{Figure: "peak RSS of asagent run since start (VmHWM)", Value: mb(a.PeakRSSKB), Baseline: base(func(f Footprint) string { return mb(f.PeakRSSKB) })},
		{Figure: fmt.Sprintf("idle CPU of asagent run over %s", w), Value: cpuString(a),
			Baseline: base(cpuString), Goal: "<= 0.05%", Verdict: verdict(a.CPUPercent() <= 0.05)},
		{Figure: "idle context switches (all threads)", Value: fmt.Sprintf("%.2f/s", a.SwitchesPerSecond()),
			Baseline: base(func(f Footprint) string { return fmt.Sprintf("%.2f/s", f.SwitchesPerSecond()) })},
		{Figure: "open fds, threads", Value: fmt.Sprintf("%d, %d", a.FDs, a.Threads),
			Baseline: base(func(f Footprint) string { return fmt.Sprintf("%d, %d", f.FDs, f.Threads) })},
	}
}

// MetricsFootprintRows are the figures of the agent with metrics on,
// against the same agent with metrics off as their baseline.
func MetricsFootprintRows(on, off Footprint) []Row {
	mb := func(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	w := on.Window.Round(time.Second)
	return []Row{
		{Figure: fmt.Sprintf("metrics on: idle RSS of asagent run (end of %s; most seen), scraped every %s", w, MetricsScrape),
			Value: mb(on.RSSKB) + "; " + mb(on.MaxRSSKB), Baseline: mb(off.RSSKB) + " (metrics off)", Goal: "<= 15 MB", Verdict: verdict(on.MaxRSSKB <= 15*1024)},
		{Figure: "metrics on: peak RSS since start (VmHWM)", Value: mb(on.PeakRSSKB), Baseline: mb(off.PeakRSSKB)},
		{Figure: fmt.Sprintf("metrics on: idle CPU over %s", w), Value: cpuString(on), Baseline: cpuString(off), Goal: "<= 0.05%", Verdict: verdict(on.CPUPercent() <= 0.05)},
		{Figure: "metrics on: idle context switches (all threads)", Value: fmt.Sprintf("%.2f/s", on.SwitchesPerSecond()), Baseline: fmt.Sprintf("%.2f/s", off.SwitchesPerSecond())},
		{Figure: "metrics on: open fds, threads", Value: fmt.Sprintf("%d, %d", on.FDs, on.Threads), Baseline: fmt.Sprintf("%d, %d", off.FDs, off.Threads)},
	}
}

// cpuString is the CPU share over the window; a share below /proc's 10 ms
// resolution is shown as a bound.
func cpuString(f Footprint) string {
	if f.CPU == 0 {
		return fmt.Sprintf("< %.3f%% of a core (0 ticks of 10ms)", 100*(time.Second/clockTicks).Seconds()/f.Window.Seconds())
	}
	return fmt.Sprintf("%.3f%% of a core (%s)", f.CPUPercent(), f.CPU)
}
