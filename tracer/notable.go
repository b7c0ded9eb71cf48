package tracer

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/stage"
)

// notableSpans keeps, for the status page, the recent local roots worth a
// look: the failed and anomalous ones (a ring), and the slowest of the
// last half minute or so (two 30-second epochs of the slowest few). The
// span pipeline offers every local root the judge sees; a root that is
// neither failed nor anomalous nor slower than the slowest kept costs two
// atomic loads.
type notableSpans struct {
	epoch   atomic.Int64 // current epoch (end time / notableEpoch)
	slowMin atomic.Int64 // ns: duration to beat once the current epoch's set is full

	mu    sync.Mutex
	ring  [notableRing]notableSpan
	ringN int
	slow  [2][notableSlow]notableSpan // [0] current epoch, [1] previous
	slowN [2]int
}

const (
	notableRing  = 32
	notableSlow  = 8
	notableEpoch = int64(30 * time.Second)
)

// notableSpan is one kept local root: names and numbers only, never the
// span's attributes beyond those below (no SQL, headers or bodies).
type notableSpan struct {
	Name       string
	TraceID    trace.TraceID
	SpanID     trace.SpanID
	End        time.Time
	Duration   time.Duration
	Kind       trace.SpanKind
	Error      bool
	ErrorType  string // error.type
	StatusCode int64  // HTTP status or gRPC code; -1 when neither
	GRPC       bool   // StatusCode is a gRPC code
	Anomaly    string // verdict.anomaly.reason, "" when not anomalous
	Cause      string // verdict.cause, for failed and anomalous roots
	Breakdown  [stage.NumCauses]int64
}

// offer considers a local root that just ended. added are the attributes
// the stage appended (verdict.cause, verdict.anomaly.reason).
func (n *notableSpans) offer(s sdktrace.ReadOnlySpan, sc trace.SpanContext, end time.Time, dur time.Duration, interesting bool,
	added []attribute.KeyValue, bd *[stage.NumCauses]int64) {
	e := end.UnixNano() / notableEpoch
	if e > n.epoch.Load() {
		n.rotate(e)
	}
	if !interesting && int64(dur) <= n.slowMin.Load() {
		return
	}
	ns := notableSpan{Name: s.Name(), TraceID: sc.TraceID(), SpanID: sc.SpanID(), End: end, Duration: dur,
		Kind: s.SpanKind(), StatusCode: -1, Breakdown: *bd}
	ns.Error = s.Status().Code == codes.Error
	for _, a := range s.Attributes() {
		switch a.Key {
		case semconv.AttrErrorType:
			ns.ErrorType, ns.Error = a.Value.AsString(), true
		case semconv.AttrHTTPResponseStatusCode:
			ns.StatusCode = a.Value.AsInt64()
		case semconv.AttrRPCGRPCStatusCode:
			ns.StatusCode, ns.GRPC = a.Value.AsInt64(), true
		}
	}
	for _, a := range added {
		switch a.Key {
		case semconv.AttrCause:
			ns.Cause = a.Value.AsString()
		case semconv.AttrAnomalyReason:
			ns.Anomaly = a.Value.AsString()
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if interesting {
		n.ring[n.ringN%notableRing] = ns
		n.ringN++
	}
	if n.epoch.Load() != e { // a root of the previous epoch, late
		return
	}
	set := &n.slow[0]
	k := n.slowN[0]
	if k < notableSlow {
		set[k] = ns
		n.slowN[0]++
	} else {
		i := 0
		for j := 1; j < k; j++ {
			if set[j].Duration < set[i].Duration {
				i = j
			}
		}
		if ns.Duration <= set[i].Duration {
			return
		}
		set[i] = ns
	}
	if n.slowN[0] == notableSlow {
		least := set[0].Duration
		for _, x := range set[1:] {
			least = min(least, x.Duration)
		}
		n.slowMin.Store(int64(least))
	}
}

// rotate starts epoch e: the current set becomes the previous one.
func (n *notableSpans) rotate(e int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	cur := n.epoch.Load()
	if e <= cur {
		return
	}
	if e == cur+1 {
		n.slow[1], n.slowN[1] = n.slow[0], n.slowN[0]
	} else {
		n.slowN[1] = 0
	}
	n.slowN[0] = 0
	n.slowMin.Store(0)
	n.epoch.Store(e)
}

// slowest returns up to k of the slowest roots kept, slowest first.
func (n *notableSpans) slowest(k int) []notableSpan {
	n.mu.Lock()
	out := append(slices.Clone(n.slow[0][:n.slowN[0]]), n.slow[1][:n.slowN[1]]...)
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b notableSpan) int { return int(b.Duration - a.Duration) })
	return out[:min(k, len(out))]
}

// recent returns up to k of the failed and anomalous roots, most recent
// first.
func (n *notableSpans) recent(k int) []notableSpan {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notableSpan
	for i := 1; i <= min(n.ringN, notableRing) && len(out) < k; i++ {
		out = append(out, n.ring[(n.ringN-i)%notableRing])
	}
	return out
}
