package rules

import (
	"math"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// GCDelay (gc.stw_delay) fires when the garbage collector works much harder
// than usual — stop-the-world pause time per second or the GC's share of the
// CPU several times its baseline — while requests slow down or fail. Pause
// time comes from the exact stop-the-world windows (eBPF) when available,
// else from the runtime's GC pause history. The action names the top
// allocation site when the runtime probe's hotspot analysis has one.
type GCDelay struct {
	// MinRequests is how many requests the window needs before their
	// latency and errors are judged.
	MinRequests int
	// GCCPU is the floor of the GC's CPU fraction, GCCPURatio the factor
	// over its baseline; GCCPUClear the floor that holds an active verdict.
	GCCPU, GCCPURatio, GCCPUClear float64
	// PauseFloor (s/s) and PauseRatio: the same for pause time per second,
	// together with at least MinCycles GC cycles per second (and three
	// times their baseline).
	PauseFloor, PauseRatio, MinCycles float64
	// LatencyRatio: request P99 over its baseline that counts as delayed
	// (LatencyRatioClear while active), by at least LatencyFloor seconds;
	// ErrorFloor: the error ratio that counts as failing when it is also
	// twice its baseline.
	LatencyRatio, LatencyRatioClear, LatencyFloor, ErrorFloor float64
	// MemoryLimitShare: above this share of GOMEMLIMIT the memory-limit
	// rule speaks instead.
	MemoryLimitShare float64
}

// NewGCDelay returns gc.stw_delay with its defaults.
func NewGCDelay() GCDelay {
	return GCDelay{
		MinRequests: 10,
		GCCPU:       0.15, GCCPURatio: 2, GCCPUClear: 0.08,
		PauseFloor: 0.005, PauseRatio: 3, MinCycles: 1,
		LatencyRatio: 2, LatencyRatioClear: 1.5, LatencyFloor: 0.01, ErrorFloor: 0.02,
		MemoryLimitShare: 0.9,
	}
}

// ID returns "gc.stw_delay".
func (GCDelay) ID() string { return IDGCDelay }

// Evaluate implements judge.Rule.
func (r GCDelay) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	rt := s.Runtime
	if !rt.Available || nearLimit(rt, r.MemoryLimitShare) {
		return nil
	}
	active := st.Active("")
	pause, pauseSrc := rt.GCPauseRate, judge.SourceRuntime
	if s.STW.Available {
		pause, pauseSrc = s.STW.Rate, judge.SourceEBPF
	}
	cpuFloor := judge.Threshold(active, r.GCCPU, r.GCCPUClear)
	cpuRatio := judge.Threshold(active, r.GCCPURatio, 1.3)
	pauseRatio := judge.Threshold(active, r.PauseRatio, 2)
	cpuHot := rt.GCCPUFraction.Exceeds(cpuRatio, cpuFloor, true)
	// One long pause (a stalled thread on a busy host) is not pressure:
	// the pause path also needs GC cycles several times as frequent.
	pauseHot := pause.Exceeds(pauseRatio, r.PauseFloor, false) &&
		rt.GCRate.Exceeds(judge.Threshold(active, 3, 2), r.MinCycles, false)
	if !cpuHot && !pauseHot {
		return nil
	}
	req := s.Requests
	if req.Count < r.MinRequests {
		return nil
	}
	latRatio := judge.Threshold(active, r.LatencyRatio, r.LatencyRatioClear)
	slow := req.P99.Exceeds(latRatio, 0, false) && req.P99.Value-req.P99.Baseline >= r.LatencyFloor
	// GC delays requests: the errors it explains are deadlines missed.
	// Errors of another kind (refused connections, DNS) while the GC
	// works hard are not its doing: the GC's share of the CPU rises by
	// itself when failing requests leave the process idle.
	failing := req.ErrorRatio.Exceeds(2, r.ErrorFloor, false) && 2*req.Timeouts >= req.Errors
	if !slow && !failing {
		return nil
	}

	var ev []judge.Evidence
	ev = append(ev, measured("gc.pause.rate", pause, r.PauseFloor, "s/s", pauseSrc))
	ev = append(ev, measured("gc.cpu.fraction", rt.GCCPUFraction, cpuFloor, "1", judge.SourceRuntime))
	ev = append(ev, measured("gc.cycles.rate", rt.GCRate, 0, "/s", judge.SourceRuntime))
	if failing {
		ev = append(ev, measured("requests.error_ratio", req.ErrorRatio, r.ErrorFloor, "1", judge.SourceSpans))
	}
	ev = append(ev, measured("requests.p99", req.P99, req.P99.Baseline*latRatio, "s", judge.SourceSpans))
	if req.GCPause.Value > 0 {
		// verdict.gc.pause.duration holds the exact uprobe windows
		// when eBPF runs, the runtime's per-cycle pauses otherwise.
		src := judge.SourceRuntime
		if s.STW.Available {
			src = judge.SourceEBPF
		}
		ev = append(ev, measured("requests.gc_pause.share", req.GCPause, 0, "1", src))
	}
	ev = append(ev, measured("runtime.alloc.rate", rt.AllocRate, 0, "By/s", judge.SourceRuntime))

	var what string
	switch {
	case failing && req.Timeouts > 0:
		what = sprintf("Requests failing on deadlines (%s failed, baseline %s)", pct(req.ErrorRatio.Value), pct(req.ErrorRatio.Baseline))
	case failing:
		what = sprintf("Errors rising (%s of requests, baseline %s)", pct(req.ErrorRatio.Value), pct(req.ErrorRatio.Baseline))
	default:
		what = sprintf("Request P99 at %s (baseline %s)", dur(req.P99.Value), dur(req.P99.Baseline))
	}
	var gc string
	switch {
	case pauseHot && pause.HasBaseline && pause.Baseline >= 1e-4:
		gc = sprintf("GC stop-the-world pauses %s (%s/s)", grown(pause.Ratio(1e-4)), dur(pause.Value))
	case pauseHot:
		gc = sprintf("GC stop-the-world pauses rose to %s/s (from %s/s)", dur(pause.Value), dur(pause.Baseline))
	default:
		gc = sprintf("GC pauses at %s/s", dur(pause.Value))
	}
	summary := sprintf("%s while %s and GC takes %s of CPU: GC is delaying requests.", what, gc, pct(rt.GCCPUFraction.Value))

	action := "Set GOMEMLIMIT or reduce allocation"
	if len(rt.AllocSites) > 0 {
		top := rt.AllocSites[0]
		action += sprintf(" at %s (%s/s)", quote(top.Function), bytes(top.BytesPerSecond))
		ev = append(ev, judge.Evidence{Signal: "alloc.site.rate", Value: top.BytesPerSecond, Unit: "By/s",
			Source: judge.SourceRuntime, Detail: sprintf("%s %s:%d", top.Function, top.File, top.Line)})
	} else {
		action += sprintf(" (%s/s allocated; the runtime probe's allocation hotspots name the site)", bytes(rt.AllocRate.Value))
	}
	action += "."
	sev := judge.SeverityWarning
	if failing {
		sev = judge.SeverityCritical
	}
	return []judge.Finding{{Severity: sev, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(req.Exemplars)}}
}

func grown(ratio float64) string {
	switch {
	case ratio >= 2.5 && ratio < 3.5:
		return "tripled"
	case ratio >= 1.8 && ratio < 2.5:
		return "doubled"
	}
	return "up " + times(ratio)
}

func nearLimit(rt judge.Runtime, share float64) bool {
	if rt.MemoryLimit <= 0 || rt.MemoryLimit == math.MaxInt64 {
		return false
	}
	return float64(rt.MemoryUsed) >= share*float64(rt.MemoryLimit)
}

// MemoryLimit (runtime.memory_limit) fires when the memory the Go runtime
// holds is close to GOMEMLIMIT and the GC runs hard to stay under it: the
// limit, not the load, decides the GC's work (a death spiral in the making).
type MemoryLimit struct {
	// Share of GOMEMLIMIT in use that counts as near (ShareClear holds an
	// active verdict).
	Share, ShareClear float64
	// GCCPU is the GC CPU fraction that counts as running hard; GCRate
	// (cycles/s) is the alternative.
	GCCPU, GCRate float64
}

// NewMemoryLimit returns runtime.memory_limit with its defaults.
func NewMemoryLimit() MemoryLimit {
	return MemoryLimit{Share: 0.9, ShareClear: 0.85, GCCPU: 0.1, GCRate: 2}
}

// ID returns "runtime.memory_limit".
func (MemoryLimit) ID() string { return IDMemoryLimit }

// Evaluate implements judge.Rule.
func (r MemoryLimit) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	rt := s.Runtime
	active := st.Active("")
	if !rt.Available || !nearLimit(rt, judge.Threshold(active, r.Share, r.ShareClear)) {
		return nil
	}
	if rt.GCCPUFraction.Value < r.GCCPU && rt.GCRate.Value < r.GCRate {
		return nil
	}
	share := float64(rt.MemoryUsed) / float64(rt.MemoryLimit)
	ev := []judge.Evidence{
		{Signal: "memory.used", Value: float64(rt.MemoryUsed), Threshold: r.Share * float64(rt.MemoryLimit), Unit: "By", Source: judge.SourceRuntime},
		{Signal: "memory.limit", Value: float64(rt.MemoryLimit), Unit: "By", Source: judge.SourceRuntime},
		{Signal: "heap.live", Value: float64(rt.HeapLive), Unit: "By", Source: judge.SourceRuntime},
		measured("gc.cpu.fraction", rt.GCCPUFraction, r.GCCPU, "1", judge.SourceRuntime),
		measured("gc.cycles.rate", rt.GCRate, r.GCRate, "/s", judge.SourceRuntime),
	}
	summary := sprintf("Memory at %s of GOMEMLIMIT (%s of %s) and GC takes %s of CPU (%s cycles/s): the memory limit forces continuous GC.",
		pct(share), bytes(float64(rt.MemoryUsed)), bytes(float64(rt.MemoryLimit)), pct(rt.GCCPUFraction.Value), num(rt.GCRate.Value))
	action := sprintf("Raise GOMEMLIMIT (and the container's memory limit with it) or reduce the live heap (%s)", bytes(float64(rt.HeapLive)))
	if len(rt.AllocSites) > 0 {
		top := rt.AllocSites[0]
		action += sprintf("; the top allocation site is %s (%s/s)", quote(top.Function), bytes(top.BytesPerSecond))
	}
	action += "."
	return []judge.Finding{{Severity: judge.SeverityCritical, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(s.Requests.Exemplars)}}
}
