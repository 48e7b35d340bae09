package bench

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// The chart is well-formed SVG with, per fleet, a line of its rate and one
// of its 429s, the limit and half the limit drawn and labelled, and no
// series name reaching the markup unescaped.
func TestWriteChart(t *testing.T) {
	series := []ChartSeries{
		{Name: "1000 agents", Minutes: []MinuteRate{{Rate: 12}, {Rate: 30, Throttled: 1}, {Rate: 14}}},
		{Name: "10000 <agents>", Minutes: []MinuteRate{{Rate: 80, Throttled: 30}, {Rate: 22}}},
	}
	var b strings.Builder
	if err := WriteChart(&b, "rate & limit", 50, series); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	dec := xml.NewDecoder(strings.NewReader(svg))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "polyline" {
			polylines++
		}
		seen := map[string]bool{} // a repeated attribute is not well-formed XML, though Go's decoder lets it pass
		for _, a := range se.Attr {
			if seen[a.Name.Local] {
				t.Errorf("<%s> repeats the attribute %s", se.Name.Local, a.Name.Local)
			}
			seen[a.Name.Local] = true
		}
	}
	if polylines != 4 {
		t.Errorf("%d polylines, want 4 (rate and 429s of two fleets)", polylines)
	}
	for _, want := range []string{"limit 50/s", "half the limit", "10000 &lt;agents&gt;", "rate &amp; limit", "simulated minutes"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

// Grid steps are 1, 2 or 5 times a power of ten, the smallest not below
// the raw step.
func TestNiceStep(t *testing.T) {
	for _, tc := range []struct{ raw, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {7, 10}, {11, 20}, {42, 50}, {120, 200}} {
		if got := niceStep(tc.raw); got != tc.want {
			t.Errorf("niceStep(%g) = %g, want %g", tc.raw, got, tc.want)
		}
	}
}
