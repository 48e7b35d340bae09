package main

import (
	"context"
	"fmt"
	"os"
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
	seed                    uint64
}

func (f *fleetFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Uint64Var(*uint64, string, uint64, string)
}) {
	fs.IntVar(&f.instances, "instances", 1000, "agents (instances) in the fleet")
	fs.IntVar(&f.waves, "waves", 4, "scale-out waves, and as many scale-in waves")
	fs.DurationVar(&f.waveEvery, "wave-every", 5*time.Minute, "simulated time between waves")
	fs.DurationVar(&f.idle, "idle", 30*time.Minute, "simulated time between the last scale-out and the first scale-in")
	fs.Float64Var(&f.throttle, "throttle", 50, "the project's AS request limit per second")
	fs.IntVar(&f.burst, "burst", 0, "the throttle's burst (0: one second's worth)")
	fs.DurationVar(&f.step, "step", 100*time.Millisecond, "how far virtual time moves at once (the latencies' resolution)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the application delays and the poll jitter")
}

func (f fleetFlags) options(dir string) bench.FleetOptions {
	return bench.FleetOptions{
		Instances: f.instances, Waves: f.waves, WaveEvery: f.waveEvery, Idle: f.idle,
		Throttle: f.throttle, Burst: f.burst, Step: f.step, Seed: f.seed,
		Time: bench.NewFakeTime(time.Now()), StateDir: dir,
	}
}

func runBenchFleet(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "bench fleet", "[--instances N] [--waves N] [--throttle R] [--step D] ...")
	var f fleetFlags
	f.register(fs)
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
	o := f.options(dir)
	o.Progress = func(p bench.FleetProgress) { fmt.Fprintln(cio.stderr, p) }
	r, err := bench.Fleet(ctx, o)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench fleet: %v\n", err)
		return exitFailed
	}
	bench.WriteTable(cio.stdout, r.Rows())
	if !r.Correct() {
		fmt.Fprintln(cio.stderr, "asagent bench fleet: correctness figures are not all as they must be")
		return exitFailed
	}
	return exitOK
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
	fs := newFlags(cio, "bench footprint", "[--binary PATH] [--window D] [--no-baseline]")
	binary := fs.String("binary", "", "the asagent binary to measure (default: this one)")
	window := fs.Duration("window", 60*time.Second, "how long to watch the idle agent after launch completed")
	noBase := fs.Bool("no-baseline", false, "do not also watch the SDK-client-alone baseline")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fps, code := footprint(ctx, cio, *binary, *window, !*noBase)
	if fps == nil {
		return code
	}
	bench.WriteTable(cio.stdout, bench.FootprintRows(fps))
	return exitOK
}

// footprint runs the footprint probe in a scratch directory.
func footprint(ctx context.Context, cio cmdIO, binary string, window time.Duration, baseline bool) ([]bench.Footprint, int) {
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(cio.stderr, "asagent bench footprint: %v\n", err)
			return nil, exitFailed
		}
		binary = exe
	}
	dir, err := os.MkdirTemp("", "asagent-footprint-")
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench footprint: %v\n", err)
		return nil, exitFailed
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(cio.stderr, "footprint: watching the idle agent for %s after launch completes\n", window)
	fps, err := bench.ProbeFootprint(ctx, bench.FootprintOptions{Binary: binary, Window: window, Dir: dir, Baseline: baseline})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent bench footprint: %v\n", err)
		return nil, exitFailed
	}
	return fps, exitOK
}
