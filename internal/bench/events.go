package bench

import (
	"container/heap"
	"time"
)

// fleetEvent is something the driver does at a simulated time.
type fleetEvent struct {
	at  time.Duration
	seq int // same time: in the order they were planned
	do  func() error
}

// eventQueue is the driver's plan, earliest first.
type eventQueue struct {
	h   eventHeap
	seq int
}

// at plans do for the simulated time d.
func (q *eventQueue) at(d time.Duration, do func() error) {
	q.seq++
	heap.Push(&q.h, fleetEvent{at: d, seq: q.seq, do: do})
}

func (q *eventQueue) Len() int { return q.h.Len() }

// next returns when the earliest event is due.
func (q *eventQueue) next() (time.Duration, bool) {
	if q.h.Len() == 0 {
		return 0, false
	}
	return q.h[0].at, true
}

// runDue runs every event due by elapsed, including those the events plan
// for then, and returns how many ran and the first error.
func (q *eventQueue) runDue(elapsed time.Duration) (int, error) {
	n := 0
	var first error
	for q.h.Len() > 0 && q.h[0].at <= elapsed {
		ev := heap.Pop(&q.h).(fleetEvent)
		n++
		if err := ev.do(); err != nil && first == nil {
			first = err
		}
	}
	return n, first
}

type eventHeap []fleetEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(fleetEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	ev := old[len(old)-1]
	*h = old[:len(old)-1]
	return ev
}
