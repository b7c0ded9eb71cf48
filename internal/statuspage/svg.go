package statuspage

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// The SVG drawings are built here as strings: every text in them goes
// through template.HTMLEscapeString, every number through a format verb.

// partLabel is the legend of a cause name.
var partLabel = map[string]string{
	"db.pool_wait":              "pool wait",
	"db.query":                  "query",
	"http.client.server_wait":   "server wait",
	"http.client.request_write": "request write",
	"http.client.response_read": "response read",
	"rpc.client":                "RPC",
	"dns":                       "DNS",
	"connect":                   "connect",
	"tls":                       "TLS",
	"kernel.syscall":            "in syscalls",
	"kernel.offcpu":             "off CPU",
	"kernel.runqueue":           "run queue",
	"gc.stw":                    "GC pause",
	"self":                      "own code",
}

// PartLabel returns the legend of a cause name.
func PartLabel(cause string) string {
	if l, ok := partLabel[cause]; ok {
		return l
	}
	return cause
}

func partClass(cause string) string { return "p-" + classSafe(cause) }

const (
	barWidth = 560.0
	barMain  = 16.0
	barOwn   = 7.0
)

// spanBar draws a span's time: the upper bar is its duration split into
// its children's components, laid end to end, and "own code" for the rest
// (scaled down when children ran in parallel and add up to more than the
// span); the lower bar marks its own kernel and GC time at the same scale.
func spanBar(s Span) template.HTML {
	total := s.Duration.Seconds()
	if total <= 0 {
		total = 1e-9
	}
	var child, own []Part
	var sum float64
	for _, p := range s.Parts {
		if p.Duration <= 0 {
			continue
		}
		if p.Own {
			own = append(own, p)
		} else {
			child = append(child, p)
			sum += p.Duration.Seconds()
		}
	}
	scale := barWidth / total
	parallel := sum > total
	if parallel {
		scale = barWidth / sum
	}
	h := barMain + 3 + barOwn
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bar" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`,
		barWidth, h, barWidth, h, template.HTMLEscapeString("time of "+s.Name))
	fmt.Fprintf(&b, `<rect class="p-self" x="0" y="0" width="%.1f" height="%.0f"><title>%s</title></rect>`,
		barWidth, barMain, template.HTMLEscapeString("own code and unmeasured: "+fmtDur(max(0, s.Duration-time.Duration(sum*1e9)))))
	x := 0.0
	for _, p := range child {
		w := p.Duration.Seconds() * scale
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="0" width="%.1f" height="%.0f"><title>%s</title></rect>`,
			partClass(p.Name), x, max(w, 0.5), barMain, template.HTMLEscapeString(PartLabel(p.Name)+": "+fmtDur(p.Duration)))
		x += w
	}
	x = 0
	for _, p := range own {
		w := min(p.Duration.Seconds()*barWidth/total, barWidth-x)
		if w <= 0 {
			continue
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.0f" width="%.1f" height="%.0f"><title>%s</title></rect>`,
			partClass(p.Name), x, barMain+3, max(w, 0.5), barOwn, template.HTMLEscapeString(PartLabel(p.Name)+": "+fmtDur(p.Duration)))
		x += w
	}
	b.WriteString(`</svg>`)
	if parallel {
		b.WriteString(`<span class="note">children in parallel: scaled to their sum</span>`)
	}
	return template.HTML(b.String())
}

// histogram draws an operation's latency distribution: bars for the
// window, a line for the baseline's shape (each normalised to its own
// peak), over the buckets that hold anything.
func histogram(o Operation) template.HTML {
	n := len(o.Window)
	if n == 0 || len(o.Bounds) != n+1 || len(o.Baseline) != n {
		return ""
	}
	lo, hi := -1, -1
	for i := range n {
		if o.Window[i] > 0 || o.Baseline[i] > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return template.HTML(`<span class="note">no requests</span>`)
	}
	for hi-lo < 9 { // at least ten buckets wide
		if lo > 0 {
			lo--
		}
		if hi-lo < 9 && hi < n-1 {
			hi++
		}
		if lo == 0 && hi == n-1 {
			break
		}
	}
	var wMax, bMax uint64
	for i := lo; i <= hi; i++ {
		wMax, bMax = max(wMax, o.Window[i]), max(bMax, o.Baseline[i])
	}
	const W, H, top, axis = 300.0, 64.0, 4.0, 14.0
	bw := W / float64(hi-lo+1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="histo" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`,
		W, H, W, H, template.HTMLEscapeString("latency histogram of "+o.Name))
	plot := H - axis - top
	for i := lo; i <= hi; i++ {
		x := float64(i-lo) * bw
		if c := o.Window[i]; c > 0 {
			h := max(1, plot*float64(c)/float64(wMax))
			fmt.Fprintf(&b, `<rect class="hw" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
				x+0.5, top+plot-h, max(bw-1, 0.5), h, template.HTMLEscapeString(fmt.Sprintf("%s–%s: %d in the window", bound(o.Bounds[i]), bound(o.Bounds[i+1]), c)))
		}
	}
	if bMax > 0 {
		var pts []string
		for i := lo; i <= hi; i++ {
			y := top + plot - plot*float64(o.Baseline[i])/float64(bMax)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", float64(i-lo)*bw, y, float64(i-lo+1)*bw, y))
		}
		fmt.Fprintf(&b, `<polyline class="hb" points="%s"><title>baseline (shape)</title></polyline>`, strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, H-axis, W, H-axis)
	fmt.Fprintf(&b, `<text x="0" y="%.0f">%s</text>`, H-2, template.HTMLEscapeString(bound(o.Bounds[lo])))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, W, H-2, template.HTMLEscapeString(bound(o.Bounds[hi+1])))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func bound(s float64) string {
	if s > 1e9 {
		return "∞"
	}
	return fmtSec(s)
}

// hbars draws blocking classes as horizontal bars.
func hbars(cs []BlockClass) template.HTML {
	if len(cs) == 0 {
		return ""
	}
	peak := 0
	for _, c := range cs {
		peak = max(peak, c.Count)
	}
	const W, rowH, label = 360.0, 16.0, 90.0
	H := rowH * float64(len(cs))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hbars" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="parked goroutines per class">`, W, H, W, H)
	for i, c := range cs {
		y := float64(i) * rowH
		w := 1.0
		if peak > 0 {
			w = max(1, (W-label-40)*float64(c.Count)/float64(peak))
		}
		fmt.Fprintf(&b, `<text x="0" y="%.0f">%s</text>`, y+12, template.HTMLEscapeString(c.Class))
		fmt.Fprintf(&b, `<rect class="b-%s" x="%.0f" y="%.0f" width="%.1f" height="%.0f"/>`, classSafe(c.Class), label, y+2, w, rowH-4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f">%d</text>`, label+w+4, y+12, c.Count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hotspotBars draws allocation sites as horizontal bars (bytes/s).
func hotspotBars(hs []Hotspot) template.HTML {
	if len(hs) == 0 {
		return ""
	}
	peak := 0.0
	for _, h := range hs {
		peak = max(peak, h.BytesPerSecond)
	}
	const W, rowH = 560.0, 16.0
	H := rowH * float64(len(hs))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hbars" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="allocation sites">`, W, H, W, H)
	for i, h := range hs {
		y := float64(i) * rowH
		w := 1.0
		if peak > 0 {
			w = max(1, 120*h.BytesPerSecond/peak)
		}
		fmt.Fprintf(&b, `<rect class="b-alloc" x="0" y="%.0f" width="%.1f" height="%.0f"/>`, y+2, w, rowH-4)
		fmt.Fprintf(&b, `<text x="128" y="%.0f">%s  %s</text>`, y+12,
			template.HTMLEscapeString(fmtBytes(h.BytesPerSecond)+"/s"), template.HTMLEscapeString(h.Function))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
