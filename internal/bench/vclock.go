package bench

import (
	"container/heap"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// vclock is a clockwork.Clock on virtual time whose timers wait in a heap.
// clockwork's FakeClock keeps its waiters in a slice that it sorts again
// for every new timer and searches for every stopped one, and starts a
// goroutine for every context made on it: with ten thousand agents, each
// with a timer or two at any time, that cost grows with the square of the
// fleet. Here a timer costs O(log n), and a step with no timer due fires
// nothing, which the driver can tell.
//
// Contexts made with clockwork.WithTimeout or WithDeadline on a vclock are
// plain context deadlines in real time, which never pass during a run
// (virtual time runs ahead of real time, from the same start); virtualDeadlines
// gives the AS calls their deadline on this clock instead.
type vclock struct {
	now atomic.Int64 // unix nanoseconds, read without the lock

	mu     sync.Mutex
	timers timerHeap
	seq    uint64 // orders timers due at the same instant by creation
}

// newVClock returns a clock at start.
func newVClock(start time.Time) *vclock {
	c := &vclock{}
	c.now.Store(start.UnixNano())
	return c
}

var _ clockwork.Clock = (*vclock)(nil)

func (c *vclock) Now() time.Time                  { return time.Unix(0, c.now.Load()) }
func (c *vclock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *vclock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }
func (c *vclock) After(d time.Duration) <-chan time.Time {
	return c.NewTimer(d).Chan()
}
func (c *vclock) Sleep(d time.Duration) { <-c.After(d) }

func (c *vclock) NewTimer(d time.Duration) clockwork.Timer {
	t := &vtimer{clock: c, c: make(chan time.Time, 1), idx: -1}
	t.Reset(d)
	return t
}

func (c *vclock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	t := &vtimer{clock: c, fn: f, idx: -1}
	t.Reset(d)
	return t
}

func (c *vclock) NewTicker(d time.Duration) clockwork.Ticker {
	if d <= 0 {
		panic(errors.New("non-positive interval for NewTicker"))
	}
	t := &vtimer{clock: c, c: make(chan time.Time, 1), idx: -1, period: d}
	t.Reset(d)
	return vticker{t}
}

// advance moves the clock d ahead, firing every timer due by then in the
// order they are due, each at its own time, and returns how many fired.
func (c *vclock) advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Load() + int64(d)
	fired := 0
	for len(c.timers) > 0 && c.timers[0].when <= end {
		t := c.timers[0]
		c.now.Store(t.when)
		if t.period > 0 {
			t.when += int64(t.period)
			heap.Fix(&c.timers, 0)
		} else {
			heap.Pop(&c.timers)
		}
		t.fire()
		fired++
	}
	c.now.Store(end)
	return fired
}

// next returns when the earliest timer is due; false when none is set.
func (c *vclock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, c.timers[0].when), true
}

// vtimer is a timer, an AfterFunc or (with a period) a ticker of a vclock.
type vtimer struct {
	clock  *vclock
	c      chan time.Time // nil for an AfterFunc
	fn     func()
	when   int64 // unix nanoseconds
	period time.Duration
	seq    uint64
	idx    int // in the heap; -1 when not set
}

// fire delivers the tick: never blocking, like a runtime timer's channel,
// and an AfterFunc in its own goroutine. Called with the clock locked.
func (t *vtimer) fire() {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.c <- time.Unix(0, t.when-int64(t.period)):
	default:
	}
}

func (t *vtimer) Chan() <-chan time.Time { return t.c }

// Reset sets the timer to fire d from now, at once when d <= 0 (as
// clockwork's fake timers do); it reports whether it was set before.
func (t *vtimer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.stopLocked()
	if d <= 0 && t.period == 0 {
		t.when = c.now.Load()
		t.fire()
		return was
	}
	t.when = c.now.Load() + int64(d)
	c.seq++
	t.seq = c.seq
	heap.Push(&c.timers, t)
	return was
}

func (t *vtimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.stopLocked()
}

func (t *vtimer) stopLocked() bool {
	if t.idx < 0 {
		return false
	}
	heap.Remove(&t.clock.timers, t.idx)
	return true
}

// vticker is a vtimer that fires every period.
type vticker struct{ t *vtimer }

func (k vticker) Chan() <-chan time.Time { return k.t.c }
func (k vticker) Stop()                  { k.t.Stop() }
func (k vticker) Reset(d time.Duration) {
	if d <= 0 {
		panic(errors.New("non-positive interval for Ticker.Reset"))
	}
	k.t.clock.mu.Lock()
	k.t.period = d
	k.t.clock.mu.Unlock()
	k.t.Reset(d)
}

// timerHeap orders timers by when they are due, then by creation.
type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.idx = -1
	*h = old[:len(old)-1]
	return t
}
