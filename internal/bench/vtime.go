package bench

import (
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/jonboulle/clockwork"
)

// Time is the virtual time an experiment runs on: one clock shared by the
// simulator, the AS clients and the engines, and a way to move it on.
type Time interface {
	// Clock is the clock every component of the experiment uses.
	Clock() clockwork.Clock
	// Advance moves the clock d ahead and returns once every goroutine
	// woken by it has settled again (is blocked waiting for more time).
	Advance(d time.Duration)
	// Settle returns once every goroutine woken some other way since
	// (an agent started, a signal raised) has settled again.
	Settle()
}

// FakeTime is virtual time for a command (not a test): a clock of its own
// (vclock), advanced in steps. After a step that fired a timer, and on
// Settle, it waits until the process is quiet, judged from the runtime's
// goroutine counts: no
// goroutine but the caller running or runnable, and no more in a system
// call than when it was made (os/signal's receiver always is), seen
// several times in a row. This is a heuristic (the counts are
// approximate), so a step may now and then end early; the cost is a
// timer set up to one step late, never a wrong result. Tests use
// testing/synctest instead, which knows exactly.
//
// Quiet is process-wide: run one FakeTime experiment at a time, and
// nothing else busy in the process meanwhile.
type FakeTime struct {
	clock   *vclock
	samples []metrics.Sample
	// floor is the number of goroutines outside Go when idle.
	floor uint64
	// unsettled counts the steps after which the process never got quiet
	// within settleLimit.
	unsettled int
}

// NewFakeTime returns virtual time starting at start.
func NewFakeTime(start time.Time) *FakeTime {
	f := &FakeTime{
		clock: newVClock(start),
		samples: []metrics.Sample{
			{Name: "/sched/goroutines/running:goroutines"},
			{Name: "/sched/goroutines/runnable:goroutines"},
			{Name: "/sched/goroutines/not-in-go:goroutines"},
		},
	}
	// A goroutine that lives in a system call (os/signal's receiver, a
	// profiler's writer) may not be there yet: give it a moment before
	// counting. Settle raises the floor if it was still too low.
	time.Sleep(floorSettle)
	_, f.floor = f.busy()
	return f
}

// floorSettle is how long NewFakeTime lets the process's goroutines reach
// their system calls before it counts them.
const floorSettle = 20 * time.Millisecond

// Clock implements Time.
func (f *FakeTime) Clock() clockwork.Clock { return f.clock }

// Advance implements Time. A step that fires no timer wakes nobody, so it
// returns at once: most steps of a small fleet, and the idle stretches of a
// large one, cost nothing.
func (f *FakeTime) Advance(d time.Duration) {
	if f.clock.advance(d) > 0 {
		f.Settle()
	}
}

// Next returns when the earliest timer is due; false when none is set. A
// driver may advance straight to it: nothing happens before.
func (f *FakeTime) Next() (time.Time, bool) { return f.clock.next() }

// quietRounds is how many readings in a row must find the process quiet:
// one reading can miss a goroutine that is handing work to another.
const quietRounds = 3

// settleLimit bounds the wait for quiet, in real time: something else
// busy in the process (a goroutine outside the experiment) must slow the
// experiment down, not hang it.
const settleLimit = 10 * time.Second

// Settle implements Time: it returns once the process has been quiet for
// quietRounds readings, or after settleLimit. When nothing but goroutines
// in system calls kept it from quiet all along, those are idle ones the
// floor missed (they got there after NewFakeTime counted): the floor rises
// to them, so only one step pays the limit.
func (f *FakeTime) Settle() {
	var deadline time.Time
	onlyOutside := true
	var outside uint64
	for quiet, n := 0, 0; quiet < quietRounds; n++ {
		if n%1024 == 1023 {
			if deadline.IsZero() {
				deadline = time.Now().Add(settleLimit)
			} else if time.Now().After(deadline) {
				f.unsettled++
				if onlyOutside {
					f.floor = max(f.floor, outside)
				}
				return
			}
		}
		runtime.Gosched()
		var inGo uint64
		inGo, outside = f.busy()
		if inGo <= 1 && outside <= f.floor {
			quiet++
			continue
		}
		onlyOutside = onlyOutside && inGo <= 1
		quiet = 0
	}
}

// Unsettled returns how many steps ended without the process getting
// quiet within the bound: 0 in a clean run.
func (f *FakeTime) Unsettled() int { return f.unsettled }

// busy counts the goroutines running (the caller among them) or runnable,
// and those outside Go (in a system call).
func (f *FakeTime) busy() (inGo, outside uint64) {
	metrics.Read(f.samples)
	v := func(i int) uint64 {
		if f.samples[i].Value.Kind() == metrics.KindUint64 {
			return f.samples[i].Value.Uint64()
		}
		return 0
	}
	return v(0) + v(1), v(2)
}
