package tracertest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// maxTreeSpans bounds the example trace printed for a verdict.
const maxTreeSpans = 40

// report turns what the test saw into failure messages (one per verdict
// that fired and was neither allowed nor expected, one per expected verdict
// that did not fire) and log lines.
func (x *T) report(spans []sdktrace.ReadOnlySpan, leaks goruntime.Blocking) (failures, logs []string) {
	x.mu.Lock()
	type entry struct {
		f firing
		k verdictKey
	}
	var fired []entry
	for _, k := range x.order {
		f := *x.fired[k]
		fired = append(fired, entry{f, k})
	}
	flErr := x.flErr
	x.mu.Unlock()

	expected := map[string]bool{}
	for _, id := range x.cfg.expect {
		expected[id] = true
	}
	seen := map[string]bool{}
	for _, e := range fired {
		seen[e.k.rule] = true
		switch {
		case expected[e.k.rule]:
			logs = append(logs, "tracertest: expected verdict fired: "+e.f.v.String())
		case x.cfg.allow[e.k.rule]:
			logs = append(logs, "tracertest: allowed verdict fired: "+e.f.v.String())
		case x.processWide(e.f.v) && x.overlapped.Load():
			logs = append(logs, "tracertest: a process-wide verdict fired while other tests ran in parallel; "+
				"it is not this test's failure, since it cannot tell whose it is (run the test alone, without t.Parallel, to judge it):\n"+
				x.render(e.f, spans, leaks, flErr))
		default:
			failures = append(failures, x.render(e.f, spans, leaks, flErr))
		}
	}
	for _, id := range x.cfg.expect {
		if seen[id] {
			continue
		}
		var got []string
		for _, e := range fired {
			got = append(got, e.f.v.Rule)
		}
		msg := fmt.Sprintf("tracertest: expected verdict %s did not fire", id)
		if len(got) > 0 {
			msg += " (fired: " + strings.Join(got, ", ") + ")"
		}
		failures = append(failures, msg+"; the judge evaluated every "+DefaultInterval.String()+
			" over a "+judge.DefaultWindow.String()+" window and once more at the end of the test")
	}
	return failures, logs
}

// render formats one verdict for a failure message.
func (x *T) render(f firing, spans []sdktrace.ReadOnlySpan, leaks goruntime.Blocking, flErr error) string {
	v := f.v
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s %s", v.Severity, v.Rule)
	if v.Subject != "" {
		fmt.Fprintf(&b, " (%s)", v.Subject)
	}
	fmt.Fprintf(&b, ": %s\n", v.Summary)
	if v.Action != "" {
		fmt.Fprintf(&b, "    action:   %s\n", v.Action)
	}
	fmt.Fprintf(&b, "    scope:    %s\n", x.scope(v))
	if f.n > 1 {
		fmt.Fprintf(&b, "    fired:    %d times\n", f.n)
	}
	if len(v.Evidence) > 0 {
		b.WriteString("    evidence:\n")
		for _, e := range v.Evidence {
			b.WriteString("      - " + evidence(e) + "\n")
			if strings.Contains(e.Detail, "\n") {
				b.WriteString(indent(e.Detail, "            ") + "\n")
			}
		}
	}
	if v.Rule == rules.IDGoroutineLeak {
		if ls := x.unignored(leakStacks(leaks)); len(ls) > 0 {
			b.WriteString("    leaked goroutines (still running at the end of the test, not at its start):\n")
			for _, l := range ls {
				fmt.Fprintf(&b, "      - %d × [%s]\n%s\n", l.Growth, l.WaitReason, indent(l.Stack, "            "))
			}
		}
	}
	if len(v.Exemplars) > 0 {
		ex := v.Exemplars[0]
		for _, e := range v.Exemplars {
			if hasTrace(spans, e.TraceID) {
				ex = e
				break
			}
		}
		t, n := tree(spans, ex.TraceID)
		if n == 0 {
			fmt.Fprintf(&b, "    example trace %s: its spans are no longer kept (WithMaxSpans)\n", ex.TraceID)
		} else {
			fmt.Fprintf(&b, "    example trace %s (%d spans):\n%s", ex.TraceID, n, t)
		}
	}
	switch {
	case f.flight != "":
		fmt.Fprintf(&b, "    execution trace: go tool trace %s\n", f.flight)
		if *flagOut == "" {
			b.WriteString("      (in the test's ArtifactDir: removed after the test unless go test -artifacts; or set -verdict.out=DIR)\n")
		}
	case f.flightErr != nil:
		fmt.Fprintf(&b, "    execution trace: not saved: %v\n", f.flightErr)
	case flErr != nil:
		fmt.Fprintf(&b, "    execution trace: not saved: %v\n", flErr)
	}
	return strings.TrimRight(b.String(), "\n")
}

func leakStacks(b goruntime.Blocking) []judge.BlockedStack {
	out := make([]judge.BlockedStack, 0, len(b.Leaks))
	for _, l := range b.Leaks {
		out = append(out, judge.BlockedStack{Class: l.Class.String(), WaitReason: l.WaitReason, Count: l.Count, Growth: l.Growth, Stack: l.Stack})
	}
	return out
}

// scope says whether a verdict is about the test's own spans and
// goroutines or about the whole process.
func (x *T) scope(v tracer.Verdict) string {
	if v.Rule == rules.IDGoroutineLeak && x.leakScoped.Load() {
		return "this test's goroutines (those started under its goroutine: pprof label " + semconv.LabelTest + ")"
	}
	if wide := processSources(v); len(wide) > 0 {
		return "process-wide (" + strings.Join(wide, ", ") + " signals): the whole test binary, tests running in parallel included"
	}
	return "this test's spans"
}

// processWide reports whether verdict v rests on signals of the whole
// process (the Go runtime, the kernel, the cgroup) rather than on the
// test's own spans and goroutines.
func (x *T) processWide(v tracer.Verdict) bool {
	if v.Rule == rules.IDGoroutineLeak && x.leakScoped.Load() {
		return false
	}
	return len(processSources(v)) > 0
}

// processSources lists the process-wide sources of v's evidence.
func processSources(v tracer.Verdict) []string {
	var wide []string
	for _, e := range v.Evidence {
		if e.Signal == "flight_record" {
			continue
		}
		switch e.Source {
		case judge.SourceRuntime, judge.SourceEBPF, judge.SourceCgroup, judge.SourceProc:
			if !slices.Contains(wide, string(e.Source)) {
				wide = append(wide, string(e.Source))
			}
		}
	}
	return wide
}

// evidence formats one piece of evidence: "signal = value (baseline b,
// threshold t) [source] detail".
func evidence(e judge.Evidence) string {
	var b strings.Builder
	b.WriteString(e.Signal)
	if e.Detail != "" && e.Value == 0 && !strings.Contains(e.Detail, "\n") {
		b.WriteString(" = " + e.Detail)
	} else {
		b.WriteString(" = " + value(e.Value, e.Unit))
		var ctx []string
		if e.Baseline != 0 {
			ctx = append(ctx, "baseline "+value(e.Baseline, e.Unit))
		}
		if e.Threshold != 0 {
			ctx = append(ctx, "threshold "+value(e.Threshold, e.Unit))
		}
		if len(ctx) > 0 {
			b.WriteString(" (" + strings.Join(ctx, ", ") + ")")
		}
	}
	b.WriteString(" [" + string(e.Source) + "]")
	if e.Detail != "" && e.Value != 0 && !strings.Contains(e.Detail, "\n") {
		b.WriteString(" " + e.Detail)
	}
	return b.String()
}

// value formats a number in its unit: seconds as durations, ratios as
// percentages.
func value(v float64, unit string) string {
	switch unit {
	case "s":
		return seconds(v)
	case "1":
		return strconv.FormatFloat(v*100, 'g', 3, 64) + " %"
	case "s/s":
		return seconds(v) + "/s"
	case "By":
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	case "":
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}

func seconds(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64) + "s"
	}
	return roundDur(time.Duration(v * float64(time.Second))).String()
}

// roundDur keeps three significant digits.
func roundDur(d time.Duration) time.Duration {
	for _, u := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		if d >= 100*u {
			return d.Round(u)
		}
		if d >= u {
			return d.Round(u / 100)
		}
	}
	return d
}

func hasTrace(spans []sdktrace.ReadOnlySpan, id trace.TraceID) bool {
	for _, s := range spans {
		if s.SpanContext().TraceID() == id {
			return true
		}
	}
	return false
}

// tree renders the spans of one trace as an indented tree (children under
// their parent, by start time), at most maxTreeSpans lines, and returns
// how many spans the trace has.
func tree(spans []sdktrace.ReadOnlySpan, id trace.TraceID) (string, int) {
	var mine []sdktrace.ReadOnlySpan
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == id {
			mine = append(mine, s)
			ids[s.SpanContext().SpanID()] = true
		}
	}
	if len(mine) == 0 {
		return "", 0
	}
	slices.SortStableFunc(mine, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range mine {
		if p := s.Parent(); p.IsValid() && ids[p.SpanID()] {
			children[p.SpanID()] = append(children[p.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	lines := 0
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		if lines >= maxTreeSpans {
			return
		}
		lines++
		b.WriteString(strings.Repeat("  ", depth+4))
		b.WriteString(spanLine(s))
		b.WriteByte('\n')
		for _, c := range children[s.SpanContext().SpanID()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	if len(mine) > lines {
		fmt.Fprintf(&b, "%s… %d more spans\n", strings.Repeat("  ", 4), len(mine)-lines)
	}
	return b.String(), len(mine)
}

// treeAttrs are the attributes a span line shows, in this order; those
// marked seconds are durations in seconds.
var treeAttrs = []struct {
	key     attribute.Key
	seconds bool
}{
	{semconv.AttrCause, false},
	{semconv.AttrCauseShare, false},
	{semconv.AttrAnomaly, false},
	{semconv.AttrAnomalyReason, false},
	{semconv.AttrErrorType, false},
	{semconv.AttrDBConnectionWaitTime, true},
	{semconv.AttrDBQueryText, false},
	{semconv.AttrDBTransactionDepth, false},
	{semconv.AttrHTTPRoute, false},
	{semconv.AttrHTTPResponseStatusCode, false},
	{semconv.AttrServerAddress, false},
	{semconv.AttrRPCMethod, false},
	{semconv.AttrGCPauseDuration, true},
	{semconv.AttrKernelSyscallDuration, true},
	{semconv.AttrKernelOffCPUDuration, true},
	{semconv.AttrKernelRunqueueDuration, true},
}

// spanLine is one span of a tree: name, duration, kind, status and the
// key attributes it has.
func spanLine(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name())
	b.WriteString("  ")
	b.WriteString(roundDur(s.EndTime().Sub(s.StartTime())).String())
	if k := s.SpanKind(); k != trace.SpanKindInternal && k != trace.SpanKindUnspecified {
		b.WriteString("  " + k.String())
	}
	if st := s.Status(); st.Code == codes.Error {
		b.WriteString("  ERROR")
		if st.Description != "" {
			b.WriteString(" " + strconv.Quote(clip(st.Description, 80)))
		}
	}
	attrs := s.Attributes()
	for _, a := range treeAttrs {
		for _, kv := range attrs {
			if kv.Key != a.key {
				continue
			}
			b.WriteString("  " + string(kv.Key) + "=")
			switch {
			case a.seconds && kv.Value.Type() == attribute.FLOAT64:
				b.WriteString(seconds(kv.Value.AsFloat64()))
			case kv.Value.Type() == attribute.STRING:
				v := clip(kv.Value.AsString(), 80)
				if strings.ContainsAny(v, " \t") {
					v = strconv.Quote(v)
				}
				b.WriteString(v)
			default:
				b.WriteString(kv.Value.Emit())
			}
			break
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
