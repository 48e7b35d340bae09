package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/trust"
)

// kind is what one attempt said.
type kind int

const (
	notYet kind = iota // try again at the next interval
	pass
	giveUp // fail the phase now
	refuse // a drop-in that may not run (any more)
)

// outcome is the result of one attempt.
type outcome struct {
	kind        kind
	output      string // the tail of the output, valid UTF-8, at most OutputCap bytes and a marker
	outputBytes int64
	err         error // why it did not pass
}

// attempt is what a prober learns about the attempt it runs.
type attempt struct {
	n     int // 1 for the first attempt of the check in this run
	env   Env
	log   zerolog.Logger // carries phase and check
	grace time.Duration
}

// prober runs one attempt of a check. ctx carries the attempt's timeout (in
// real time) and the phase's cancellation.
type prober interface {
	probe(ctx context.Context, a attempt) outcome
}

// waker is a prober that can end the wait between attempts early: a signal
// check wakes when its signal is raised. The channel must be taken before the
// attempt, so that a wake-up during the attempt is not lost.
type waker interface {
	wake() <-chan struct{}
}

// brokenProber stands for a check that cannot work as configured; the loader
// should have rejected it, so it fails the phase rather than wait forever.
type brokenProber struct{ err error }

func (b brokenProber) probe(context.Context, attempt) outcome {
	return outcome{kind: giveUp, err: b.err}
}

// newProber builds the prober for a spec whose defaults are filled.
func newProber(s spec, opts Options) prober {
	c := s.check
	if s.script != "" {
		return &execProber{script: s.script, policy: trust.Agent(opts.Insecure)}
	}
	switch c.Type {
	case config.TypeExec:
		switch {
		case len(c.Command) > 0 && c.Shell != "":
			return brokenProber{errors.New("exec check sets both command and shell")}
		case len(c.Command) > 0:
			return &execProber{argv: c.Command}
		case c.Shell != "":
			return &execProber{argv: shellArgv(c.Shell)}
		}
		return brokenProber{errors.New("exec check has neither command nor shell")}
	case config.TypeHTTP:
		p, err := newHTTPProber(c)
		if err != nil {
			return brokenProber{err}
		}
		return p
	case config.TypeTCP:
		if c.Address == "" {
			return brokenProber{errors.New("tcp check has no address")}
		}
		return tcpProber{address: c.Address}
	case config.TypeFile:
		if c.Path == "" {
			return brokenProber{errors.New("file check has no path")}
		}
		return fileProber{path: c.Path, absent: c.Absent}
	case config.TypeCloudInit:
		return cloudInitProber{root: c.Root}
	case config.TypeSignal:
		if !ValidSignalName(c.Signal) {
			return brokenProber{fmt.Errorf("signal check: bad signal name %q", c.Signal)}
		}
		return signalProber{board: opts.Signals, name: c.Signal}
	}
	return brokenProber{fmt.Errorf("unknown check type %q", c.Type)}
}
