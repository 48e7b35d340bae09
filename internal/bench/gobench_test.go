package bench

import (
	"strings"
	"testing"
)

// Go benchmark output is read line by line: the package from "pkg:", and
// ns/op, B/op and allocs/op from each benchmark line; other lines are skipped.
func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/asagent/asagent/internal/checks
BenchmarkExecAttempt-2   	    1234	    812345 ns/op	   12345 B/op	      67 allocs/op
PASS
pkg: github.com/asagent/asagent/internal/sim
BenchmarkSDKListHookInstances-2   	    5000	    200000 ns/op
ok  	github.com/asagent/asagent/internal/sim	1.2s
`
	bs, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []GoBench{
		{Pkg: "github.com/asagent/asagent/internal/checks", Name: "BenchmarkExecAttempt-2", NsPerOp: 812345, BytesPerOp: 12345, AllocsPerOp: 67},
		{Pkg: "github.com/asagent/asagent/internal/sim", Name: "BenchmarkSDKListHookInstances-2", NsPerOp: 200000},
	}
	if len(bs) != len(want) {
		t.Fatalf("got %+v", bs)
	}
	for i := range want {
		if bs[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, bs[i], want[i])
		}
	}
	if rows := GoBenchRows(bs); rows[0].Figure != "checks.BenchmarkExecAttempt-2" || !strings.Contains(rows[0].Value, "812µs/op") {
		t.Errorf("rows: %+v", rows)
	}
}
