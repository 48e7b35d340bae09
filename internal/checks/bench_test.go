//go:build !windows

package checks

import (
	"context"
	"strconv"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
)

// BenchmarkExecAttempt measures one attempt of a script check, from spawn
// to classified result: process group, clean environment, captured output.
func BenchmarkExecAttempt(b *testing.B) {
	path := writeScript(b, b.TempDir(), "ok", "echo ready", 0o755)
	pr := &execProber{argv: []string{path}}
	a := attempt{n: 1, log: zerolog.Nop(), grace: DefaultKillGrace}
	ctx := context.Background()
	for b.Loop() {
		if out := pr.probe(ctx, a); out.kind != pass {
			b.Fatalf("attempt: %+v", out)
		}
	}
}

// BenchmarkParallel100 measures a parallel phase of 100 script checks that
// all pass at their first attempt: the phase's overhead plus 100 spawns
// competing for the machine's cores.
func BenchmarkParallel100(b *testing.B) {
	dir := b.TempDir()
	var checks []config.Check
	for i := range 100 {
		name := "check-" + strconv.Itoa(i)
		checks = append(checks, execCheck(name, writeScript(b, dir, name, "echo ready", 0o755)))
	}
	opts := Options{Clock: clockwork.NewRealClock(), Log: zerolog.Nop()}
	for b.Loop() {
		p := NewPhase("launch", fastPhase(config.Parallel), checks, opts)
		if v := p.Run(context.Background()); v.State != Passed {
			b.Fatalf("verdict %+v", v)
		}
	}
}
