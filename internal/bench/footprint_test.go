//go:build linux

package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// ReadProc and Watch read real figures of a real process (this one) from
// /proc, and Watch covers at least the window it was given.
func TestWatchReadsProc(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKB <= 0 || s.PeakRSSKB < s.RSSKB || s.FDs <= 0 || s.Threads <= 0 || s.Switches <= 0 {
		t.Errorf("implausible sample of this process: %+v", s)
	}
	fps, err := Watch(context.Background(), []string{"self"}, []int{os.Getpid()}, 200*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(fps) != 1 || fps[0].Window < 200*time.Millisecond || fps[0].RSSKB <= 0 || fps[0].MaxRSSKB < fps[0].RSSKB {
		t.Errorf("footprint: %+v", fps)
	}
	if rows := FootprintRows(fps); len(rows) == 0 || rows[0].Verdict == "" {
		t.Errorf("rows: %+v", rows)
	}
}
