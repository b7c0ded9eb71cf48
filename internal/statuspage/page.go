package statuspage

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Page is everything the status page shows. Strings are shown as text
// (escaped); the tracer must put in them only what may be shown: names,
// fingerprints and numbers, never SQL literals, headers or bodies.
type Page struct {
	Service string
	Time    time.Time
	Uptime  time.Duration
	// Refresh is the meta refresh period in seconds; 0 turns it off.
	Refresh  int
	ShutDown bool

	Components []Component

	// Judge is false when the judge is off: no verdicts, spans or
	// latency sections.
	Judge          bool
	Rules          int
	Active, Recent []Verdict

	Slowest, Failed []Span
	Operations      []Operation
	Peers           []Peer
	Queries         []Query
	Pools           []Pool

	Runtime *Runtime // nil when the runtime probe is off
	Kernel  *Kernel  // nil without eBPF
}

// Component is one line of the tracer's Status.
type Component struct {
	Name, Kind, State, Detail, Reason string
	Dropped                           uint64
}

// Verdict is one verdict, active or cleared.
type Verdict struct {
	Rule, Subject, Severity string
	Summary, Action         string
	Start, End              time.Time // End zero while active
	Evidence                []Evidence
	Exemplars               []string // trace IDs
}

// Evidence is one signal behind a verdict. Unit says how to show the
// numbers ("s", "1", "/s", "s/s", "By", "By/s", "{goroutine}", ...).
type Evidence struct {
	Signal                     string
	Value, Baseline, Threshold float64
	Unit, Source, Detail       string
}

// Span is a notable local root: its identity and its time per component.
type Span struct {
	Name      string
	TraceID   string
	End       time.Time
	Duration  time.Duration
	Status    string // "200", "UNAVAILABLE", ...
	Error     bool
	ErrorType string
	Anomaly   string
	Cause     string
	// Components: the children's (client phases, pool wait, query) and
	// the span's own (kernel, GC), as the span stage measured them.
	Parts []Part
}

// Part is one component of a span's time.
type Part struct {
	Name string // a cause name: "db.pool_wait", "kernel.runqueue", ...
	// Own: the root's own time (kernel, GC) rather than its children's.
	Own      bool
	Duration time.Duration
}

// Operation is one operation of the local roots with its latency
// histogram (counts per bucket) over the window and the baseline.
type Operation struct {
	Name             string
	Count, Errors    int64
	P50, P99         Measure // seconds
	Bounds           []float64
	Window, Baseline []uint64 // len(Bounds)-1 buckets: [Bounds[i], Bounds[i+1])
}

// Measure is a value beside its baseline.
type Measure struct {
	Value, Baseline float64
	HasBaseline     bool
}

// Peer is a downstream.
type Peer struct {
	Address, Protocol string
	Rate, ErrorRatio  Measure
	P50, P99          Measure
	ServerWaitShare   float64
	TopErrorType      string
	Self              bool // an address this process listens on
}

// Query is one query fingerprint.
type Query struct {
	Fingerprint, Summary, Pool string
	Count, Errors              int
	P50, P99                   Measure
}

// Pool is a database connection pool.
type Pool struct {
	Name               string
	InUse, Open, Max   int
	WaitShare, WaitP99 Measure
	Stats              bool
}

// Runtime is the Go runtime's state.
type Runtime struct {
	Goroutines                       int
	HeapLive, HeapGoal               uint64
	GCCPU, GCPauseRate, AllocRate    float64
	SchedP99, MutexWaitRate          float64
	GOGC, GOMAXPROCS                 int64
	Hotspots                         []Hotspot
	HotspotsAt                       time.Time
	Blocking                         []BlockClass
	BlockedStacks, Leaks             []BlockedStack
	BlockingAt                       time.Time
	HotspotInterval, BlockingWindows time.Duration
}

// Hotspot is an allocation site.
type Hotspot struct {
	Function, File string
	Line           int
	BytesPerSecond float64
}

// BlockClass is how many goroutines are parked in one class of wait.
type BlockClass struct {
	Class string
	Count int
}

// BlockedStack is a group of goroutines parked on one stack.
type BlockedStack struct {
	Class, WaitReason, Stack string
	Count, Growth            int
}

// Kernel is the process's kernel-side time (eBPF), seconds per second.
type Kernel struct {
	Runqueue, OffCPU, Syscall float64
	EventsLost                uint64
}

//go:embed page.html.tmpl
var pageTemplate string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur":      fmtDur,
	"sec":      fmtSec,
	"pct":      fmtPct,
	"bytes":    func(v any) string { return fmtBytes(toFloat(v)) },
	"num":      fmtNum,
	"rate":     func(v float64) string { return fmtNum(v) + "/s" },
	"ago":      func(now, t time.Time) string { return fmtDur(now.Sub(t).Round(100*time.Millisecond)) + " ago" },
	"between":  func(a, b time.Time) string { return fmtDur(b.Sub(a).Round(time.Second)) },
	"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"evidence": fmtEvidence,
	"measure":  fmtMeasure,
	"first":    firstLine,
	"spanBar":  spanBar,
	"histo":    histogram,
	"bars":     hbars,
	"hotspots": hotspotBars,
	"sevclass": func(s string) string { return "sev-" + classSafe(s) },
	"legend":   legend,
	"spans":    func(ss []Span, now time.Time) spanList { return spanList{Spans: ss, Now: now} },
	"state":    func(s string) string { return "st-" + classSafe(s) },
}).Parse(pageTemplate))

// Render writes p as an HTML document.
func Render(w io.Writer, p *Page) error {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// spanList is the "spans" sub-template's data.
type spanList struct {
	Spans []Span
	Now   time.Time
}

// legendItem is one colour of the span bars.
type legendItem struct{ Class, Label string }

// legendOrder lists the causes in the order of the legend.
var legendOrder = []string{"db.pool_wait", "db.query", "http.client.server_wait", "http.client.request_write",
	"http.client.response_read", "rpc.client", "dns", "connect", "tls", "self",
	"kernel.syscall", "kernel.offcpu", "kernel.runqueue", "gc.stw"}

func legend() []legendItem {
	out := make([]legendItem, 0, len(legendOrder))
	for _, c := range legendOrder {
		out = append(out, legendItem{Class: partClass(c), Label: PartLabel(c)})
	}
	return out
}

// ---- formatting ----

func fmtDur(d time.Duration) string { return fmtSec(d.Seconds()) }

// fmtSec formats seconds: "850 µs", "12 ms", "1.2 s".
func fmtSec(s float64) string {
	switch {
	case s <= 0 || math.IsNaN(s):
		return "0"
	case s < 1e-3:
		return trim(s*1e6) + " µs"
	case s < 1:
		return trim(s*1e3) + " ms"
	case s < 120:
		return trim(s) + " s"
	}
	return time.Duration(s * 1e9).Round(time.Second).String()
}

func trim(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func fmtPct(v float64) string {
	p := v * 100
	switch {
	case p == 0:
		return "0 %"
	case p < 1:
		return strconv.FormatFloat(p, 'f', 2, 64) + " %"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + " %"
	}
	return strconv.FormatFloat(math.Round(p), 'f', -1, 64) + " %"
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return trim(v/(1<<30)) + " GiB"
	case v >= 1<<20:
		return trim(v/(1<<20)) + " MiB"
	case v >= 1<<10:
		return trim(v/(1<<10)) + " KiB"
	}
	return trim(v) + " B"
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return trim(v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case uint64:
		return float64(x)
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return 0
}

// fmtValue formats v in unit.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmtSec(v)
	case "1":
		return fmtPct(v)
	case "s/s":
		return fmtSec(v) + "/s"
	case "By":
		return fmtBytes(v)
	case "By/s":
		return fmtBytes(v) + "/s"
	case "/s":
		return fmtNum(v) + "/s"
	}
	s := fmtNum(v)
	if u := strings.Trim(unit, "{}"); u != "" {
		s += " " + u
	}
	return s
}

// fmtEvidence renders "value (baseline b, threshold t)".
func fmtEvidence(e Evidence) string {
	if e.Value == 0 && e.Detail != "" && e.Baseline == 0 && e.Threshold == 0 {
		return ""
	}
	s := fmtValue(e.Value, e.Unit)
	var extra []string
	if e.Baseline != 0 {
		extra = append(extra, "baseline "+fmtValue(e.Baseline, e.Unit))
	}
	if e.Threshold != 0 {
		extra = append(extra, "threshold "+fmtValue(e.Threshold, e.Unit))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// fmtMeasure renders a duration measure: "12 ms (baseline 3 ms)".
func fmtMeasure(m Measure) string {
	s := fmtSec(m.Value)
	if m.HasBaseline {
		s += " (baseline " + fmtSec(m.Baseline) + ")"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// classSafe keeps letters, digits and dashes (for CSS class names).
func classSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
