package harness

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"time"
)

// Plot draws the report as an SVG: RSS, goroutines and open descriptors
// of every child over time, and the p50 and p99 latency of each second a
// child was driven (log scale); the warm-up is shaded.
func Plot(r *Report) []byte {
	const (
		width, left, right = 960, 70, 150
		panelH, gap, top   = 180, 50, 40
	)
	var names []string
	seen := map[string]bool{}
	for _, s := range r.Samples {
		if !seen[s.Variant] {
			seen[s.Variant] = true
			names = append(names, s.Variant)
		}
	}
	colors := []string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"}
	color := func(name string) string {
		for i, n := range names {
			if n == name {
				return colors[i%len(colors)]
			}
		}
		return "#000"
	}
	type pt struct{ t, v float64 }
	type panel struct {
		title string
		log   bool
		lines map[string][]pt // variant → points (lines)
		dots  map[string][]pt // variant → points (dots)
		dots2 map[string][]pt // variant → points (hollow dots)
	}
	panels := []*panel{
		{title: "RSS (MiB)", lines: map[string][]pt{}},
		{title: "goroutines", lines: map[string][]pt{}},
		{title: "open descriptors", lines: map[string][]pt{}},
		{title: "latency per second, ms (log): ● p99  ○ p50", log: true, dots: map[string][]pt{}, dots2: map[string][]pt{}},
	}
	for _, s := range r.Samples {
		t := s.T.Seconds()
		panels[0].lines[s.Variant] = append(panels[0].lines[s.Variant], pt{t, float64(s.RSS) / (1 << 20)})
		panels[1].lines[s.Variant] = append(panels[1].lines[s.Variant], pt{t, float64(s.Counters.Goroutines)})
		panels[2].lines[s.Variant] = append(panels[2].lines[s.Variant], pt{t, float64(s.FDs)})
		if s.Active && s.P99 > 0 {
			panels[3].dots[s.Variant] = append(panels[3].dots[s.Variant], pt{t, ms(s.P99)})
			panels[3].dots2[s.Variant] = append(panels[3].dots2[s.Variant], pt{t, ms(s.P50)})
		}
	}
	height := top + len(panels)*(panelH+gap) + 20
	tmax := max(r.Duration.Seconds(), 1)
	plotW := float64(width - left - right)
	x := func(t float64) float64 { return left + t/tmax*plotW }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, html.EscapeString(fmt.Sprintf(
		"verdict soak: %d req/s for %s, phases in turn; warm-up %s shaded", r.Rate, r.Duration.Round(time.Second), r.Warmup.Round(time.Second))))
	for i, n := range names {
		y := top + 20 + i*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			width-right+15, y, color(n), width-right+32, y+10, html.EscapeString(n))
	}
	for pi, p := range panels {
		y0 := float64(top + pi*(panelH+gap) + 10)
		y1 := y0 + panelH
		lo, hi := math.Inf(1), math.Inf(-1)
		each := func(f func(pt)) {
			for _, m := range []map[string][]pt{p.lines, p.dots, p.dots2} {
				for _, ps := range m {
					for _, q := range ps {
						f(q)
					}
				}
			}
		}
		each(func(q pt) {
			v := q.v
			if p.log {
				v = math.Log10(max(v, 1e-3))
			}
			lo, hi = min(lo, v), max(hi, v)
		})
		if math.IsInf(lo, 1) {
			lo, hi = 0, 1
		}
		if !p.log {
			lo = 0
			hi *= 1.1
		} else {
			lo, hi = math.Floor(lo), math.Ceil(hi)
		}
		if hi <= lo {
			hi = lo + 1
		}
		y := func(v float64) float64 {
			if p.log {
				v = math.Log10(max(v, 1e-3))
			}
			return y1 - (v-lo)/(hi-lo)*panelH
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-4, html.EscapeString(p.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="#eee"/>`+"\n", left, y0, x(r.Warmup.Seconds())-left, panelH)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#888"/>`+"\n", left, y0, plotW, panelH)
		for k := 0; k <= 4; k++ { // y ticks
			v := lo + (hi-lo)*float64(k)/4
			label := fmt.Sprintf("%.0f", v)
			if p.log {
				label = strconv.FormatFloat(math.Pow(10, v), 'f', -1, 64)
				v = math.Pow(10, v)
			}
			yy := y(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
				left, yy, left+plotW, yy, left-4, yy+4, label)
		}
		for k := 0; k <= 10; k++ { // x ticks
			t := tmax * float64(k) / 10
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%.0fs</text>`+"\n", x(t), y1+14, t)
		}
		for _, n := range names {
			if ps := p.lines[n]; len(ps) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color(n))
				for _, q := range ps {
					fmt.Fprintf(&b, "%.1f,%.1f ", x(q.t), y(q.v))
				}
				b.WriteString(`"/>` + "\n")
			}
			for _, q := range p.dots[n] {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>`+"\n", x(q.t), y(q.v), color(n))
			}
			for _, q := range p.dots2[n] {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="none" stroke="%s"/>`+"\n", x(q.t), y(q.v), color(n))
			}
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
