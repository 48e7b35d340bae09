package checks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/asagent/asagent/internal/config"
)

// Every test must leave no goroutine behind: a phase that returns has
// stopped all of its checks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLog sends a test's logs to t.Log.
func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// writeScript writes a /bin/sh script with body into dir and returns its path.
func writeScript(t testing.TB, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is subject to the umask; tests need it exact.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// execCheck is a declarative exec check that runs path.
func execCheck(name, path string) config.Check {
	return config.Check{Name: name, Type: config.TypeExec, Command: []string{path}}
}

// fastPhase is a phase config with a short real-time timeout, for tests.
func fastPhase(mode config.Mode) config.Phase {
	return config.Phase{
		Mode:     mode,
		MaxWait:  config.Duration(time.Hour),
		Interval: config.Duration(5 * time.Second),
		Timeout:  config.Duration(10 * time.Second),
	}
}

// testOptions are options with a fake clock and a short kill grace.
func testOptions(t testing.TB, clock clockwork.Clock) Options {
	return Options{Clock: clock, Log: testLog(t), KillGrace: 200 * time.Millisecond}
}

// drive runs p on the fake clock: whenever waiters timers are pending it
// advances the clock by step, until Run returns. waiters is the number of
// clock timers that the phase holds while every still-pending check sleeps
// (see Phase's doc), which the test knows from its setup.
func drive(t *testing.T, clock *clockwork.FakeClock, p *Phase, waiters int, step time.Duration) Verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	finished := make(chan struct{})
	var v Verdict
	go func() {
		defer close(finished)
		v = p.Run(ctx)
	}()
	blockCtx, stopBlocking := context.WithCancel(ctx)
	go func() {
		<-finished
		stopBlocking()
	}()
	for clock.BlockUntilContext(blockCtx, waiters) == nil {
		clock.Advance(step)
	}
	<-finished
	if ctx.Err() != nil {
		t.Fatalf("phase did not decide within the test's deadline: %+v", p.Status())
	}
	return v
}

// checkStatus returns the status of the check called name.
func checkStatus(t *testing.T, p *Phase, name string) CheckStatus {
	t.Helper()
	for _, c := range p.Status().Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, p.Status())
	return CheckStatus{}
}
