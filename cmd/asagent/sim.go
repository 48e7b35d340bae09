package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// simDefaultListen is loopback on purpose: 169.254.169.254 belongs to the
// machine's real metadata service unless a test created a network namespace
// where the simulator may own it (then pass --listen 169.254.169.254:80).
const simDefaultListen = "127.0.0.1:8469"

// simSweepInterval is how often the standalone simulator applies hook
// timeouts by itself, so that they show in its log without a request.
const simSweepInterval = time.Second

// simShutdownTimeout bounds the wait for requests in flight at exit.
const simShutdownTimeout = 5 * time.Second

// simFlags are the command line of `asagent sim`.
type simFlags struct {
	listen, accessKey, secretKey, scenario, workdir string
	extendBy, minHookTimeout, credLifetime          time.Duration
	unknowns                                        *unknownsFlags
}

// simSynopsis is the usage line of `asagent sim`: the server, and the
// commands that drive a running one.
const simSynopsis = `[--workdir DIR] [--listen ADDR] [--access-key AK --secret-key SK] [--scenario FILE] [--extend-by D] [--min-hook-timeout D] [unknowns...]
       asagent sim scale-out|scale-in|status [--sim URL]
       asagent sim complete --result CONTINUE|ABANDON|EXTEND [--hook NAME] [--sim URL]`

func runSim(ctx context.Context, cio cmdIO, args []string) int {
	if len(args) > 0 && isSimControl(args[0]) {
		return runSimControl(ctx, cio, args[0], args[1:])
	}
	fs := newFlags(cio, "sim", simSynopsis)
	var f simFlags
	fs.StringVar(&f.workdir, "workdir", "", "rehearsal directory: agent.yaml, scenario.yaml, launch.d, terminate.d, conf.d and state are created there where missing (default: a temporary one, removed at exit)")
	fs.StringVar(&f.listen, "listen", simDefaultListen, "address serving both the metadata paths and the AS API (port 0 picks a free port)")
	fs.StringVar(&f.accessKey, "access-key", "", "permanent access key the AS API accepts (without it, only securitykey credentials work)")
	fs.StringVar(&f.secretKey, "secret-key", "", "secret key of --access-key")
	fs.StringVar(&f.scenario, "scenario", "", "YAML scenario file, docs/simulator.md (default: with --workdir, DIR/scenario.yaml, this instance outside the group until scale-out; else one group with a launch and a terminate hook, this instance held in PENDING_WAIT)")
	fs.DurationVar(&f.extendBy, "extend-by", sim.DefaultExtendBy, "how far EXTEND moves a hook's timeout")
	fs.DurationVar(&f.minHookTimeout, "min-hook-timeout", sim.DefaultMinHookTimeout, "lowest default_timeout a hook may have (whole seconds)")
	fs.DurationVar(&f.credLifetime, "credential-lifetime", sim.DefaultCredentialLifetime, "lifetime of securitykey credentials")
	f.unknowns = addUnknownsFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if (f.accessKey == "") != (f.secretKey == "") {
		fmt.Fprintln(cio.stderr, "asagent sim: --access-key and --secret-key go together")
		return exitUsage
	}
	if f.extendBy <= 0 || f.minHookTimeout <= 0 || f.credLifetime <= 0 {
		fmt.Fprintln(cio.stderr, "asagent sim: --extend-by, --min-hook-timeout and --credential-lifetime must be positive")
		return exitUsage
	}
	w, err := prepareWorkdir(f.workdir)
	if w.tmp {
		defer os.RemoveAll(w.dir)
	}
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	}
	if f.workdir != "" && f.scenario == "" {
		if _, err := writeIfMissing(w.scenario(), []byte(rehearsalScenario())); err != nil {
			fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
			return exitFailed
		}
		f.scenario = w.scenario()
	}
	s, code := newSim(cio, f)
	if s == nil {
		return code
	}
	return serveSim(ctx, cio, s, f, w)
}

// newSim builds the simulator from the flags; a bad scenario is a
// configuration error.
func newSim(cio cmdIO, f simFlags) (*sim.Sim, int) {
	sc := sim.DefaultScenario()
	if f.scenario != "" {
		var err error
		if sc, err = sim.LoadScenario(f.scenario); err != nil {
			fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
			return nil, exitConfig
		}
	}
	if err := f.unknowns.apply(&sc.Unknowns); err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return nil, exitUsage
	}
	if d := describeUnknowns(sc.Unknowns); d != "" {
		fmt.Fprintf(cio.stderr, "asagent sim: playing unknowns: %s\n", d)
	}
	s, err := sim.New(sim.Options{
		AccessKey: f.accessKey, SecretKey: f.secretKey, Scenario: sc, Log: cio.stderr,
		ExtendBy: f.extendBy, MinHookTimeout: f.minHookTimeout, CredentialLifetime: f.credLifetime,
	})
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return nil, exitConfig
	}
	return s, exitOK
}

// serveSim serves until ctx is cancelled (SIGINT/SIGTERM), then stops
// cleanly.
func serveSim(ctx context.Context, cio cmdIO, s *sim.Sim, f simFlags, w workdir) int {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(cio.stdout, "listening on %s\n", url)
	if err := writeAgentConfig(cio.stdout, w, s, url, f); err != nil {
		ln.Close()
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	}

	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go sweepUntilDone(ctx, s)

	select {
	case err := <-served:
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), simShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: shutdown: %v\n", err)
		return exitFailed
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(cio.stderr, "asagent sim: stopped")
	return exitOK
}

// sweepUntilDone applies hook timeouts every second until ctx ends.
func sweepUntilDone(ctx context.Context, s *sim.Sim) {
	t := time.NewTicker(simSweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}
