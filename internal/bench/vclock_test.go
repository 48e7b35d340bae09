package bench

import (
	"testing"
	"time"
)

// Timers fire in the order they are due, each at its own time, and only
// once the clock passes them; a stopped timer never fires, a reset one
// fires at its new time, a ticker every period; advance says how many
// fired and next when the earliest is due.
func TestVClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVClock(start)
	a := c.NewTimer(3 * time.Second)
	b := c.NewTimer(time.Second)
	stopped := c.NewTimer(2 * time.Second)
	reset := c.NewTimer(time.Hour)
	tick := c.NewTicker(2 * time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop of a set timer must report true once, then false")
	}
	if !reset.Reset(4 * time.Second) {
		t.Error("Reset of a set timer must report that it was set")
	}
	if next, ok := c.next(); !ok || !next.Equal(start.Add(time.Second)) {
		t.Errorf("next = %v %v, want the 1 s timer", next, ok)
	}
	if n := c.advance(500 * time.Millisecond); n != 0 {
		t.Errorf("advance before any timer is due fired %d", n)
	}
	if n := c.advance(4 * time.Second); n != 5 { // b at 1, tick at 2, a at 3, tick at 4, reset at 4
		t.Errorf("advance over 4.5 s fired %d timers, want 5", n)
	}
	for _, tc := range []struct {
		name string
		ch   <-chan time.Time
		at   time.Duration
	}{{"b", b.Chan(), time.Second}, {"a", a.Chan(), 3 * time.Second}, {"reset", reset.Chan(), 4 * time.Second}, {"tick", tick.Chan(), 2 * time.Second}} {
		select {
		case got := <-tc.ch:
			if !got.Equal(start.Add(tc.at)) {
				t.Errorf("%s fired with %v, want %v", tc.name, got.Sub(start), tc.at)
			}
		default:
			t.Errorf("%s did not fire", tc.name)
		}
	}
	select {
	case <-stopped.Chan():
		t.Error("a stopped timer fired")
	default:
	}
	if got := c.Now(); !got.Equal(start.Add(4500 * time.Millisecond)) {
		t.Errorf("Now = %v, want 4.5 s on", got.Sub(start))
	}
	done := make(chan struct{})
	c.AfterFunc(0, func() { close(done) })
	<-done // a timer due now fires at once
	tick.Stop()
	if _, ok := c.next(); ok {
		t.Error("a timer is still set after all fired or stopped")
	}
}

// Events due at the same time run in the order they were planned, and an
// event may plan another for the same time, which runs in the same call.
func TestEventQueueOrder(t *testing.T) {
	var q eventQueue
	var ran []int
	q.at(2*time.Second, func() error { ran = append(ran, 3); return nil })
	q.at(time.Second, func() error { ran = append(ran, 1); return nil })
	q.at(time.Second, func() error {
		ran = append(ran, 2)
		q.at(time.Second, func() error { ran = append(ran, 22); return nil })
		return nil
	})
	if n, _ := q.runDue(time.Second); n != 3 {
		t.Errorf("runDue ran %d events, want 3", n)
	}
	if next, ok := q.next(); !ok || next != 2*time.Second {
		t.Errorf("next = %v, want 2s", next)
	}
	q.runDue(time.Hour)
	if want := []int{1, 2, 22, 3}; len(ran) != len(want) || ran[0] != 1 || ran[1] != 2 || ran[2] != 22 || ran[3] != 3 {
		t.Errorf("ran %v, want %v", ran, want)
	}
}
