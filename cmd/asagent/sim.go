package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	listen, accessKey, secretKey, scenario string
	extendBy, minHookTimeout, credLifetime time.Duration
	unknowns                               *unknownsFlags
}

func runSim(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "sim", "[--listen ADDR] [--access-key AK --secret-key SK] [--scenario FILE] [--extend-by D] [--min-hook-timeout D] [unknowns...]")
	var f simFlags
	fs.StringVar(&f.listen, "listen", simDefaultListen, "address serving both the metadata paths and the AS API (port 0 picks a free port)")
	fs.StringVar(&f.accessKey, "access-key", "", "permanent access key the AS API accepts (without it, only securitykey credentials work)")
	fs.StringVar(&f.secretKey, "secret-key", "", "secret key of --access-key")
	fs.StringVar(&f.scenario, "scenario", "", "YAML scenario file (default: one group with a launch and a terminate hook, this instance held in PENDING_WAIT)")
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
	s, code := newSim(cio, f)
	if s == nil {
		return code
	}
	return serveSim(ctx, cio, s, f)
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
func serveSim(ctx context.Context, cio cmdIO, s *sim.Sim, f simFlags) int {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim: %v\n", err)
		return exitFailed
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(cio.stdout, "listening on %s\n", url)
	printAgentSnippet(cio.stdout, s, url, f)

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

// printAgentSnippet prints an agent.yaml fragment that points an agent at
// the simulator. The secret key appears here, on stdout, for the user who
// passed it on the command line; it never goes to the request log.
func printAgentSnippet(w io.Writer, s *sim.Sim, url string, f simFlags) {
	fmt.Fprintf(w, "# agent.yaml for this simulator (this instance: %s)\n", s.LocalInstanceID())
	fmt.Fprintln(w, "cloud:")
	fmt.Fprintf(w, "  metadata_endpoint: %s\n", url)
	fmt.Fprintf(w, "  as_endpoint: %s\n", url)
	fmt.Fprintf(w, "  region: %s\n", s.Region())
	fmt.Fprintf(w, "  project_id: %s\n", s.ProjectID())
	// The local instance's group; else the first one, where ADD would put it.
	if g, ok := s.GroupOf(s.LocalInstanceID()); ok {
		fmt.Fprintf(w, "  scaling_group_id: %s\n", g)
	} else if gs := s.GroupIDs(); len(gs) > 0 {
		fmt.Fprintf(w, "  scaling_group_id: %s\n", gs[0])
	}
	if f.accessKey != "" {
		fmt.Fprintln(w, "  credentials:")
		fmt.Fprintf(w, "    access_key: %s\n", f.accessKey)
		fmt.Fprintf(w, "    secret_key: %s\n", f.secretKey)
	}
}
