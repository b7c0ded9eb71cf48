package rules

import (
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// CPUStarvation (cpu.starvation) fires when goroutines and threads wait for
// a CPU: the runtime's scheduling latency (run-queue wait of goroutines),
// the process's threads' run-queue wait (/proc schedstat) or the eBPF
// run-queue share of request time several times its baseline, or the
// cgroup throttling the process — while requests slow down. When the
// GC takes a large share of the CPU, gc.stw_delay speaks instead. With
// eBPF the requests' own run-queue share must have risen; without it,
// slow requests mostly waiting on another process (a query, a server's
// response) are not starvation's.
type CPUStarvation struct {
	// MinRequests in the window before request latency is judged;
	// without that many, starvation alone fires.
	MinRequests int
	// SchedFloor (seconds) and SchedRatio: the scheduling-latency P99
	// that counts; SchedFloorClear holds an active verdict.
	SchedFloor, SchedRatio, SchedFloorClear float64
	// RunqueueShare of request time (eBPF) and its ratio over baseline.
	RunqueueShare, RunqueueRatio float64
	// RunqueueWait is the floor of the process's threads' run-queue wait
	// (/proc schedstat, s/s), at RunqueueRatio over its baseline.
	RunqueueWait float64
	// SevereSched (seconds), SevereRunqueue (share) and
	// SevereRunqueueWait (s/s) fire at only 2× and 1.5× their baseline: a
	// host that was already busy when the baseline formed.
	SevereSched, SevereRunqueue, SevereRunqueueWait float64
	// Throttled share of cgroup periods that counts.
	Throttled float64
	// LatencyRatio: request P99 over baseline that counts as slowed.
	LatencyRatio float64
	// MaxGCCPU: above this GC CPU fraction the GC is the CPU's consumer.
	// While the GC works several times harder than its baseline (see
	// gc.stw_delay) the rule also stays silent: the GC explains the wait.
	MaxGCCPU float64
}

// NewCPUStarvation returns cpu.starvation with its defaults.
func NewCPUStarvation() CPUStarvation {
	return CPUStarvation{
		MinRequests: 10,
		SchedFloor:  0.005, SchedRatio: 5, SchedFloorClear: 0.002,
		RunqueueShare: 0.1, RunqueueRatio: 3,
		RunqueueWait: 0.1,
		SevereSched:  0.02, SevereRunqueue: 0.5, SevereRunqueueWait: 0.5,
		Throttled:    0.2,
		LatencyRatio: 1.5,
		MaxGCCPU:     0.25,
	}
}

// ID returns "cpu.starvation".
func (CPUStarvation) ID() string { return IDCPUStarvation }

// Evaluate implements judge.Rule.
func (r CPUStarvation) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	rt := s.Runtime
	active := st.Active("")
	if rt.Available && (rt.GCCPUFraction.Value >= r.MaxGCCPU || gcHot(s)) {
		return nil
	}
	schedFloor := judge.Threshold(active, r.SchedFloor, r.SchedFloorClear)
	schedRatio := judge.Threshold(active, r.SchedRatio, r.SchedRatio/2)
	// A baseline taken on an already busy host is high: a severe level
	// counts at a smaller ratio.
	sched := rt.Available && (rt.SchedLatencyP99.Exceeds(schedRatio, schedFloor, false) ||
		rt.SchedLatencyP99.Exceeds(2, r.SevereSched, false))
	req := s.Requests
	runqShare := judge.Threshold(active, r.RunqueueShare, r.RunqueueShare/2)
	runq := req.Runqueue.Exceeds(judge.Threshold(active, r.RunqueueRatio, r.RunqueueRatio/2), runqShare, false) ||
		req.Runqueue.Exceeds(1.5, r.SevereRunqueue, false)
	throttled := s.CPU.Available && s.CPU.Throttled.Value >= judge.Threshold(active, r.Throttled, r.Throttled/2)
	waitFloor := judge.Threshold(active, r.RunqueueWait, r.RunqueueWait/2)
	procWait := s.CPU.RunqueueWait.Exceeds(judge.Threshold(active, r.RunqueueRatio, r.RunqueueRatio/2), waitFloor, false) ||
		s.CPU.RunqueueWait.Exceeds(1.5, r.SevereRunqueueWait, false)
	// A process's own threads queue behind each other when it works
	// harder (a table scan, a burst of requests): run-queue wait that grew
	// no faster than twice its own CPU use is its own load. Starved by
	// others, its wait multiplies while its CPU use stays or falls.
	if procWait && s.CPU.Usage.HasBaseline && s.CPU.RunqueueWait.Ratio(1e-3) < 2*s.CPU.Usage.Ratio(0.01) {
		procWait = false
	}
	if !sched && !runq && !throttled && !procWait {
		return nil
	}
	// Starvation matters when it slows requests: their P99 rose, or (eBPF)
	// they demonstrably spend a fifth of their time waiting for a CPU. The
	// latter holds when the latency baseline is itself high (an earlier
	// incident absorbed into it, a slow route dominating the P99): the
	// run-queue share is measured per request, not inferred. (A risen P50
	// is not enough: a slow query raises it and loads the CPU too.)
	latRatio := judge.Threshold(active, r.LatencyRatio, 1.2)
	slowed := req.P99.Exceeds(latRatio, 0, true) || runq && req.Runqueue.Value >= 2*runqShare
	if req.Count >= r.MinRequests && !slowed {
		return nil
	}
	// A risen P99 is only a sign. With eBPF the requests' own run-queue
	// time is measured: when their share did not rise, what the process's
	// other threads wait is not what slows them (a database on the same
	// host scanning a table loads the CPU; the requests wait on its
	// answers). Without eBPF, slow requests whose time is mostly a wait on
	// another process are explained there.
	if req.Count >= r.MinRequests && !throttled {
		if s.Kernel.Available && !req.Runqueue.Exceeds(1.5, runqShare/2, false) {
			return nil
		}
		if !s.Kernel.Available && waitElsewhere(req.Causes) {
			return nil
		}
	}

	var ev []judge.Evidence
	var parts []string
	if rt.Available {
		ev = append(ev, measured("runtime.sched.latency.p99", rt.SchedLatencyP99, schedFloor, "s", judge.SourceRuntime))
		if sched {
			parts = append(parts, sprintf("goroutines wait %s in the run queue at P99 (baseline %s)", dur(rt.SchedLatencyP99.Value), dur(rt.SchedLatencyP99.Baseline)))
		}
	}
	if req.Runqueue.Value > 0 || runq {
		ev = append(ev, measured("requests.runqueue.share", req.Runqueue, runqShare, "1", judge.SourceEBPF))
		if runq {
			parts = append(parts, sprintf("requests spend %s of their time waiting for a CPU (baseline %s)", pct(req.Runqueue.Value), pct(req.Runqueue.Baseline)))
		}
	}
	if s.CPU.RunqueueWait.Value > 0 || procWait {
		ev = append(ev, measured("process.runqueue.wait", s.CPU.RunqueueWait, waitFloor, "s/s", judge.SourceProc))
		if procWait {
			parts = append(parts, sprintf("its threads wait %s/s for a CPU (baseline %s/s)", dur(s.CPU.RunqueueWait.Value), dur(s.CPU.RunqueueWait.Baseline)))
		}
	}
	if s.Kernel.Available {
		ev = append(ev, measured("kernel.runqueue.rate", s.Kernel.Runqueue, 0, "s/s", judge.SourceEBPF))
	}
	if s.CPU.Available {
		ev = append(ev, measured("cgroup.throttled", s.CPU.Throttled, r.Throttled, "1", judge.SourceCgroup))
		if throttled {
			parts = append(parts, sprintf("the cgroup is throttled in %s of periods (quota %s cores)", pct(s.CPU.Throttled.Value), trim(s.CPU.Quota)))
		}
	}
	if req.Count > 0 {
		ev = append(ev, measured("requests.p99", req.P99, 0, "s", judge.SourceSpans))
	}
	summary := capital(join(parts)) + sprintf(" (request P99 %s, baseline %s): the process is starved of CPU.", dur(req.P99.Value), dur(req.P99.Baseline))
	action := "Something else takes the CPU: check the host's load and this container's CPU limit"
	if s.CPU.Available && s.CPU.Quota > 0 {
		action = sprintf("Raise the CPU limit (%s cores) or lower the load", trim(s.CPU.Quota))
	}
	if rt.GOMAXPROCS > 0 {
		action += sprintf("; GOMAXPROCS is %d", rt.GOMAXPROCS)
	}
	action += "."
	return []judge.Finding{{Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(req.Exemplars)}}
}

// LockContention (lock.contention) fires when goroutines spend much more
// time blocked on sync.Mutex and sync.RWMutex than usual (the runtime's
// /sync/mutex/wait/total). The action names the stack goroutines queue on
// a mutex at when the blocking analysis has one (see mutexWaiters).
type LockContention struct {
	// WaitFloor (s/s) and Ratio: the mutex wait per second that fires;
	// WaitClear holds an active verdict.
	WaitFloor, Ratio, WaitClear float64
	// MaxGCCPU: above this GC CPU fraction, runtime-internal lock waits
	// are the GC's doing (gc.stw_delay speaks). While goroutines wait for
	// a CPU (cpu.starvation's signals), lock holders are descheduled and
	// the rule stays silent too: the CPU is the cause.
	MaxGCCPU float64
}

// NewLockContention returns lock.contention with its defaults.
func NewLockContention() LockContention {
	return LockContention{WaitFloor: 0.5, Ratio: 5, WaitClear: 0.1, MaxGCCPU: 0.25}
}

// ID returns "lock.contention".
func (LockContention) ID() string { return IDLockContention }

// Evaluate implements judge.Rule.
func (r LockContention) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	rt := s.Runtime
	if !rt.Available || rt.GCCPUFraction.Value >= r.MaxGCCPU || gcHot(s) || cpuStarved(s) {
		return nil
	}
	active := st.Active("")
	floor := judge.Threshold(active, r.WaitFloor, r.WaitClear)
	if !rt.MutexWaitRate.Exceeds(judge.Threshold(active, r.Ratio, 2), floor, true) {
		return nil
	}
	ev := []judge.Evidence{measured("runtime.mutex.wait.rate", rt.MutexWaitRate, floor, "s/s", judge.SourceRuntime)}
	summary := sprintf("Goroutines spend %s per second blocked on mutexes (baseline %s/s)", dur(rt.MutexWaitRate.Value), dur(rt.MutexWaitRate.Baseline))
	if s.Requests.Count > 0 {
		summary += sprintf(", request P99 %s (baseline %s)", dur(s.Requests.P99.Value), dur(s.Requests.P99.Baseline))
		ev = append(ev, measured("requests.p99", s.Requests.P99, 0, "s", judge.SourceSpans))
	}
	summary += ": lock contention."
	action := "Shorten the critical section or split the lock"
	if b, ok := mutexWaiters(rt.Blocked); ok {
		action += sprintf("; %d goroutines wait at %s", b.Count, quote(topFrame(b.Stack)))
		ev = append(ev, judge.Evidence{Signal: "goroutines.blocked.sync", Value: float64(b.Count), Unit: "{goroutine}", Source: judge.SourceRuntime, Detail: b.Stack})
	}
	action += " (a mutex profile, goruntime.WithMutexProfileFraction, shows which lock)."
	return []judge.Finding{{Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(s.Requests.Exemplars)}}
}

// GoroutineLeak (goroutine.leak) fires when the number of goroutines grows
// steadily — rising in most evaluations over the window, by at least a
// floor and a share of the baseline — while the requests in flight do not
// explain it, or when the runtime probe flags a blocking stack as leaking.
// The action names the stack the growing goroutines are parked on.
//
// A stack the probe flags in its periodic analysis that is parked on a
// socket read (class "network") does not fire on its own: those goroutines
// are connections, and their number follows the peers — an HTTP server's
// keep-alive connections grow for as long as its clients open more under
// rising load, and stay bounded by them. Such growth fires only through
// the total, like any other. A leak check against a baseline (LeakSince
// set, from a test helper) counts every stack. Nor does a steady rise of
// the total fire when the probe's latest analysis, within the span, finds
// it on such stacks (a load's onset: clients opening connections).
type GoroutineLeak struct {
	// MinGrowth goroutines over the window and MinRate per second fire;
	// ClearRate (per second) holds an active verdict.
	MinGrowth, MinRate, ClearRate float64
	// BaselineShare: the growth must also be this share of the baseline.
	BaselineShare float64
	// Rising is the least share of steps that rose.
	Rising float64
	// PerRequest: goroutines each additional request in flight may
	// account for.
	PerRequest float64
	// Span is how much of the goroutine history the growth is judged over
	// (at most the window).
	Span time.Duration
}

// NewGoroutineLeak returns goroutine.leak with its defaults.
func NewGoroutineLeak() GoroutineLeak {
	return GoroutineLeak{MinGrowth: 50, MinRate: 5, ClearRate: 1, BaselineShare: 0.2, Rising: 0.7, PerRequest: 3, Span: 4 * time.Second}
}

// ID returns "goroutine.leak".
func (GoroutineLeak) ID() string { return IDGoroutineLeak }

// Evaluate implements judge.Rule.
func (r GoroutineLeak) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	rt := s.Runtime
	if !rt.Available {
		return nil
	}
	active := st.Active("")
	h := rt.GoroutineHistory
	step := s.Interval
	if step <= 0 {
		step = time.Second
	}
	// The last four seconds (at most the window) of growth decide, so that
	// a leak fires within seconds of its onset.
	k := int(min(s.Window, r.Span)/step) + 1
	growing := false
	var growth, perSecond float64
	if k >= 3 && len(h) >= k {
		w := h[len(h)-k:]
		growth = w[len(w)-1] - w[0]
		perSecond = growth / (float64(k-1) * step.Seconds())
		rising := 0
		for i := 1; i < len(w); i++ {
			if w[i] > w[i-1] {
				rising++
			}
		}
		inflight := 0.0
		if f := s.Requests.InFlightHistory; len(f) >= k {
			fw := f[len(f)-k:]
			inflight = max(0, fw[len(fw)-1]-fw[0])
		}
		explained := r.PerRequest * inflight
		if active {
			growing = perSecond >= r.ClearRate && growth > explained
		} else {
			growing = growth >= max(r.MinGrowth, r.BaselineShare*rt.Goroutines.Baseline) &&
				perSecond >= r.MinRate &&
				float64(rising) >= r.Rising*float64(k-1) &&
				growth > explained+r.MinGrowth/2
			// A load's onset opens connections by the dozen, each a
			// goroutine parked on a socket read. When the runtime probe's
			// latest analysis (it runs early on a surge) is within the
			// span and finds the growth there, it is not a leak.
			if net, other, ok := stackGrowth(rt, s.Time.Add(-time.Duration(k-1)*step)); growing && ok &&
				net > other && float64(other) < r.MinGrowth/2 {
				growing = false
			}
		}
	}
	sus := leakSuspects(rt)
	suspects := len(sus) > 0
	if !growing && !suspects {
		return nil
	}
	ev := []judge.Evidence{
		measured("runtime.goroutines", rt.Goroutines, 0, "{goroutine}", judge.SourceRuntime),
		{Signal: "runtime.goroutines.growth.rate", Value: perSecond, Threshold: r.MinRate, Unit: "{goroutine}/s", Source: judge.SourceRuntime},
		measured("requests.in_flight", s.Requests.InFlight, 0, "{request}", judge.SourceSpans),
	}
	var summary string
	if growing {
		summary = sprintf("Goroutines grew by %s in %s (+%s) to %s while requests in flight stayed at %s: goroutines are leaking.",
			count(int(growth)), time.Duration(k-1)*step, perSec(perSecond), count(int(rt.Goroutines.Value)), trim(s.Requests.InFlight.Value))
	} else if !rt.LeakSince.IsZero() {
		n := 0
		for _, b := range sus {
			n += b.Growth
		}
		summary = sprintf("%s goroutines on %d stacks are still running that were not at %s, when the leak baseline was taken: goroutines are leaking.",
			count(n), len(sus), rt.LeakSince.Format("15:04:05.000"))
	} else {
		summary = sprintf("%d goroutine stacks keep growing over the runtime probe's leak window (%s goroutines): goroutines are leaking.",
			len(sus), count(int(rt.Goroutines.Value)))
	}
	action := "Find the goroutines that never finish (a goroutine dump, /debug/pprof/goroutine?debug=1): make sure each can exit (close the channel it waits on, pass a context, bound it with a timeout)."
	if b, ok := leakingStack(rt, sus); ok && (suspects || b.Growth >= max(5, int(growth)/5)) {
		action = sprintf("The growing goroutines are parked on %q at %s: make sure each goroutine started there can exit (close the channel it waits on, pass a context, bound it with a timeout).",
			b.WaitReason, quote(topFrame(b.Stack)))
		ev = append(ev, judge.Evidence{Signal: "goroutines.stack", Value: float64(b.Count), Unit: "{goroutine}", Source: judge.SourceRuntime, Detail: b.Stack})
	}
	return []judge.Finding{{Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev}}
}

// mutexWaiters picks the stack goroutines queue on a lock at: of the
// groups parked on sync.Mutex or sync.RWMutex (or on a bare semaphore,
// which a mutex's waiters show when the runtime names no more), the one
// that grew most since the previous analysis, then the largest. Groups
// parked in sync.WaitGroup.Wait or sync.Cond.Wait are not lock waiters: a
// process has them all the time (idle workers, pools), and they are often
// larger than the queue on the contended lock.
func mutexWaiters(blocked []judge.BlockedStack) (judge.BlockedStack, bool) {
	var best judge.BlockedStack
	found := false
	for _, b := range blocked {
		if b.Class != "sync" || !isLockWait(b.WaitReason) {
			continue
		}
		if !found || b.Growth > best.Growth || b.Growth == best.Growth && b.Count > best.Count {
			best, found = b, true
		}
	}
	return best, found
}

// isLockWait reports whether a wait reason is a wait for a lock.
func isLockWait(reason string) bool {
	switch reason {
	case "sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock", "semacquire":
		return true
	}
	return false
}

// stackGrowth sums the growth of the blocking analysis's stacks since the
// one before, on socket reads (net) and elsewhere (other); ok is false when
// the analysis is older than since.
func stackGrowth(rt judge.Runtime, since time.Time) (net, other int, ok bool) {
	if rt.BlockedAt.IsZero() || rt.BlockedAt.Before(since) {
		return 0, 0, false
	}
	for _, b := range rt.Blocked {
		switch {
		case b.Growth <= 0:
		case b.Class == "network":
			net += b.Growth
		default:
			other += b.Growth
		}
	}
	return net, other, true
}

// leakSuspects are the runtime probe's leak suspects that fire the rule on
// their own: all of a check against a baseline, the ones not parked on a
// socket read of the periodic analysis.
func leakSuspects(rt judge.Runtime) []judge.BlockedStack {
	if !rt.LeakSince.IsZero() {
		return rt.LeakSuspects
	}
	var out []judge.BlockedStack
	for _, b := range rt.LeakSuspects {
		if b.Class != "network" {
			out = append(out, b)
		}
	}
	return out
}

// leakingStack picks the stack the leak is most likely on: a suspect (of
// leakSuspects), else the group that grew most, else the largest.
func leakingStack(rt judge.Runtime, suspects []judge.BlockedStack) (judge.BlockedStack, bool) {
	if len(suspects) > 0 {
		return suspects[0], true
	}
	var best judge.BlockedStack
	found := false
	for _, b := range rt.Blocked {
		if b.Class == "network" || b.Class == "select" && b.Growth <= 0 {
			continue
		}
		if !found || b.Growth > best.Growth || b.Growth == best.Growth && b.Count > best.Count {
			best, found = b, true
		}
	}
	return best, found
}

// TelemetryDropping (telemetry.dropping) fires when verdict's own pipeline
// drops telemetry: export queues full, exports failing, the tail-keep
// buffer full.
type TelemetryDropping struct {
	// Rate of drops per second that fires; any drop holds.
	Rate float64
}

// NewTelemetryDropping returns telemetry.dropping with its defaults.
func NewTelemetryDropping() TelemetryDropping { return TelemetryDropping{Rate: 0.2} }

// ID returns "telemetry.dropping".
func (TelemetryDropping) ID() string { return IDTelemetryDropping }

// Evaluate implements judge.Rule.
func (r TelemetryDropping) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	p := s.Pipeline
	floor := r.Rate
	if st.Active("") {
		floor = 1e-9
	}
	if p.Dropped.Value < floor || len(p.Drops) == 0 {
		return nil
	}
	top := p.Drops[0]
	for _, d := range p.Drops {
		if d.Rate > top.Rate {
			top = d
		}
	}
	var ev []judge.Evidence
	for _, d := range p.Drops {
		ev = append(ev, judge.Evidence{Signal: "telemetry.dropped." + d.Signal + "." + d.Reason, Value: d.Rate, Threshold: r.Rate, Unit: "/s", Source: judge.SourcePipeline})
	}
	summary := sprintf("verdict drops %s telemetry items/s (%s %s): telemetry is being lost.", num(p.Dropped.Value), top.Signal, top.Reason)
	var action string
	switch top.Reason {
	case "queue_full":
		action = "The exporter cannot keep up or is down: check the collector's health and address (Tracer.Status names it), or sample more."
	case "export_failed":
		action = "Exports fail: check the collector's endpoint, protocol and credentials (Tracer.Status shows the last error)."
	case "tail_buffer_full":
		action = "Too many unsampled spans wait for their local root: traces are very large or roots stay open long; raise the tail-keep buffer or sample more at the head."
	default:
		action = "Check the exporters (Tracer.Status)."
	}
	return []judge.Finding{{Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev}}
}

func capital(s string) string {
	if s == "" {
		return s
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func join(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	out := ""
	for i, p := range parts {
		switch {
		case i == 0:
			out = p
		case i == len(parts)-1:
			out += " and " + p
		default:
			out += ", " + p
		}
	}
	return out
}

// gcHot reports whether the GC works several times harder than its
// baseline: its CPU fraction at least doubled (and 10 %), or its pause time
// per second and its cycles per second at least tripled (and 5 ms/s, one
// cycle per second). The GC then explains run-queue
// and lock waits, and gc.stw_delay is the verdict to draw.
func gcHot(s *judge.Snapshot) bool {
	rt := s.Runtime
	if !rt.Available {
		return false
	}
	pause := rt.GCPauseRate
	if s.STW.Available {
		pause = s.STW.Rate
	}
	// Without a baseline yet (the first seconds), the floors alone decide:
	// this only keeps other rules from blaming the CPU or locks for the
	// GC's work.
	return rt.GCCPUFraction.Exceeds(2, 0.1, true) || pause.Exceeds(3, 0.005, true) && rt.GCRate.Exceeds(3, 1, true)
}

// cpuStarved reports whether goroutines or threads wait for a CPU far more
// than usual (cpu.starvation's default onset signals, without its latency
// condition).
// waitElsewhere reports whether the most frequent verdict.cause of the
// window's slow and failed requests is a wait on another process: a
// database query, a server's response, a gRPC call, a connect or a DNS
// lookup (the values of verdict.cause; see tracer's package doc).
func waitElsewhere(causes []judge.CauseCount) bool {
	if len(causes) == 0 {
		return false
	}
	switch causes[0].Cause {
	case "db.query", "http.client.server_wait", "rpc.client", "connect", "dns":
		return true
	}
	return false
}

func cpuStarved(s *judge.Snapshot) bool {
	d := NewCPUStarvation()
	return s.Runtime.Available && s.Runtime.SchedLatencyP99.Exceeds(d.SchedRatio, d.SchedFloor, false) ||
		s.Requests.Runqueue.Exceeds(d.RunqueueRatio, d.RunqueueShare, false) ||
		s.CPU.RunqueueWait.Exceeds(d.RunqueueRatio, d.RunqueueWait, false) ||
		s.CPU.Available && s.CPU.Throttled.Value >= d.Throttled
}
