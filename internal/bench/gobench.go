package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// GoBench is one line of `go test -bench -benchmem` output.
type GoBench struct {
	Pkg, Name   string
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

// ParseGoBench reads `go test -bench` output; lines it does not know are
// skipped.
func ParseGoBench(r io.Reader) ([]GoBench, error) {
	var out []GoBench
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := GoBench{Pkg: pkg, Name: f[0]}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			}
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// GoBenchRows are the Go benchmarks as report rows.
func GoBenchRows(bs []GoBench) []Row {
	var rows []Row
	for _, b := range bs {
		pkg := b.Pkg[strings.LastIndex(b.Pkg, "/")+1:]
		rows = append(rows, Row{Figure: pkg + "." + b.Name, Value: fmt.Sprintf("%s/op, %.0f B/op, %.0f allocs/op",
			dur(time.Duration(b.NsPerOp)), b.BytesPerOp, b.AllocsPerOp)})
	}
	return rows
}

// Machine names the machine for a report header: CPU model, cores, OS,
// architecture and Go version.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
