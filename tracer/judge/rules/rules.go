package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// Rule IDs.
const (
	IDGCDelay           = "gc.stw_delay"
	IDMemoryLimit       = "runtime.memory_limit"
	IDDownstreamRefused = "downstream.refused"
	IDDownstreamSlow    = "downstream.slow"
	IDDNSFailure        = "dns.failure"
	IDTLSFailure        = "tls.failure"
	IDPoolExhausted     = "db.pool_exhausted"
	IDSlowQuery         = "db.slow_query"
	IDNestedTx          = "db.nested_tx"
	IDCPUStarvation     = "cpu.starvation"
	IDLockContention    = "lock.contention"
	IDGoroutineLeak     = "goroutine.leak"
	IDTelemetryDropping = "telemetry.dropping"
)

// Defaults returns every built-in rule with its default thresholds.
func Defaults() []judge.Rule {
	return []judge.Rule{
		NewGCDelay(),
		NewMemoryLimit(),
		NewDownstreamRefused(),
		NewDownstreamSlow(),
		NewDNSFailure(),
		NewTLSFailure(),
		NewPoolExhausted(),
		NewSlowQuery(),
		NewNestedTx(),
		NewCPUStarvation(),
		NewLockContention(),
		NewGoroutineLeak(),
		NewTelemetryDropping(),
	}
}

// IDs returns the IDs of the built-in rules.
func IDs() []string {
	var ids []string
	for _, r := range Defaults() {
		ids = append(ids, r.ID())
	}
	return ids
}

// measured builds evidence from a Measure.
func measured(signal string, m judge.Measure, threshold float64, unit string, src judge.Source) judge.Evidence {
	e := judge.Evidence{Signal: signal, Value: m.Value, Threshold: threshold, Unit: unit, Source: src}
	if m.HasBaseline {
		e.Baseline = m.Baseline
	}
	return e
}

// counted builds evidence from a count over the window, as a rate.
func counted(signal string, n int, window time.Duration, threshold float64, src judge.Source) judge.Evidence {
	return judge.Evidence{Signal: signal, Value: rate(n, window), Threshold: threshold, Unit: "/s", Source: src}
}

func rate(n int, window time.Duration) float64 {
	if window <= 0 {
		return float64(n)
	}
	return float64(n) / window.Seconds()
}

// dur formats seconds as a short duration: "310 ms", "1.2 s", "850 µs".
func dur(sec float64) string {
	switch {
	case sec <= 0 || math.IsNaN(sec):
		return "0 s"
	case sec < 1e-3:
		return trim(sec*1e6) + " µs"
	case sec < 1:
		return trim(sec*1e3) + " ms"
	}
	return trim(sec) + " s"
}

// trim formats a number with 2 significant digits below 10 and none above.
func trim(v float64) string {
	switch {
	case v >= 10 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func pct(v float64) string {
	p := v * 100
	if p > 0 && p < 1 {
		return strconv.FormatFloat(p, 'f', 1, 64) + " %"
	}
	return strconv.FormatFloat(math.Round(p), 'f', -1, 64) + " %"
}

func times(ratio float64) string {
	if ratio >= 10 {
		return strconv.FormatFloat(math.Round(ratio), 'f', -1, 64) + "×"
	}
	return strconv.FormatFloat(ratio, 'f', 1, 64) + "×"
}

// num formats a rate: no decimals from 10 up, one below.
func num(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func perSec(v float64) string { return num(v) + "/s" }

func bytes(v float64) string {
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

func count(n int) string {
	s := strconv.Itoa(n)
	if n < 10000 && n > -10000 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// topFrame returns the first function of a stack as the runtime probe
// prints it (innermost first), skipping runtime, sync and internal frames.
func topFrame(stack string) string {
	first := ""
	for _, line := range strings.Split(stack, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.TrimPrefix(line, "created by ")
		if first == "" {
			first = line
		}
		if strings.HasPrefix(line, "runtime.") || strings.HasPrefix(line, "sync.") ||
			strings.HasPrefix(line, "internal/") || strings.HasPrefix(line, "time.") {
			continue
		}
		return line
	}
	return first
}

func quote(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return "`" + s + "`"
}

func exemplars(lists ...[]judge.Exemplar) []judge.Exemplar {
	var out []judge.Exemplar
	for _, l := range lists {
		for _, e := range l {
			if len(out) == 4 {
				return out
			}
			out = append(out, e)
		}
	}
	return out
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
