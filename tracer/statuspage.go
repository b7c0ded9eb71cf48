package tracer

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/verdict-obs/verdict/internal/stage"
	"github.com/verdict-obs/verdict/internal/statuspage"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// Handler returns verdict's status page: what the tracer sees and
// concludes, on one self-contained HTML page that refreshes itself every 5
// seconds (no JavaScript, no external assets; ?refresh=0 stops the
// refresh, ?refresh=N sets it). It shows the components and their state
// ([Tracer.Status]); the active and recently cleared verdicts with their
// evidence and example traces; the slowest and the failed or anomalous
// recent requests (local roots) with their time drawn as bars — what their
// calls waited for (client phases, pool wait, queries) and their own
// kernel and GC time; a latency histogram per operation against its
// baseline; the downstreams, query fingerprints and pools; and the Go
// runtime's allocation hotspots and blocked goroutines.
//
// Nothing serves it until it is mounted: it is meant for an internal or
// debug listener, like net/http/pprof. It answers GET and HEAD on any
// path (its links are relative), so it works under any prefix:
//
//	mux.Handle("/debug/verdict/", http.StripPrefix("/debug/verdict", tr.Handler()))
//
// The page shows names and numbers only: span names, peer addresses, query
// fingerprints (never SQL literals), function names and stacks, never
// request headers or bodies. Without the judge ([WithoutJudge]) it shows
// the components and the runtime. It is safe for concurrent use, and
// keeps working (showing the status) after Shutdown.
func (t *Tracer) Handler() http.Handler { return statusHandler{t: t} }

type statusHandler struct{ t *Tracer }

// statusRefresh is the page's default refresh period.
const statusRefresh = 5

func (h statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	refresh := statusRefresh
	if v := r.URL.Query().Get("refresh"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 3600 {
			refresh = n
		}
	}
	var b bytes.Buffer
	if err := statuspage.Render(&b, h.t.statusPage(refresh)); err != nil {
		h.t.diag.Error("verdict: status page", "error", err)
		http.Error(w, "status page: rendering failed", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b.Bytes())
}

// statusPage gathers the page's model.
func (t *Tracer) statusPage(refresh int) *statuspage.Page {
	now := time.Now()
	st := t.Status()
	p := &statuspage.Page{Service: st.Service, Time: now, Refresh: refresh, ShutDown: st.ShutDown}
	if t != nil && !t.started.IsZero() {
		p.Uptime = now.Sub(t.started).Round(time.Second)
	}
	for _, c := range st.Components {
		p.Components = append(p.Components, statuspage.Component{Name: c.Name, Kind: c.Kind, State: c.State.String(),
			Detail: c.Detail, Reason: c.Reason, Dropped: c.Dropped})
	}
	if t == nil {
		return p
	}
	var snap *judge.Snapshot
	if js := t.judge; js != nil {
		p.Judge = true
		p.Rules = len(js.engine.Rules())
		for _, v := range js.engine.Verdicts() {
			pv := pageVerdict(v)
			if v.Active() {
				p.Active = append(p.Active, pv)
			} else if len(p.Recent) < 20 {
				p.Recent = append(p.Recent, pv)
			}
		}
		for _, s := range js.notable.slowest(8) {
			p.Slowest = append(p.Slowest, pageSpan(s))
		}
		for _, s := range js.notable.recent(10) {
			p.Failed = append(p.Failed, pageSpan(s))
		}
		snap = js.last.Load()
		p.Operations = pageOperations(js.stage.Histograms(12), snap)
		if snap != nil {
			p.Peers, p.Queries, p.Pools = pagePeers(snap), pageQueries(snap), pagePools(snap)
			if snap.Kernel.Available {
				k := snap.Kernel
				p.Kernel = &statuspage.Kernel{Runqueue: k.Runqueue.Value, OffCPU: k.OffCPU.Value, Syscall: k.Syscall.Value, EventsLost: k.EventsLost}
			}
		}
	}
	if rp := t.runtime; rp != nil && rp.Status().State != probes.StateOff {
		p.Runtime = pageRuntime(rp.Snapshot())
	}
	return p
}

func pageVerdict(v Verdict) statuspage.Verdict {
	pv := statuspage.Verdict{Rule: v.Rule, Subject: v.Subject, Severity: v.Severity.String(), Summary: v.Summary,
		Action: v.Action, Start: v.Start, End: v.End}
	for _, e := range v.Evidence {
		pv.Evidence = append(pv.Evidence, statuspage.Evidence{Signal: e.Signal, Value: e.Value, Baseline: e.Baseline,
			Threshold: e.Threshold, Unit: e.Unit, Source: string(e.Source), Detail: e.Detail})
	}
	for _, x := range v.Exemplars {
		pv.Exemplars = append(pv.Exemplars, x.TraceID.String())
	}
	return pv
}

func pageSpan(s notableSpan) statuspage.Span {
	ps := statuspage.Span{Name: s.Name, TraceID: s.TraceID.String(), End: s.End, Duration: s.Duration,
		Error: s.Error, ErrorType: s.ErrorType, Anomaly: s.Anomaly, Cause: s.Cause}
	switch {
	case s.StatusCode < 0 && s.Error:
		ps.Status = "error"
	case s.StatusCode < 0:
		ps.Status = "ok"
	case s.GRPC:
		ps.Status = grpcCodeName(s.StatusCode)
	default:
		ps.Status = strconv.FormatInt(s.StatusCode, 10)
	}
	if ps.ErrorType == ps.Status {
		ps.ErrorType = ""
	}
	for i, d := range s.Breakdown {
		if d > 0 && i != causeSelf {
			ps.Parts = append(ps.Parts, statuspage.Part{Name: stage.CauseNames[i], Own: i >= stage.NumChildCauses, Duration: time.Duration(d)})
		}
	}
	return ps
}

// grpcCodes are the gRPC status codes' names, as error.type carries them.
var grpcCodes = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func grpcCodeName(c int64) string {
	if c >= 0 && c < int64(len(grpcCodes)) {
		return grpcCodes[c]
	}
	return "gRPC " + strconv.FormatInt(c, 10)
}

// causeSelf is the index of "self" in stage.CauseNames (the page draws it
// as the remainder).
var causeSelf = slices.Index(stage.CauseNames[:], "self")

// pageOperations pairs the stage's histograms with the snapshot's
// quantiles.
func pageOperations(hs []stage.Histogram, snap *judge.Snapshot) []statuspage.Operation {
	bounds := make([]float64, stage.NumBuckets+1)
	for i := range stage.NumBuckets {
		bounds[i], bounds[i+1] = stage.BucketBounds(i)
	}
	var out []statuspage.Operation
	for _, h := range hs {
		o := statuspage.Operation{Name: h.Name, Count: h.Count, Errors: h.Errors, Bounds: bounds,
			Window: append([]uint64(nil), h.Window[:]...), Baseline: append([]uint64(nil), h.Baseline[:]...)}
		if snap != nil {
			for _, op := range snap.Operations {
				if op.Name == h.Name {
					o.P50, o.P99 = measure(op.P50), measure(op.P99)
				}
			}
		}
		out = append(out, o)
	}
	return out
}

func measure(m judge.Measure) statuspage.Measure {
	return statuspage.Measure{Value: m.Value, Baseline: m.Baseline, HasBaseline: m.HasBaseline}
}

func pagePeers(s *judge.Snapshot) []statuspage.Peer {
	var out []statuspage.Peer
	for _, p := range s.Peers {
		out = append(out, statuspage.Peer{Address: p.Address, Protocol: p.Protocol, Rate: measure(p.Rate), ErrorRatio: measure(p.ErrorRatio),
			P50: measure(p.P50), P99: measure(p.P99), ServerWaitShare: p.ServerWaitShare.Value, TopErrorType: p.TopErrorType, Self: p.Self})
	}
	return out
}

func pageQueries(s *judge.Snapshot) []statuspage.Query {
	var out []statuspage.Query
	for _, q := range s.Queries {
		out = append(out, statuspage.Query{Fingerprint: q.Fingerprint, Summary: q.Summary, Pool: q.Pool, Count: q.Count,
			Errors: q.Errors, P50: measure(q.P50), P99: measure(q.P99)})
	}
	return out
}

func pagePools(s *judge.Snapshot) []statuspage.Pool {
	var out []statuspage.Pool
	for _, p := range s.Pools {
		out = append(out, statuspage.Pool{Name: p.Name, InUse: p.Stats.InUse, Open: p.Stats.Open, Max: p.Stats.MaxOpen,
			Stats: p.Stats.Available, WaitShare: measure(p.WaitShare), WaitP99: measure(p.WaitP99)})
	}
	return out
}

func pageRuntime(s goruntime.Snapshot) *statuspage.Runtime {
	r := &statuspage.Runtime{
		Goroutines: int(s.Goroutines), HeapLive: s.HeapLive, HeapGoal: s.HeapGoal, GCCPU: s.GCCPUFraction,
		AllocRate: s.AllocRate, SchedP99: s.SchedLatencyP99.Seconds(), MutexWaitRate: s.MutexWaitRate,
		GOGC: s.GOGC, GOMAXPROCS: int64(s.GOMAXPROCS), HotspotsAt: s.Hotspots.Time, BlockingAt: s.Blocking.Time,
	}
	if w := s.RateWindow.Seconds(); w > 0 {
		r.GCPauseRate = s.GCPauseTotal.Seconds() / w
	}
	for i, a := range s.Hotspots.Sites {
		if i == 8 {
			break
		}
		r.Hotspots = append(r.Hotspots, statuspage.Hotspot{Function: a.Function, File: a.File, Line: a.Line, BytesPerSecond: a.BytesPerSecond})
	}
	if !s.Blocking.Time.IsZero() {
		for c := goruntime.BlockClass(0); c < goruntime.NumBlockClasses; c++ {
			if n := s.Blocking.Counts[c]; n > 0 {
				r.Blocking = append(r.Blocking, statuspage.BlockClass{Class: c.String(), Count: n})
			}
		}
	}
	var stacks []goruntime.BlockedStack
	for c := range s.Blocking.Top {
		stacks = append(stacks, s.Blocking.Top[c]...)
	}
	slices.SortStableFunc(stacks, func(a, b goruntime.BlockedStack) int { return b.Count - a.Count })
	for i, b := range stacks {
		if i == 8 {
			break
		}
		r.BlockedStacks = append(r.BlockedStacks, pageStack(b))
	}
	for _, b := range s.Blocking.Leaks {
		r.Leaks = append(r.Leaks, pageStack(b))
	}
	return r
}

func pageStack(b goruntime.BlockedStack) statuspage.BlockedStack {
	return statuspage.BlockedStack{Class: b.Class.String(), WaitReason: b.WaitReason, Stack: b.Stack, Count: b.Count, Growth: b.Growth}
}
