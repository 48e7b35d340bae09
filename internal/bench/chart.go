package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// ChartSeries is one fleet's request rate over simulated time, a line of
// the rate chart.
type ChartSeries struct {
	Name    string
	Minutes []MinuteRate
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                       = 860, 380
	chartLeft, chartRight                = 64, 24
	chartTop, chartBottom                = 40, 64
	chartPlotW                           = chartW - chartLeft - chartRight
	chartPlotH                           = chartH - chartTop - chartBottom
	chartFont                            = `font-family="sans-serif" font-size="12"`
	chartLimitColor, chartHalfLimitColor = "#c0392b", "#7f8c8d"
)

// chartColors are the series' colours, in order.
var chartColors = []string{"#1f77b4", "#e67e22", "#2ca02c", "#9467bd"}

// WriteChart draws the fleets' request rates per simulated minute against
// the project's limit as an SVG line chart: each fleet's rate as a solid
// line and its 429s as a dotted one, the limit in red, half the limit (the
// idle goal) dashed. It needs no library: a few dozen lines of SVG.
func WriteChart(w io.Writer, title string, limit float64, series []ChartSeries) error {
	minutes, top := 1, limit
	for _, s := range series {
		minutes = max(minutes, len(s.Minutes))
		for _, m := range s.Minutes {
			top = max(top, m.Rate)
		}
	}
	step := niceStep(top * 1.15 / 6)
	yMax := math.Ceil(top*1.15/step) * step
	x := func(min float64) float64 { return chartLeft + chartPlotW*min/float64(minutes) }
	y := func(rate float64) float64 { return chartTop + chartPlotH*(1-rate/yMax) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-family="sans-serif" font-size="14" font-weight="bold">%s</text>`+"\n", chartLeft, html.EscapeString(title))
	chartAxes(&b, minutes, yMax, step, x, y)
	chartLine(&b, x(0), y(limit), x(float64(minutes)), chartLimitColor, "", fmt.Sprintf("limit %g/s", limit))
	chartLine(&b, x(0), y(limit/2), x(float64(minutes)), chartHalfLimitColor, `stroke-dasharray="6 4"`, "half the limit")
	for i, s := range series {
		color := chartColors[i%len(chartColors)]
		chartSeries(&b, s.Minutes, color, "", func(m MinuteRate) float64 { return m.Rate }, x, y)
		chartSeries(&b, s.Minutes, color, `stroke-dasharray="2 3"`, func(m MinuteRate) float64 { return m.Throttled }, x, y)
		ly := chartTop + 8 + 18*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", chartW-chartRight-250, ly, chartW-chartRight-226, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s (dotted: its 429s)</text>`+"\n", chartW-chartRight-220, ly+4, chartFont, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// chartAxes draws the grid, the ticks and the axis titles.
func chartAxes(b *strings.Builder, minutes int, yMax, step float64, x, y func(float64) float64) {
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", chartLeft, y(v), chartW-chartRight, y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" %s text-anchor="end">%g</text>`+"\n", chartLeft-6, y(v)+4, chartFont, v)
	}
	every := max(5, niceInt(minutes/8))
	for m := 0; m <= minutes; m += every {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+"\n", x(float64(m)), chartTop+chartPlotH, x(float64(m)), chartTop+chartPlotH+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" %s text-anchor="middle">%d</text>`+"\n", x(float64(m)), chartTop+chartPlotH+19, chartFont, m)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, chartTop+chartPlotH, chartW-chartRight, chartTop+chartPlotH)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, chartTop, chartLeft, chartTop+chartPlotH)
	fmt.Fprintf(b, `<text x="%d" y="%d" %s text-anchor="middle">simulated minutes since the first scale-out</text>`+"\n", chartLeft+chartPlotW/2, chartH-16, chartFont)
	fmt.Fprintf(b, `<text x="16" y="%d" %s text-anchor="middle" transform="rotate(-90 16 %d)">AS requests per second (mean over each minute)</text>`+"\n", chartTop+chartPlotH/2, chartFont, chartTop+chartPlotH/2)
}

// chartLine draws a horizontal reference line with a label at its right end.
func chartLine(b *strings.Builder, x1, y1, x2 float64, color, dash, label string) {
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" %s/>`+"\n", x1, y1, x2, y1, color, dash)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" %s fill="%s" text-anchor="end">%s</text>`+"\n", x2-4, y1-5, chartFont, color, html.EscapeString(label))
}

// chartSeries draws one value of the minutes as a polyline.
func chartSeries(b *strings.Builder, ms []MinuteRate, color, dash string, v func(MinuteRate) float64, x, y func(float64) float64) {
	if len(ms) == 0 {
		return
	}
	pts := make([]string, 0, len(ms))
	for i, m := range ms {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)+0.5), y(v(m))))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" %s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
}

// niceStep rounds a raw grid step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// niceInt rounds n up to a nice step of minutes: 5, 10, 15, 30 or 60.
func niceInt(n int) int {
	for _, s := range []int{5, 10, 15, 30, 60} {
		if s >= n {
			return s
		}
	}
	return 60 * ((n + 59) / 60)
}
