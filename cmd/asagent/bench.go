package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/asagent/asagent/internal/bench"
)

// benchUsage lists the subcommands of `asagent bench`.
const benchUsage = `Usage: asagent bench SUBCOMMAND [flags]

Subcommands:
  fleet      N agents in this process against one throttled simulator, on virtual time
  calls      AS API calls per instance-hour (idle, pending) beside a heartbeat-every-10s baseline
  latency    decision and launch detection latency, in real time over loopback
  footprint  idle RSS, CPU, context switches and fds of the real binary, from /proc
  report     all of the above, printed and written as Markdown (what make bench runs)

Run 'asagent bench SUBCOMMAND -h' for its flags.
`

func runBench(ctx context.Context, cio cmdIO, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(cio.stderr, benchUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(cio.stderr, benchUsage)
		return exitOK
	case "fleet":
		return runBenchFleet(ctx, cio, args[1:])
	case "footprint":
		return runBenchFootprint(ctx, cio, args[1:])
	case "calls":
		return runBenchCalls(ctx, cio, args[1:])
	case "latency":
		return runBenchLatency(ctx, cio, args[1:])
	case "report":
		return runBenchReport(ctx, cio, args[1:])
	case "sdk-idle":
		return runBenchSDKIdle(ctx, cio, args[1:])
	}
	fmt.Fprintf(cio.stderr, "asagent bench: unknown subcommand %q\n\n%s", args[0], benchUsage)
	return exitUsage
}

// fleetFlags are the command line of `asagent bench fleet`, shared with
// `asagent bench report`.
type fleetFlags struct {
	instances, waves, burst int
	throttle                float64
	waveEvery, idle, step   time.Duration
	bootSpread, throttleDel time.Duration
	seed                    uint64
}

func (f *fleetFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Uint64Var(*uint64, string, uint64, string)
}, instances bool) {
	if instances {
		fs.IntVar(&f.instances, "instances", 1000, "agents (instances) in the fleet")
	}
	fs.IntVar(&f.waves, "waves", 4, "scale-out waves, and as many scale-in waves")
	fs.DurationVar(&f.waveEvery, "wave-every", 5*time.Minute, "simulated time between waves")
	fs.DurationVar(&f.idle, "idle", 30*time.Minute, "simulated time between the last scale-out and the first scale-in")
	fs.Float64Var(&f.throttle, "throttle", 50, "the project's AS request limit per second")
	fs.IntVar(&f.burst, "burst", 0, "the throttle's burst (0: one second's worth)")
	fs.DurationVar(&f.step, "step", 100*time.Millisecond, "how far virtual time moves at once (the latencies' resolution)")
	fs.DurationVar(&f.bootSpread, "boot-spread", 40*time.Second, "each agent starts up to this long after its instance is held (negative: all at once)")
	fs.DurationVar(&f.throttleDel, "client-throttle-delay", 0, "what-if: the AS client's shortest wait after a 429 (0: its default)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the application delays and the poll jitter")
}

func (f fleetFlags) options(dir string) bench.FleetOptions {
	return bench.FleetOptions{
		Instances: f.instances, Waves: f.waves, WaveEvery: f.waveEvery, Idle: f.idle,
		Throttle: f.throttle, Burst: f.burst, Step: f.step, Seed: f.seed,
		BootSpread: f.bootSpread, ClientThrottleDelay: f.throttleDel,
		Time: bench.NewFakeTime(time.Now()), StateDir: dir,
	}
}

func runBenchFleet(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench fleet", "[--instances N] [--waves N] [--throttle R] [--step D] ...")
	var f fleetFlags
	f.register(fs, true)
	chart := fs.String("chart", "", "draw the fleet's request rate per simulated minute as SVG into FILE")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to FILE (go tool pprof)")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end of the run to FILE")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if f.instances <= 0 || f.waves <= 0 || f.throttle <= 0 || f.step <= 0 {
		fmt.Fprintln(cio.stderr, "asagent bench fleet: --instances, --waves, --throttle and --step must be positive")
		return exitUsage
	}
	dir, err := os.MkdirTemp(bench.ScratchDir(), "asagent-fleet-")
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", err)
		return exitFailed
	}
	defer os.RemoveAll(dir)
	stop, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", err)
		return exitFailed
	}
	o := f.options(dir)
	o.Progress = func(p bench.FleetProgress) { fmt.Fprintln(cio.stderr, p) }
	r, err := bench.Fleet(ctx, o)
	if perr := stop(); perr != nil {
		fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", perr)
	}
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", err)
		return exitFailed
	}
	warnUnsettled(cio, o.Time)
	bench.WriteTable(cio.stdout, r.Rows())
	if *chart != "" {
		if err := writeChart(*chart, f.throttle, []bench.FleetResult{r}); err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", err)
			return exitFailed
		}
	}
	if !r.Correct() {
		fmt.Fprintln(cio.stderr, "asagent bench fleet: correctness figures are not all as they must be")
		return exitFailed
	}
	return exitOK
}

// writeChart draws the fleets' request rates into an SVG file.
func writeChart(path string, limit float64, fleets []bench.FleetResult) error {
	var series []bench.ChartSeries
	for _, r := range fleets {
		series = append(series, bench.ChartSeries{Name: fmt.Sprintf("%d agents", r.Instances), Minutes: r.PerMinute()})
	}
	var b strings.Builder
	title := fmt.Sprintf("AS requests of the fleet per simulated minute, against the project's limit of %g/s", limit)
	if err := bench.WriteChart(&b, title, limit, series); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// startProfiles starts a CPU profile into cpuFile (if named); the returned
// stop ends it and writes a heap profile into memFile (if named), so a slow
// or large fleet run can be looked at with go tool pprof.
func startProfiles(cpuFile, memFile string) (stop func() error, err error) {
	var cpu *os.File
	if cpuFile != "" {
		if cpu, err = os.Create(cpuFile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return err
			}
		}
		if memFile == "" {
			return nil
		}
		mem, err := os.Create(memFile)
		if err != nil {
			return err
		}
		runtime.GC() // the heap as it is, not as it was at the last collection
		if err := pprof.WriteHeapProfile(mem); err != nil {
			mem.Close()
			return err
		}
		return mem.Close()
	}, nil
}

// runBenchSDKIdle is the footprint probe's baseline process: the AS client
// alone, polling like an idle agent. It is not listed in the usage: only
// `asagent bench footprint` starts it.
func runBenchSDKIdle(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench sdk-idle", "--endpoint URL --project ID --group ID --instance ID --access-key AK --secret-key SK [--interval D]")
	endpoint := fs.String("endpoint", "", "AS endpoint")
	project := fs.String("project", "", "project ID")
	group := fs.String("group", "", "scaling group ID")
	instance := fs.String("instance", "", "instance ID")
	ak := fs.String("access-key", "", "access key")
	sk := fs.String("secret-key", "", "secret key")
	interval := fs.Duration("interval", 25*time.Second, "time between two polls (the agent's idle interval)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := bench.IdleClient(ctx, *endpoint, *project, *group, *instance, *ak, *sk, *interval); err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench sdk-idle: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runBenchFootprint(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench footprint", "[--binary PATH] [--window D] [--no-baseline] [--no-metrics]")
	binary := fs.String("binary", "", "the asagent binary to measure (default: this one)")
	window := fs.Duration("window", 60*time.Second, "how long to watch the idle agent after launch completed")
	noBase := fs.Bool("no-baseline", false, "do not also watch the SDK-client-alone baseline")
	noMetrics := fs.Bool("no-metrics", false, "do not also measure the agent with metrics on")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rows, code := footprint(ctx, cio, *binary, *window, !*noBase, !*noMetrics)
	if rows == nil {
		return code
	}
	bench.WriteTable(cio.stdout, rows)
	return exitOK
}

// footprint runs the footprint probe in scratch directories: the agent
// with metrics off (and the baseline), then, with metrics, the agent with
// metrics on. It returns the report rows.
func footprint(ctx context.Context, cio cmdIO, binary string, window time.Duration, baseline, metrics bool) ([]bench.Row, int) {
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench footprint: %v\n", err)
			return nil, exitFailed
		}
		binary = exe
	}
	fmt.Fprintf(cio.stderr, "footprint: watching the idle agent for %s after launch completes\n", window)
	off, err := probeFootprint(ctx, bench.FootprintOptions{Binary: binary, Window: window, Baseline: baseline})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench footprint: %v\n", err)
		return nil, exitFailed
	}
	rows := bench.FootprintRows(off)
	if metrics {
		fmt.Fprintf(cio.stderr, "footprint: again with metrics on, scraped every %s\n", bench.MetricsScrape)
		on, err := probeFootprint(ctx, bench.FootprintOptions{Binary: binary, Window: window, Metrics: true})
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench footprint: metrics on: %v\n", err)
			return nil, exitFailed
		}
		rows = append(rows, bench.MetricsFootprintRows(on[0], off[0])...)
	}
	return rows, exitOK
}

// probeFootprint runs one footprint probe in a scratch directory.
func probeFootprint(ctx context.Context, o bench.FootprintOptions) ([]bench.Footprint, error) {
	dir, err := os.MkdirTemp("", "asagent-footprint-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Dir = dir
	return bench.ProbeFootprint(ctx, o)
}

func runBenchCalls(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench calls", "[--hours N]")
	hours := fs.Int("hours", 6, "simulated hours each case is measured over")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rows, code := calls(ctx, cio, *hours)
	if rows == nil {
		return code
	}
	bench.WriteTable(cio.stdout, rows)
	return exitOK
}

// calls runs the API-calls experiment in a scratch directory.
func calls(ctx context.Context, cio cmdIO, hours int) ([]bench.Row, int) {
	dir, err := os.MkdirTemp(bench.ScratchDir(), "asagent-calls-")
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench calls: %v\n", err)
		return nil, exitFailed
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(cio.stderr, "calls: 5 cases of %d simulated hours each\n", hours)
	rates, err := bench.Calls(ctx, bench.CallsOptions{Hours: hours, StateDir: dir,
		NewTime: func() bench.Time { return bench.NewFakeTime(time.Now()) }})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench calls: %v\n", err)
		return nil, exitFailed
	}
	return bench.CallRows(rates), exitOK
}

func runBenchLatency(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench latency", "[--runs N]")
	runs := fs.Int("runs", 200, "launches measured")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	r, code := latency(ctx, cio, *runs)
	if r == nil {
		return code
	}
	bench.WriteTable(cio.stdout, r.Rows())
	return exitOK
}

// latency runs the latency experiment; the state files are on the
// temporary directory's disk, as an agent's are on its instance's.
func latency(ctx context.Context, cio cmdIO, runs int) (*bench.LatencyResult, int) {
	dir, err := os.MkdirTemp("", "asagent-latency-")
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench latency: %v\n", err)
		return nil, exitFailed
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(cio.stderr, "latency: %d launches in real time\n", runs)
	r, err := bench.Latency(ctx, bench.LatencyOptions{Runs: runs, StateDir: dir})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench latency: %v\n", err)
		return nil, exitFailed
	}
	return &r, exitOK
}

func runBenchReport(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench report", "[--out FILE] [--go-bench FILE] [--binary PATH] [--commit C] [--window D] ...")
	out := fs.String("out", "", "write the report as Markdown to FILE (docs/benchmarks.md)")
	goBench := fs.String("go-bench", "", "output of `go test -bench -benchmem` to include")
	binary := fs.String("binary", "", "the asagent binary whose footprint is measured (default: this one)")
	commit := fs.String("commit", "", "the commit measured, for the header")
	window := fs.Duration("window", 60*time.Second, "footprint: how long to watch the idle agent")
	hours := fs.Int("hours", 6, "calls: simulated hours per case")
	runs := fs.Int("runs", 200, "latency: launches measured")
	fleetSizes := fs.String("fleets", "1000,10000", "fleet: the fleet sizes to run, comma-separated")
	var f fleetFlags
	f.register(fs, false)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	sizes, err := parseSizes(*fleetSizes)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench report: --fleets: %v\n", err)
		return exitUsage
	}
	started := time.Now().UTC()
	var sections []reportSection
	if *goBench != "" {
		file, err := os.Open(*goBench)
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: %v\n", err)
			return exitFailed
		}
		bs, err := bench.ParseGoBench(file)
		file.Close()
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: %s: %v\n", *goBench, err)
			return exitFailed
		}
		sections = append(sections, reportSection{"Go benchmarks", bench.GoBenchRows(bs)})
	}
	fpRows, code := footprint(ctx, cio, *binary, *window, true, true)
	if fpRows == nil {
		return code
	}
	sections = append(sections, reportSection{"Idle footprint of the real binary", fpRows})
	callRows, code := calls(ctx, cio, *hours)
	if callRows == nil {
		return code
	}
	sections = append(sections, reportSection{"AS API calls", callRows})
	lat, code := latency(ctx, cio, *runs)
	if lat == nil {
		return code
	}
	sections = append(sections, reportSection{"Latency", lat.Rows()})
	fleets, code := runFleets(ctx, cio, f, sizes)
	for _, fr := range fleets {
		sections = append(sections, reportSection{fmt.Sprintf("Fleet of %d agents", fr.Instances), fr.Rows()})
	}
	for _, s := range sections {
		fmt.Fprintf(cio.stdout, "\n== %s\n", s.title)
		bench.WriteTable(cio.stdout, s.rows)
	}
	if code != exitOK {
		return code
	}
	if *out != "" {
		chart := filepath.Join(filepath.Dir(*out), fleetChart)
		if err := writeChart(chart, f.throttle, fleets); err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: %v\n", err)
			return exitFailed
		}
		if err := writeReport(*out, started, *commit, f, sizes, sections); err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(cio.stderr, "wrote %s and %s\n", *out, chart)
	}
	for _, fr := range fleets {
		if !fr.Correct() {
			fmt.Fprintf(cio.stderr, "asagent bench report: the %d-agent fleet's correctness figures are not all as they must be\n", fr.Instances)
			return exitFailed
		}
	}
	return exitOK
}

// fleetChart is the rate chart's file, beside the report.
const fleetChart = "fleet-rate.svg"

// parseSizes reads "1000,10000".
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number of agents", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// runFleets runs a fleet of each size, one after the other.
func runFleets(ctx context.Context, cio cmdIO, f fleetFlags, sizes []int) ([]bench.FleetResult, int) {
	var out []bench.FleetResult
	for _, n := range sizes {
		dir, err := os.MkdirTemp(bench.ScratchDir(), "asagent-fleet-")
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: %v\n", err)
			return out, exitFailed
		}
		f.instances = n
		o := f.options(dir)
		o.Progress = func(p bench.FleetProgress) { fmt.Fprintf(cio.stderr, "fleet %d: %s\n", n, p) }
		fr, err := bench.Fleet(ctx, o)
		os.RemoveAll(dir)
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench report: fleet of %d: %v\n", n, err)
			return out, exitFailed
		}
		warnUnsettled(cio, o.Time)
		out = append(out, fr)
	}
	return out, exitOK
}

// warnUnsettled says when virtual time had to move on before the process
// was quiet: the figures are then less exact than the step says.
func warnUnsettled(cio cmdIO, t bench.Time) {
	if ft, ok := t.(*bench.FakeTime); ok && ft.Unsettled() > 0 {
		fmt.Fprintf(cio.stderr, "warning: %d steps of virtual time moved on before the process was quiet\n", ft.Unsettled())
	}
}

// reportSection is one titled table of the report.
type reportSection struct {
	title string
	rows  []bench.Row
}

// writeReport writes docs/benchmarks.md: a header naming the machine, the
// date and the commit, one table per section, and how each was measured.
func writeReport(path string, at time.Time, commit string, f fleetFlags, sizes []int, sections []reportSection) error {
	var b strings.Builder
	fmt.Fprintln(&b, "# Benchmarks")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Generated by `make bench` (`asagent bench report`); do not edit by hand.")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "- machine: %s\n", bench.Machine())
	fmt.Fprintf(&b, "- date: %s\n", at.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- commit: %s\n", commitOr(commit))
	for _, s := range sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		bench.WriteMarkdown(&b, s.rows)
	}
	fmt.Fprintf(&b, "\n## The fleets' request rate\n\n![AS requests per simulated minute of each fleet against the limit](%s)\n", fleetChart)
	var names []string
	for _, n := range sizes {
		names = append(names, strconv.Itoa(n))
	}
	fmt.Fprintf(&b, "\n## How each figure is measured\n\n%s", strings.ReplaceAll(reportMethod,
		"{{FLEET}}", fmt.Sprintf("%s agents, %d scale-out and %d scale-in waves %s apart, %s idle between, each agent starting up to %s after its hold, a throttle of %.0f requests/s (burst %s), virtual-time step %s",
			strings.Join(names, " and "), f.waves, f.waves, f.waveEvery, f.idle, f.bootSpread, f.throttle, burstString(f), f.step)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func commitOr(c string) string {
	if c == "" {
		return "unknown"
	}
	return c
}

func burstString(f fleetFlags) string {
	if f.burst <= 0 {
		return "one second's worth"
	}
	return fmt.Sprint(f.burst)
}

// reportMethod says how each section was measured.
const reportMethod = `- **Go benchmarks**: ` + "`go test -bench . -benchmem`" + ` of the packages that have them;
  ` + "`checks.BenchmarkExecAttempt`" + ` is one exec check attempt from spawn to classified result,
  ` + "`checks.BenchmarkParallel100`" + ` a parallel phase of 100 exec checks.
- **Footprint**: the real binary (` + "`make build`" + `): ` + "`asagent sim`" + ` with its default scenario (this
  instance held by a launch hook; the group also has a terminate hook) and ` + "`asagent run`" + ` with a
  launch check that passes at once and the default poll timings. Once the simulator has
  accepted the launch CONTINUE, /proc/PID/{status,stat,task/*/status,fd} are read every
  second for the window: RSS at the end and the most seen, CPU time (utime+stime, 10 ms
  resolution) over the window, context switches of all threads (a proxy for wakeups).
  The baseline is ` + "`asagent bench sdk-idle`" + `: the AS client (the official SDK) alone, listing
  the held hooks every 25 s like the idle agent, watched over the same window. The
  "metrics on" rows run the same again with ` + "`metrics.listen`" + ` (loopback, scraped every 15 s
  as Prometheus would) and ` + "`metrics.textfile`" + `, against the metrics-off figures.
- **AS API calls**: one instance per simulator on virtual time (one clock shared by the
  simulator, the AS client and the engine), counted from the simulator's request
  record over 6 simulated hours per case. Idle cases start one hour after the launch was
  answered; the pending case removes the instance and never lets its drain check pass
  (terminate hook: default timeout 3600 s; each EXTEND adds 3600 s). The baseline agent
  sends one call every 10 s: a held-hook list while idle, an EXTEND (heartbeat) while a
  hook holds it, as buildkite/lifecycled heartbeats.
- **Latency**: real time, the real engine and AS client against the simulator over
  loopback HTTP, one launch after another: each agent starts with its launch hook already
  held. Detection is agent start to its first check starting; decision is the check
  passing (the checks runner returning its verdict) to the CONTINUE request arriving at
  the simulator. The state file (written with fsync before the result is sent) is on the
  temporary directory's disk.
- **Fleet**: {{FLEET}}. Every agent is a real engine with its default configuration, its own
  instance ID, AS client and state directory (on tmpfs), all in one process against one
  simulator, over an in-memory transport, on a virtual clock advanced step by step once
  the process is quiet (steps in which no timer is due are skipped). Checks are signal
  checks (the driver raises ready / drained 5 to 90 s after each hold), so the agents fork
  no processes. The scenario's group has one launch and one terminate hook, each with a
  one-hour timeout. Request rates count every AS request the simulator answered, 429s
  included, per simulated second; the chart shows their mean over each simulated minute.
  A wave's time runs from its instances being held (added, or removed) to the last of its
  holds answered CONTINUE. Its floor is the longer of 2W/R (one poll that sees the hold and
  one answer for each of its W instances, at the limit R) and the time until its slowest
  application said ready (or drained): no agent may answer before its application. The
  idle rate is the mean over the spell from the last launch wave answered to the first
  scale-in. Go memory is the runtime's total, sampled every simulated minute: the bench's
  own, not an agent's.
`
