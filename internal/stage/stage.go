package stage

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// Config sizes the stage. Zero fields take the defaults of [New].
type Config struct {
	Interval time.Duration // tick, default 1 s
	Window   time.Duration // default 5 s
	Baseline time.Duration // default 5 min

	MaxOperations int // default 512
	MaxPeers      int // default 64
	MaxQueries    int // default 256
	MaxPools      int // default 16

	// MinSamples a subject's baseline needs before spans are judged
	// anomalous (default 50); Factor × the baseline P99 is anomalous
	// (default 3), if the excess is at least Floor (default 1 ms).
	MinSamples int
	Factor     float64
	Floor      time.Duration

	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Anomaly reasons, indexes of [Stage.Anomalies].
const (
	ReasonLatency = iota
	ReasonTrend
	ReasonConcurrency
	NumReasons
)

// ReasonNames are the verdict.anomaly.reason values.
var ReasonNames = [NumReasons]string{semconv.AnomalyLatency, semconv.AnomalyTrend, semconv.AnomalyConcurrency}

// NumCauses is the number of verdict.cause values ([CauseNames]).
const NumCauses = numComps

// CauseNames are the verdict.cause values, by component.
var CauseNames = [numComps]string{
	cPoolWait:      semconv.CausePoolWait,
	cDBQuery:       semconv.CauseDBQuery,
	cServerWait:    semconv.CauseServerWait,
	cRequestWrite:  semconv.CauseRequestWrite,
	cResponseRead:  semconv.CauseResponseRead,
	cRPCClient:     semconv.CauseRPCClient,
	cDNS:           semconv.CauseDNS,
	cConnect:       semconv.CauseConnect,
	cTLS:           semconv.CauseTLS,
	cKernelSyscall: semconv.CauseKernelSyscall,
	cKernelOffCPU:  semconv.CauseKernelOffCPU,
	cKernelRunq:    semconv.CauseKernelRunqueue,
	cGCSTW:         semconv.CauseGCSTW,
	cSelf:          semconv.CauseSelf,
}

var (
	attrCause       = attribute.Key(semconv.AttrCause)
	attrCauseShare  = attribute.Key(semconv.AttrCauseShare)
	attrAnomaly     = attribute.Key(semconv.AttrAnomaly)
	attrAnomalyWhy  = attribute.Key(semconv.AttrAnomalyReason)
	causeValues     [numComps]attribute.KeyValue
	reasonValues    [NumReasons]attribute.KeyValue
	anomalyTrueAttr = attrAnomaly.Bool(true)
)

func init() {
	for i, n := range CauseNames {
		causeValues[i] = attrCause.String(n)
	}
	for i, n := range ReasonNames {
		reasonValues[i] = attrAnomalyWhy.String(n)
	}
}

type peerKey struct {
	host string
	port int64
	grpc bool
}

type poolKey struct {
	name, system, host string
	port               int64
}

// Stage is the span stage. Start and End are safe for concurrent use and
// allocate nothing once a span's subjects exist; Snapshot must be called
// from one goroutine at a time.
type Stage struct {
	cfg      Config
	interval int64 // ns
	wTicks   int64
	nslots   int

	ops     *table[string]
	peers   *table[peerKey]
	queries *table[string]
	pools   *table[poolKey]
	traces  traceTable

	nextID    atomic.Uint32
	inflight  atomic.Int64
	surge     atomic.Bool
	late      atomic.Uint64 // spans whose tick had no slot
	untracked atomic.Uint64 // local traces the trace table had no room for
	anomalies [NumReasons][numComps]atomic.Uint64

	snapMu sync.Mutex
	snap   snapState
}

// New returns a stage sized by cfg.
func New(cfg Config) *Stage {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Window < cfg.Interval {
		cfg.Window = max(5*time.Second, cfg.Interval)
	}
	if cfg.Baseline < 2*cfg.Window {
		cfg.Baseline = max(5*time.Minute, 2*cfg.Window)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxOperations, 512)
	def(&cfg.MaxPeers, 64)
	def(&cfg.MaxQueries, 256)
	def(&cfg.MaxPools, 16)
	def(&cfg.MinSamples, 50)
	if cfg.Factor <= 1 {
		cfg.Factor = 3
	}
	if cfg.Floor <= 0 {
		cfg.Floor = time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st := &Stage{cfg: cfg, interval: int64(cfg.Interval)}
	st.wTicks = int64((cfg.Window + cfg.Interval - 1) / cfg.Interval)
	// The window, the slot leaving it, the current one and three ahead.
	st.nslots = int(st.wTicks) + 5
	st.ops = newTable[string](st, kindOp, cfg.MaxOperations)
	st.peers = newTable[peerKey](st, kindPeer, cfg.MaxPeers)
	st.queries = newTable[string](st, kindQuery, cfg.MaxQueries)
	st.pools = newTable[poolKey](st, kindPool, cfg.MaxPools)
	st.snap.init(st)
	st.prepare(cfg.Now().UnixNano() / st.interval)
	return st
}

func (st *Stage) newSubject(kind int) *subject {
	s := newSubject(kind, st.nslots)
	s.id = st.nextID.Add(1)
	tick := st.cfg.Now().UnixNano() / st.interval
	for t := tick - 1; t <= tick+3; t++ {
		sl := &s.slots[int(uint64(t)%uint64(st.nslots))]
		sl.tick.Store(t)
	}
	s.genStart = tick
	return s
}

// Start counts a local root in flight. Call it from OnStart.
func (st *Stage) Start(localRoot bool) {
	if localRoot {
		st.inflight.Add(1)
	}
}

// Result is what End decided for a span.
type Result struct {
	// Interesting: the span failed or was anomalous.
	Interesting bool
	// Keep (local roots only): the local trace had a failed or anomalous
	// span, so the tail-keep sampler keeps it whole. KeepError says an
	// error did (else an anomaly).
	Keep, KeepError bool
	// Breakdown (local roots only) is the time of the local trace per
	// component (index: [CauseNames]), in nanoseconds: its children's
	// client phases, pool wait and query time, and the root's own kernel
	// and GC time. Components may overlap (kernel time is spent inside
	// the others).
	Breakdown [NumCauses]int64
}

// End reads one ended span: it updates the windows and baselines of the
// span's subjects, decides whether the span is anomalous, accumulates its
// components onto its local trace, and appends verdict.cause,
// verdict.cause.share (failed or anomalous spans) and verdict.anomaly,
// verdict.anomaly.reason (anomalous spans) to dst.
func (st *Stage) End(sp *Span, dst []attribute.KeyValue) ([]attribute.KeyValue, Result) {
	var f features
	f.grpcCode = -1
	f.read(sp.Attrs)
	f.read(sp.Extra)
	durNs := max(sp.End.Sub(sp.Start).Nanoseconds(), 0)
	tick := sp.End.UnixNano() / st.interval
	if sp.LocalRoot {
		st.inflight.Add(-1)
	}

	isErr := sp.Error || f.errType != "" || (sp.Kind == trace.SpanKindServer && f.status >= 500)
	client := sp.Kind == trace.SpanKindClient
	isDB := client && f.dbSystem != ""
	isPeer := client && !isDB && (f.method != "" || f.rpc)

	// The span's own components.
	var comps [numComps]int64
	if f.hasWait {
		comps[cPoolWait] = secNs(f.wait)
	}
	if isDB {
		comps[cDBQuery] = max(durNs-comps[cPoolWait], 0)
	}
	if isPeer {
		if f.rpc && f.method == "" {
			comps[cRPCClient] = durNs
		}
		comps[cDNS] = secNs(f.phase[phDNS])
		comps[cConnect] = secNs(f.phase[phConnect])
		comps[cTLS] = secNs(f.phase[phTLS])
		comps[cRequestWrite] = secNs(f.phase[phRequestWrite])
		comps[cServerWait] = secNs(f.phase[phServerWait])
		comps[cResponseRead] = secNs(f.phase[phResponseRead])
	}
	comps[cKernelSyscall] = secNs(f.kSyscall)
	comps[cKernelOffCPU] = secNs(f.kOffCPU)
	comps[cKernelRunq] = secNs(f.kRunq)
	comps[cGCSTW] = secNs(f.gcPause)

	ex := judge.Exemplar{TraceID: sp.SC.TraceID(), SpanID: sp.SC.SpanID()}
	reason := -1
	errCause := -1
	var touched [3]uint32
	var nestedPool *subject

	switch {
	case isDB:
		pool := st.poolOf(&f)
		fp := f.fingerprint
		if fp == "" {
			fp = f.dbOperation
		}
		if fp == "" {
			fp = sp.Name
		}
		q := st.queries.get(fp, digest(fp), func(s *subject) string {
			s.name = strings.Clone(fp)
			s.summary = strings.Clone(f.summary)
			s.system = strings.Clone(f.dbSystem)
			s.pool = pool.name
			return s.name
		})
		execNs := comps[cDBQuery]
		reason = st.anomalyOf(q, execNs, false)
		if sl := st.record(q, tick, durNs, execNs, isErr, reason >= 0, ex); sl != nil && (isErr || reason >= 0) {
			q.exemplar(ex, f.errType, tick)
		}
		if sl := st.record(pool, tick, durNs, comps[cPoolWait], isErr, false, ex); sl != nil {
			sl.sums[poolWait].Add(comps[cPoolWait])
			if sp.Nested {
				sl.sums[poolNested].Add(1)
				pool.mu.Lock()
				pool.nested[pool.nestedN%len(pool.nested)] = ex
				pool.nestedN++
				pool.mu.Unlock()
				nestedPool = pool
			}
			if comps[cPoolWait] > durNs/2 && comps[cPoolWait] >= int64(time.Millisecond) {
				pool.exemplar(ex, "", tick)
			}
		}
		touched[0], touched[1] = q.id, pool.id
	case isPeer:
		p := st.peerOf(sp, &f)
		class, refused := classify(f.errType, f.status, f.grpcCode, sp.StatusDesc)
		reason = st.anomalyOf(p, durNs, false)
		if sl := st.record(p, tick, durNs, durNs, isErr, reason >= 0, ex); sl != nil {
			for i, k := range [...]int{peerDNS, peerConnect, peerTLS} {
				ph := [...]int{phDNS, phConnect, phTLS}[i]
				if f.hasPhase[ph] {
					sl.sums[k].Add(secNs(f.phase[ph]))
					sl.sums[k+peerDNSN].Add(1)
				}
			}
			if f.hasPhase[phServerWait] {
				sl.sums[peerServerWait].Add(comps[cServerWait])
				sl.sums[peerServerWaitN].Add(1)
			}
			if class >= 0 {
				sl.sums[class].Add(1)
			}
			if refused && class != peerRefused {
				sl.sums[peerRefused].Add(1)
			}
			if isErr || reason >= 0 {
				p.exemplar(ex, f.errType, tick)
			}
		}
		if isErr {
			errCause = peerErrCause(class, refused, f.rpc && f.method == "")
		}
		touched[0] = p.id
	}

	var res Result
	if sp.LocalRoot {
		op := st.ops.get(sp.Name, digest(sp.Name), func(s *subject) string {
			s.name = strings.Clone(sp.Name)
			return s.name
		})
		if r := st.anomalyOf(op, durNs, true); r >= 0 && reason < 0 {
			reason = r
		}
		if sl := st.record(op, tick, durNs, durNs, isErr, reason >= 0, ex); sl != nil {
			addIf(&sl.sums[opGCPause], secNs(f.gcPause))
			addIf(&sl.sums[opRunq], comps[cKernelRunq])
			addIf(&sl.sums[opOffCPU], comps[cKernelOffCPU])
			addIf(&sl.sums[opSyscall], comps[cKernelSyscall])
			if isErr && isTimeout(f.errType, f.status) {
				sl.sums[opTimeouts].Add(1)
			}
			if isErr || reason >= 0 {
				op.exemplar(ex, f.errType, tick)
			}
		}
		// Children ended first: their components and flags are in the
		// local trace's entry.
		if e, ok := st.traces.take(sp.SC.TraceID()); ok {
			for i := 0; i < cAccumulated; i++ {
				comps[i] += e.comps[i]
			}
			res.Keep = e.flags != 0
			res.KeepError = e.flags&tfError != 0
			if isErr && e.errCause >= 0 {
				errCause = int(e.errCause)
			}
			if e.nestedPool != nil {
				e.nestedPool.nestedOp(sp.Name)
			}
		}
		res.Breakdown = comps
	} else if isErr || reason >= 0 || nestedPool != nil || significant(&comps) {
		// Children that failed, were anomalous or took measurable time in
		// a component tell their local root; the many fast, ordinary ones
		// (most database and HTTP calls) skip the trace table.
		cause := errCause
		if isErr && cause < 0 {
			cause, _ = dominant(&comps, durNs)
		}
		ok := st.traces.with(sp.SC.TraceID(), tick, true, func(e *traceEntry) {
			for i := 0; i < cAccumulated; i++ {
				e.comps[i] += comps[i]
			}
			if isErr {
				e.flags |= tfError
				if e.errCause < 0 && cause >= 0 {
					e.errCause = int8(cause)
				}
			}
			if reason >= 0 {
				e.flags |= tfAnomaly
			}
			for _, id := range touched {
				if id != 0 {
					e.touch(id)
				}
			}
			if nestedPool != nil {
				e.nestedPool = nestedPool
			}
		})
		if !ok {
			st.untracked.Add(1)
		}
	}

	res.Interesting = isErr || reason >= 0
	if sp.LocalRoot && res.Interesting {
		res.Keep = true
		res.KeepError = res.KeepError || isErr
	}
	if !res.Interesting {
		return dst, res
	}
	cause, share := errCause, 0.0
	if cause >= 0 {
		share = 1
		if durNs > 0 && comps[cause] > 0 {
			share = min(1, float64(comps[cause])/float64(durNs))
		}
	} else {
		cause, share = dominant(&comps, durNs)
	}
	dst = append(dst, causeValues[cause], attrCauseShare.Float64(round3(share)))
	if sp.LocalRoot {
		st.rootCause(tick, cause, share)
	}
	if reason >= 0 {
		dst = append(dst, anomalyTrueAttr, reasonValues[reason])
		st.anomalies[reason][cause].Add(1)
	}
	return dst, res
}

// Anomalies returns the number of anomalous spans so far by reason and
// cause.
func (st *Stage) Anomalies(reason, cause int) uint64 { return st.anomalies[reason][cause].Load() }

// minComponent is the least a child's components must add up to for the
// child to be accumulated onto its local root.
const minComponent = int64(100 * time.Microsecond)

func significant(comps *[numComps]int64) bool {
	var sum int64
	for i := 0; i < cAccumulated; i++ {
		sum += comps[i]
	}
	return sum >= minComponent
}

func addIf(a *atomic.Int64, v int64) {
	if v != 0 {
		a.Add(v)
	}
}

func secNs(s float64) int64 {
	if s <= 0 || s != s {
		return 0
	}
	if s > 1e9 {
		return 1e18
	}
	return int64(s * 1e9)
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// dominant returns the component with the most time and its share of dur;
// "self" when no measured component explains a fifth of the span.
func dominant(comps *[numComps]int64, durNs int64) (int, float64) {
	best, bv := -1, int64(0)
	for i := 0; i < cSelf; i++ {
		if comps[i] > bv {
			best, bv = i, comps[i]
		}
	}
	if durNs <= 0 {
		if best < 0 {
			return cSelf, 1
		}
		return best, 1
	}
	share := min(1, float64(bv)/float64(durNs))
	if best < 0 || share < 0.2 {
		return cSelf, 1 - share
	}
	return best, share
}

func peerErrCause(class int, refused, rpcCall bool) int {
	switch {
	case refused || class == peerRefused:
		return cConnect
	case class == peerDNSFail:
		return cDNS
	case class == peerTLSFail:
		return cTLS
	case rpcCall:
		return cRPCClient
	}
	return cServerWait
}

// anomalyOf returns the anomaly reason of a span of s lasting durNs, or -1.
func (st *Stage) anomalyOf(s *subject, durNs int64, root bool) int {
	p99 := s.p99ns.Load()
	if p99 <= 0 || durNs-p99 < int64(st.cfg.Floor) {
		return -1
	}
	switch {
	case float64(durNs) > st.cfg.Factor*float64(p99):
		return ReasonLatency
	case s.trend.Load():
		return ReasonTrend
	case root && st.surge.Load():
		return ReasonConcurrency
	}
	return -1
}

// record adds one span to s's slot of tick; skNs goes into the sketch.
func (st *Stage) record(s *subject, tick, durNs, skNs int64, isErr, anomalous bool, ex judge.Exemplar) *slot {
	sl := s.slotFor(tick)
	if sl == nil {
		st.late.Add(1)
		return nil
	}
	s.slowest(sl, skNs, ex)
	sl.count.Add(1)
	sl.dur.Add(durNs)
	sl.sk.add(skNs)
	if isErr {
		sl.errors.Add(1)
	}
	if anomalous {
		sl.anomalies.Add(1)
	}
	return sl
}

func (st *Stage) poolOf(f *features) *subject {
	k := poolKey{name: f.poolName, system: f.dbSystem}
	if f.poolName == "" {
		k.host, k.port = f.host, f.port
	}
	return st.pools.get(k, digest(k.system)^digest(k.host)&(tableCache-1), func(s *subject) poolKey {
		k := poolKey{name: strings.Clone(k.name), system: strings.Clone(k.system), host: strings.Clone(k.host), port: k.port}
		s.system = k.system
		s.named = k.name != ""
		switch {
		case k.name != "":
			s.name = k.name
		case k.host != "":
			s.name = k.system + "://" + k.host // sqlxprobe's default pool name
		default:
			s.name = k.system
		}
		return k
	})
}

func (st *Stage) peerOf(sp *Span, f *features) *subject {
	k := peerKey{host: f.host, port: f.port, grpc: f.rpc && f.method == ""}
	if k.host == "" && k.grpc {
		if a := dialAddr(sp.StatusDesc); a != "" {
			k.host = a
		} else {
			k.host = service(f.rpcMethod)
		}
	}
	return st.peers.get(k, (digest(k.host)+int(k.port))%tableCache, func(s *subject) peerKey {
		k := peerKey{host: strings.Clone(k.host), port: k.port, grpc: k.grpc}
		s.name = hostPort(k.host, k.port)
		s.proto = "http"
		if k.grpc {
			s.proto = "grpc"
		}
		return k
	})
}

func hostPort(host string, port int64) string {
	if port <= 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10))
}

func (s *subject) nestedOp(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.nestOps {
		if n == name {
			return
		}
		if n == "" {
			s.nestOps[i] = name
			return
		}
	}
}

// Affected reports, for a verdict subject (a peer address, pool name or
// fingerprint; "" for the whole process), whether the local trace id is
// affected: every trace for "", else the traces whose spans of the subject
// failed, were anomalous or took at least 100 µs in a component (waiting
// for the pool, the server, DNS, ...).
func (st *Stage) Affected(subject string) func(trace.TraceID) bool {
	if subject == "" {
		return func(trace.TraceID) bool { return true }
	}
	var ids []uint32
	if s := st.peers.find(subject); s != nil {
		ids = append(ids, s.id)
	}
	if s := st.pools.find(subject); s != nil {
		ids = append(ids, s.id)
	}
	for _, s := range st.pools.subjects() {
		if s.alias.Load() != nil && *s.alias.Load() == subject {
			ids = append(ids, s.id)
		}
	}
	if s := st.queries.find(subject); s != nil {
		ids = append(ids, s.id)
	}
	return func(id trace.TraceID) bool {
		if len(ids) == 0 {
			return false
		}
		e, ok := st.traces.peek(id)
		if !ok {
			return false
		}
		for _, x := range ids {
			if e.has(x) {
				return true
			}
		}
		return false
	}
}
