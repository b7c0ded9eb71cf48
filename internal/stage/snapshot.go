package stage

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// Process-wide series.
const (
	sInflight = iota
	sGoroutines
	sGCCPU
	sGCPause
	sGCRate
	sAlloc
	sSched
	sMutex
	sKRunq
	sKOff
	sKSys
	sSTWRate
	sSTWCount
	sThrottled
	sThrottledTime
	sUsage
	sRunDelay
	sDropped
	numSeries
)

// levels are series whose Value is the latest, not the window's mean. The
// GC's CPU share is one: each value is already a figure over the time
// since the previous GC cycle (see buildProcess), and the latest is the
// one that tells, at the onset of GC pressure, that the run-queue wait
// other rules see is the GC's.
var levels = [numSeries]bool{sGoroutines: true, sGCCPU: true}

// minSubjectBase is the least number of samples a subject's baseline needs
// for its measures to have one.
const minSubjectBase = 20

// causeSlot counts the causes of the failed or anomalous local roots of
// one tick.
type causeSlot struct {
	tick   atomic.Int64
	counts [numComps]atomic.Int64
	shares [numComps]atomic.Int64 // sum of share × 1000
}

type poolSeries struct {
	waitRate, waitTime *series
	prevCount          uint64
	prevTime           time.Duration
	last               PoolReading
	seen               int64 // tick of the last reading
}

type dropKey struct{ signal, reason string }

type snapState struct {
	st       *Stage
	started  time.Time
	lastTick int64
	prevAt   time.Time
	series   [numSeries]*series
	causes   []causeSlot
	held     []int64 // ticks held out of the baselines (Readings.Incident), by slot index

	prevCycles    uint64
	gcCPUCycles   uint64 // GC cycles when sGCCPU last took a figure
	gcProvisional int    // sGCCPU values pushed since, to be replaced by the next figure
	prevKernel    KernelReading
	prevSTW       STWReading
	prevCPU       CPUReading
	pools         map[string]*poolSeries
	drops         map[dropKey]uint64
	dropRates     map[dropKey]*series
	blockedAt     time.Time
	prevBlocked   map[string]int
	blocked       []judge.BlockedStack
}

func (ss *snapState) init(st *Stage) {
	ss.st = st
	capacity := int(st.cfg.Baseline/st.cfg.Interval) + int(st.wTicks)
	for i := range ss.series {
		ss.series[i] = newSeries(capacity)
	}
	ss.causes = make([]causeSlot, st.nslots)
	for i := range ss.causes {
		ss.causes[i].tick.Store(-1)
	}
	ss.held = make([]int64, st.nslots)
	for i := range ss.held {
		ss.held[i] = -1
	}
	ss.pools = map[string]*poolSeries{}
	ss.drops = map[dropKey]uint64{}
	ss.dropRates = map[dropKey]*series{}
}

func (st *Stage) allSubjects() []*subject {
	var out []*subject
	out = append(out, st.ops.subjects()...)
	out = append(out, st.peers.subjects()...)
	out = append(out, st.queries.subjects()...)
	out = append(out, st.pools.subjects()...)
	return out
}

// prepare tags the slots of tick..tick+3 of every subject (clearing them),
// so that span ends in those ticks find their slot.
func (st *Stage) prepare(tick int64) {
	subs := st.allSubjects()
	for t := tick; t <= tick+3; t++ {
		i := int(uint64(t) % uint64(st.nslots))
		for _, s := range subs {
			sl := &s.slots[i]
			if sl.tick.Load() == t {
				continue
			}
			sl.count.Store(0)
			sl.errors.Store(0)
			sl.anomalies.Store(0)
			sl.dur.Store(0)
			for j := range sl.sk {
				sl.sk[j].Store(0)
			}
			for j := range sl.sums {
				sl.sums[j].Store(0)
			}
			s.mu.Lock()
			sl.maxDur.Store(0)
			sl.maxEx = judge.Exemplar{}
			s.mu.Unlock()
			sl.tick.Store(t)
		}
		cs := &st.snap.causes[i]
		if cs.tick.Load() != t {
			for j := range cs.counts {
				cs.counts[j].Store(0)
				cs.shares[j].Store(0)
			}
			cs.tick.Store(t)
		}
	}
}

// rootCause counts the cause of a failed or anomalous local root.
func (st *Stage) rootCause(tick int64, cause int, share float64) {
	cs := &st.snap.causes[int(uint64(tick)%uint64(st.nslots))]
	if cs.tick.Load() != tick {
		return
	}
	cs.counts[cause].Add(1)
	cs.shares[cause].Add(int64(share * 1000))
}

// absorb moves the slot of tick t (just left the window) into s's
// baseline, unless the slot was disturbed (many anomalies or errors, or
// held out during an incident) and the baseline has not been frozen for a
// whole baseline period already.
func (st *Stage) absorb(s *subject, t int64) {
	genLen := int64(st.cfg.Baseline/st.cfg.Interval) / 2
	if t-s.genStart >= genLen {
		s.gens[0], s.gens[1] = s.gens[1], s.gens[0]
		s.gens[0].reset()
		s.genStart = t
	}
	sl := s.slotFor(t)
	if sl != nil {
		n := sl.count.Load()
		disturbed := false
		if n >= 5 {
			base := &s.gens[0]
			var bErr float64
			if c := base.count + s.gens[1].count; c > 0 {
				bErr = float64(base.errors+s.gens[1].errors) / float64(c)
			}
			errRatio := float64(sl.errors.Load()) / float64(n)
			disturbed = sl.anomalies.Load()*5 > n || errRatio > max(0.1, 3*bErr)
		}
		if st.snap.held[int(uint64(t)%uint64(st.nslots))] == t {
			disturbed = true
		}
		if disturbed && s.skipped < int(2*genLen) {
			s.skipped++
		} else {
			s.skipped = 0
			s.gens[0].addSlot(sl)
		}
	}
	// Refresh the span path's cache.
	var base sketch
	base.merge(&s.gens[0].sk)
	base.merge(&s.gens[1].sk)
	if base.count() >= uint64(st.cfg.MinSamples) {
		s.p99ns.Store(int64(base.quantile(0.99) * 1e9))
	} else {
		s.p99ns.Store(0)
	}
}

// window aggregates s's completed slots of the window ending before tick.
func (st *Stage) window(s *subject, tick int64) agg {
	a := newAgg(s.kind)
	for t := tick - st.wTicks; t < tick; t++ {
		if sl := s.slotFor(t); sl != nil {
			a.addSlot(sl)
		}
	}
	return a
}

func (st *Stage) baseline(s *subject) agg {
	a := newAgg(s.kind)
	a.merge(&s.gens[0])
	a.merge(&s.gens[1])
	return a
}

// trend reports whether the last four completed slots' mean durations
// rose every tick and ended at least twice the baseline's mean.
func (st *Stage) trend(s *subject, tick int64, base *agg) bool {
	if base.count < minSubjectBase {
		return false
	}
	prev := -1.0
	for t := tick - 4; t < tick; t++ {
		sl := s.slotFor(t)
		if sl == nil {
			return false
		}
		n := sl.count.Load()
		if n < 3 {
			return false
		}
		mean := float64(sl.dur.Load()) / float64(n)
		if mean <= prev {
			return false
		}
		prev = mean
	}
	return prev >= 2*float64(base.dur)/float64(base.count)
}

// Snapshot advances the windows to now, feeds r into the process-wide
// series and returns the judge's snapshot. It allocates (once per tick).
func (st *Stage) Snapshot(now time.Time, r *Readings) *judge.Snapshot {
	st.snapMu.Lock()
	defer st.snapMu.Unlock()
	ss := &st.snap
	tick := now.UnixNano() / st.interval
	if ss.started.IsZero() {
		ss.started = now
		ss.lastTick = tick - 1
	}
	subs := st.allSubjects()
	if tick > ss.lastTick {
		leaving := tick - st.wTicks - 1
		if r.Incident {
			for t := leaving; t <= tick; t++ {
				ss.held[int(uint64(t)%uint64(st.nslots))] = t
			}
		}
		for _, s := range subs {
			st.absorb(s, leaving)
		}
		st.prepare(tick)
		st.traces.sweep(tick)
		ss.lastTick = tick
	}
	dt := now.Sub(ss.prevAt).Seconds()
	if ss.prevAt.IsZero() || dt <= 0 {
		dt = st.cfg.Interval.Seconds()
	}
	ss.prevAt = now

	w := int(st.wTicks)
	snap := &judge.Snapshot{
		Time:     now,
		Window:   time.Duration(st.wTicks) * st.cfg.Interval,
		Interval: st.cfg.Interval,
		History:  min(now.Sub(ss.started), st.cfg.Baseline),
	}

	// Per-subject sections.
	var reqW, reqB agg = newAgg(kindOp), newAgg(kindOp)
	for _, s := range st.ops.subjects() {
		win, base := st.window(s, tick), st.baseline(s)
		s.trend.Store(st.trend(s, tick, &base))
		reqW.merge(&win)
		reqB.merge(&base)
		if win.count == 0 {
			continue
		}
		ex, _ := s.exemplars(tick-st.wTicks, tick)
		snap.Operations = append(snap.Operations, judge.Operation{
			Name: s.name, Count: int(win.count), Errors: int(win.errors),
			ErrorRatio: ratioMeasure(win.errors, win.count, base.errors, base.count, base.slots),
			P50:        quantMeasure(&win, &base, 0.5), P99: quantMeasure(&win, &base, 0.99),
			Anomalies: int(win.anomalies), Exemplars: ex,
		})
	}
	topN(&snap.Operations, func(o judge.Operation) int { return o.Count })
	snap.Requests = st.requests(&reqW, &reqB, tick, snap)

	for _, s := range st.peers.subjects() {
		win, base := st.window(s, tick), st.baseline(s)
		s.trend.Store(st.trend(s, tick, &base))
		if win.count == 0 {
			continue
		}
		ex, lastErr := s.exemplars(tick-st.wTicks, tick)
		p := judge.Peer{
			Address: s.name, Protocol: s.proto, Count: int(win.count), Errors: int(win.errors),
			Rate:       rateMeasure(win.count, w, base.count, base.slots, st.cfg.Interval),
			ErrorRatio: ratioMeasure(win.errors, win.count, base.errors, base.count, base.slots),
			Refused:    int(win.sums[peerRefused]), Reset: int(win.sums[peerReset]),
			DNSFailures: int(win.sums[peerDNSFail]), TLSFailures: int(win.sums[peerTLSFail]),
			Timeouts: int(win.sums[peerTimeouts]), Unavailable: int(win.sums[peerUnavailable]),
			ServerErrors: int(win.sums[peerServerErr]), TopErrorType: lastErr,
			P50: quantMeasure(&win, &base, 0.5), P99: quantMeasure(&win, &base, 0.99),
			DNS:             meanMeasure(&win, &base, peerDNS, peerDNSN),
			Connect:         meanMeasure(&win, &base, peerConnect, peerConnectN),
			TLS:             meanMeasure(&win, &base, peerTLS, peerTLSN),
			ServerWait:      meanMeasure(&win, &base, peerServerWait, peerServerWaitN),
			ServerWaitShare: shareMeasure(win.sums[peerServerWait], win.dur, base.sums[peerServerWait], base.dur, base.count),
			Exemplars:       ex,
		}
		if win.errors == 0 {
			p.TopErrorType = ""
		}
		snap.Peers = append(snap.Peers, p)
	}
	topN(&snap.Peers, func(p judge.Peer) int { return p.Count })

	for _, s := range st.queries.subjects() {
		win, base := st.window(s, tick), st.baseline(s)
		s.trend.Store(st.trend(s, tick, &base))
		if win.count == 0 {
			continue
		}
		ex, _ := s.exemplars(tick-st.wTicks, tick)
		snap.Queries = append(snap.Queries, judge.Query{
			Fingerprint: s.name, Summary: s.summary, System: s.system, Pool: s.pool,
			Count: int(win.count), Errors: int(win.errors),
			P50: quantMeasure(&win, &base, 0.5), P99: quantMeasure(&win, &base, 0.99),
			Exemplars: ex,
		})
	}
	topN(&snap.Queries, func(q judge.Query) int { return q.Count })

	st.buildPools(snap, r, tick, w, dt)
	st.buildProcess(snap, r, w, dt)
	return snap
}

func (st *Stage) requests(win, base *agg, tick int64, snap *judge.Snapshot) judge.Requests {
	ss := &st.snap
	w := int(st.wTicks)
	req := judge.Requests{
		Count: int(win.count), Errors: int(win.errors), Timeouts: int(win.sums[opTimeouts]),
		Rate:       rateMeasure(win.count, w, base.count, base.slots, st.cfg.Interval),
		ErrorRatio: ratioMeasure(win.errors, win.count, base.errors, base.count, base.slots),
		P50:        quantMeasure(win, base, 0.5), P99: quantMeasure(win, base, 0.99),
		Anomalies: int(win.anomalies),
		GCPause:   shareMeasure(win.sums[opGCPause], win.dur, base.sums[opGCPause], base.dur, base.count),
		Runqueue:  shareMeasure(win.sums[opRunq], win.dur, base.sums[opRunq], base.dur, base.count),
		OffCPU:    shareMeasure(win.sums[opOffCPU], win.dur, base.sums[opOffCPU], base.dur, base.count),
		Syscall:   shareMeasure(win.sums[opSyscall], win.dur, base.sums[opSyscall], base.dur, base.count),
	}
	in := ss.series[sInflight]
	in.push(float64(st.inflight.Load()))
	req.InFlight = in.measure(1, w, true)
	req.InFlightHistory = in.last(3 * w)
	b := req.InFlight.Baseline
	st.surge.Store(req.InFlight.HasBaseline && req.InFlight.Value >= max(3*b, b+8))

	var counts, shares [numComps]int64
	for t := tick - st.wTicks; t < tick; t++ {
		cs := &ss.causes[int(uint64(t)%uint64(st.nslots))]
		if cs.tick.Load() != t {
			continue
		}
		for i := range counts {
			counts[i] += cs.counts[i].Load()
			shares[i] += cs.shares[i].Load()
		}
	}
	for i, n := range counts {
		if n > 0 {
			req.Causes = append(req.Causes, judge.CauseCount{Cause: CauseNames[i], Count: int(n), Share: float64(shares[i]) / 1000 / float64(n)})
		}
	}
	slices.SortStableFunc(req.Causes, func(a, b judge.CauseCount) int { return cmp.Compare(b.Count, a.Count) })
	// Failed or anomalous roots first, then the slowest of the busiest
	// operations.
	for _, pass := range [2]bool{true, false} {
		for _, o := range snap.Operations {
			if (o.Errors > 0 || o.Anomalies > 0) != pass {
				continue
			}
			for _, x := range o.Exemplars {
				if len(req.Exemplars) < 4 && !slices.Contains(req.Exemplars, x) {
					req.Exemplars = append(req.Exemplars, x)
				}
			}
		}
	}
	return req
}

func (st *Stage) buildPools(snap *judge.Snapshot, r *Readings, tick int64, w int, dt float64) {
	ss := &st.snap
	capacity := int(st.cfg.Baseline/st.cfg.Interval) + w
	for _, pr := range r.Pools {
		ps := ss.pools[pr.Name]
		if ps == nil {
			ps = &poolSeries{waitRate: newSeries(capacity), waitTime: newSeries(capacity), prevCount: pr.WaitCount, prevTime: pr.WaitDuration}
			ss.pools[pr.Name] = ps
		}
		ps.waitRate.push(float64(pr.WaitCount-min(ps.prevCount, pr.WaitCount)) / dt)
		ps.waitTime.push((pr.WaitDuration - min(ps.prevTime, pr.WaitDuration)).Seconds() / dt)
		ps.prevCount, ps.prevTime, ps.last, ps.seen = pr.WaitCount, pr.WaitDuration, pr, tick
	}
	// A pool subject (from spans) takes the statistics of the reading of
	// the same name, else, when the spans do not name their pool, of the
	// only reading of its system (a named pool whose reading is gone, e.g.
	// closed, must not take another pool's name).
	bySystem := map[string][]string{}
	for _, pr := range r.Pools {
		bySystem[pr.System] = append(bySystem[pr.System], pr.Name)
	}
	// A reading seen within the window still counts: a pool closed
	// moments ago (a test's, a replaced one) is judged with its last
	// statistics, as its spans of the window are.
	recent := func(ps *poolSeries) bool { return ps != nil && tick-ps.seen <= int64(w) }
	readingOf := func(s *subject) string {
		if ps := ss.pools[s.name]; recent(ps) {
			return s.name
		}
		if names := bySystem[s.system]; len(names) == 1 && !s.named {
			return names[0]
		}
		return ""
	}
	stats := func(name string) judge.PoolStats {
		ps := ss.pools[name]
		if name == "" || !recent(ps) {
			return judge.PoolStats{}
		}
		l := ps.last
		return judge.PoolStats{Available: true, MaxOpen: l.MaxOpen, Open: l.Open, InUse: l.InUse, Idle: l.Idle,
			WaitRate: ps.waitRate.measure(w, w, false), WaitTime: ps.waitTime.measure(w, w, false)}
	}
	seen := map[string]bool{}
	renamed := map[string]string{}
	for _, s := range st.pools.subjects() {
		win, base := st.window(s, tick), st.baseline(s)
		reading := readingOf(s)
		name := s.name
		if reading != "" && reading != s.name {
			name = reading
			s.alias.Store(&reading)
			renamed[s.name] = reading
		}
		if win.count == 0 && reading == "" {
			continue
		}
		seen[reading] = true
		s.mu.Lock()
		nested := ring(s.nested[:], s.nestedN)
		var ops []string
		for _, o := range s.nestOps {
			if o != "" {
				ops = append(ops, o)
			}
		}
		s.mu.Unlock()
		ex, _ := s.exemplars(tick-st.wTicks, tick)
		p := judge.Pool{
			Name: name, System: s.system, Count: int(win.count),
			WaitShare:        shareMeasure(win.sums[poolWait], win.dur, base.sums[poolWait], base.dur, base.count),
			WaitP99:          quantMeasure(&win, &base, 0.99),
			Nested:           int(win.sums[poolNested]),
			NestedOperations: ops, NestedExemplars: nested,
			Stats: stats(reading), Exemplars: ex,
		}
		if p.Nested == 0 {
			p.NestedOperations, p.NestedExemplars = nil, nil
		}
		snap.Pools = append(snap.Pools, p)
	}
	for _, pr := range r.Pools {
		if !seen[pr.Name] {
			if ps := stats(pr.Name); ps.Available {
				snap.Pools = append(snap.Pools, judge.Pool{Name: pr.Name, System: pr.System, Stats: ps})
			}
		}
	}
	slices.SortFunc(snap.Pools, func(a, b judge.Pool) int { return cmp.Compare(a.Name, b.Name) })
	for i := range snap.Queries {
		if n, ok := renamed[snap.Queries[i].Pool]; ok {
			snap.Queries[i].Pool = n
		}
	}
}

func (st *Stage) buildProcess(snap *judge.Snapshot, r *Readings, w int, dt float64) {
	ss := &st.snap
	push := func(i int, v float64) { ss.series[i].push(v) }
	meas := func(i int) judge.Measure { return ss.series[i].measure(w, w, levels[i]) }

	if rt := r.Runtime; rt.Available {
		push(sGoroutines, float64(rt.Goroutines))
		// The runtime computes its CPU classes only when a GC cycle ends
		// (runtime/metrics.go, cpuStatsAggregate), so its GC share is a
		// figure over the time since the previous cycle ended, and the
		// probe repeats it until the next. Kept as it is, one figure
		// (the start-up's, typically) would fill the baseline while no
		// cycle ends, and a GC-pressure fault would not reach twice it.
		// So an evaluation without a cycle that ended takes the last
		// figure provisionally (other rules stand down on a hot GC a
		// little longer rather than too early), and the next cycle's
		// figure, which covers those seconds, replaces the provisional
		// values: the series is the share over time as the runtime
		// measured it.
		if gc := ss.series[sGCCPU]; !gc.have || rt.GCCycles != ss.gcCPUCycles {
			gc.overwrite(ss.gcProvisional, rt.GCCPUFraction)
			ss.gcCPUCycles, ss.gcProvisional = rt.GCCycles, 0
		} else {
			ss.gcProvisional++
		}
		push(sGCCPU, rt.GCCPUFraction)
		pause := 0.0
		if rt.RateWindow > 0 {
			pause = rt.GCPauseTotal.Seconds() / rt.RateWindow.Seconds()
		}
		push(sGCPause, pause)
		cycles := 0.0
		if ss.prevCycles != 0 {
			cycles = float64(rt.GCCycles-min(ss.prevCycles, rt.GCCycles)) / dt
		}
		ss.prevCycles = rt.GCCycles
		push(sGCRate, cycles)
		push(sAlloc, rt.AllocRate)
		push(sSched, rt.SchedP99.Seconds())
		push(sMutex, rt.MutexWaitRate)
		if !rt.BlockedAt.Equal(ss.blockedAt) {
			cur := map[string]int{}
			blocked := make([]judge.BlockedStack, len(rt.Blocked))
			for i, b := range rt.Blocked {
				cur[b.Stack] += b.Count
				if ss.prevBlocked != nil {
					b.Growth = b.Count - ss.prevBlocked[b.Stack]
				}
				blocked[i] = b
			}
			ss.prevBlocked, ss.blockedAt, ss.blocked = cur, rt.BlockedAt, blocked
		}
		snap.Runtime = judge.Runtime{
			Available:     true,
			GCCPUFraction: meas(sGCCPU), GCPauseRate: meas(sGCPause), GCRate: meas(sGCRate),
			HeapLive: rt.HeapLive, HeapGoal: rt.HeapGoal, MemoryUsed: rt.MemoryUsed, MemoryLimit: rt.MemoryLimit, GOGC: rt.GOGC,
			AllocRate: meas(sAlloc), Goroutines: meas(sGoroutines), GoroutineHistory: ss.series[sGoroutines].last(3 * w),
			SchedLatencyP99: meas(sSched), MutexWaitRate: meas(sMutex), GOMAXPROCS: rt.GOMAXPROCS,
			AllocSites: rt.AllocSites, Blocked: ss.blocked, LeakSuspects: rt.LeakSuspects, BlockedAt: rt.BlockedAt,
			LeakSince: rt.LeakSince,
		}
	}

	if k := r.Kernel; k.Available {
		if ss.prevKernel.Available {
			p := ss.prevKernel
			push(sKRunq, (k.Runqueue-min(p.Runqueue, k.Runqueue)).Seconds()/dt)
			push(sKOff, (k.OffCPU-min(p.OffCPU, k.OffCPU)).Seconds()/dt)
			push(sKSys, (k.Syscall-min(p.Syscall, k.Syscall)).Seconds()/dt)
		}
		ss.prevKernel = k
		snap.Kernel = judge.Kernel{Available: true, Runqueue: meas(sKRunq), OffCPU: meas(sKOff), Syscall: meas(sKSys), EventsLost: k.EventsLost}
	}
	if s := r.STW; s.Available {
		if ss.prevSTW.Available {
			p := ss.prevSTW
			push(sSTWRate, (s.Total-min(p.Total, s.Total)).Seconds()/dt)
			push(sSTWCount, float64(s.Count-min(p.Count, s.Count))/dt)
		}
		ss.prevSTW = s
		snap.STW = judge.STW{Available: true, Rate: meas(sSTWRate), Count: meas(sSTWCount), Longest: s.Longest}
	}
	if c := r.CPU; c.Available || c.Usage > 0 {
		if p := ss.prevCPU; p.Periods > 0 || p.Usage > 0 {
			if dp := c.Periods - min(p.Periods, c.Periods); dp > 0 {
				push(sThrottled, float64(c.Throttled-min(p.Throttled, c.Throttled))/float64(dp))
			} else if c.Available {
				push(sThrottled, 0)
			}
			push(sThrottledTime, (c.ThrottledTime-min(p.ThrottledTime, c.ThrottledTime)).Seconds()/dt)
			push(sUsage, (c.Usage-min(p.Usage, c.Usage)).Seconds()/dt)
			if c.RunDelay > 0 {
				push(sRunDelay, (c.RunDelay-min(p.RunDelay, c.RunDelay)).Seconds()/dt)
			}
		}
		ss.prevCPU = c
		snap.CPU = judge.CPU{Available: c.Available, Quota: c.Quota, Throttled: meas(sThrottled), ThrottledTime: meas(sThrottledTime),
			Usage: meas(sUsage), RunqueueWait: meas(sRunDelay)}
	}

	var total float64
	capacity := int(st.cfg.Baseline/st.cfg.Interval) + w
	for _, d := range r.Drops {
		k := dropKey{d.Signal, d.Reason}
		prev, ok := ss.drops[k]
		rate := 0.0
		if ok {
			rate = float64(d.Total-min(prev, d.Total)) / dt
		}
		ss.drops[k] = d.Total
		sr := ss.dropRates[k]
		if sr == nil {
			sr = newSeries(capacity)
			ss.dropRates[k] = sr
		}
		sr.push(rate)
		total += rate
		if m := sr.measure(w, w, false); m.Value > 0 {
			snap.Pipeline.Drops = append(snap.Pipeline.Drops, judge.Drop{Signal: d.Signal, Reason: d.Reason, Rate: m.Value, Total: d.Total})
		}
	}
	push(sDropped, total)
	snap.Pipeline.Dropped = meas(sDropped)
}

func topN[T any](s *[]T, key func(T) int) {
	slices.SortStableFunc(*s, func(a, b T) int { return cmp.Compare(key(b), key(a)) })
	if len(*s) > 64 {
		*s = (*s)[:64]
	}
}

func hasBase(count int64, slots int) bool { return count >= minSubjectBase && slots >= 3 }

func quantMeasure(win, base *agg, q float64) judge.Measure {
	return judge.Measure{Value: win.sk.quantile(q), Baseline: base.sk.quantile(q), HasBaseline: hasBase(base.count, base.slots)}
}

func ratioMeasure(n, count, bn, bcount int64, bslots int) judge.Measure {
	var m judge.Measure
	if count > 0 {
		m.Value = float64(n) / float64(count)
	}
	if bcount > 0 {
		m.Baseline = float64(bn) / float64(bcount)
	}
	m.HasBaseline = hasBase(bcount, bslots)
	return m
}

func rateMeasure(count int64, w int, bcount int64, bslots int, interval time.Duration) judge.Measure {
	m := judge.Measure{Value: float64(count) / (float64(w) * interval.Seconds())}
	if bslots >= 3 {
		m.Baseline = float64(bcount) / (float64(bslots) * interval.Seconds())
		m.HasBaseline = true
	}
	return m
}

func shareMeasure(sum, dur, bsum, bdur, bcount int64) judge.Measure {
	var m judge.Measure
	if dur > 0 {
		m.Value = min(1, float64(sum)/float64(dur))
	}
	if bdur > 0 {
		m.Baseline = min(1, float64(bsum)/float64(bdur))
	}
	m.HasBaseline = bcount >= minSubjectBase
	return m
}

func meanMeasure(win, base *agg, sum, n int) judge.Measure {
	var m judge.Measure
	if c := win.sums[n]; c > 0 {
		m.Value = float64(win.sums[sum]) / float64(c) / 1e9
	}
	if c := base.sums[n]; c > 0 {
		m.Baseline = float64(base.sums[sum]) / float64(c) / 1e9
		m.HasBaseline = c >= minSubjectBase/4
	}
	return m
}
