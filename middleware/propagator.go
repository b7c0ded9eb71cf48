package middleware

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/w3c"
)

// NewPropagator returns a propagator for W3C Trace Context (traceparent,
// tracestate) and W3C Baggage (baggage), the same headers as
// propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
// propagation.Baggage{}), with the parsing rules of the specifications
// applied exactly (see the package documentation). It is safe for concurrent
// use and can be installed with otel.SetTextMapPropagator.
//
// Extraction does not allocate for the traceparent header; tracestate and
// baggage allocate only when present, to build the OTel values. Injection
// into an http.Header carrier costs one allocation for traceparent.
func NewPropagator() propagation.TextMapPropagator { return w3cPropagator{} }

type w3cPropagator struct{}

var _ propagation.TextMapPropagator = w3cPropagator{}

func (w3cPropagator) Fields() []string {
	return []string{w3c.TraceParentHeader, w3c.TraceStateHeader, w3c.BaggageHeader}
}

func (w3cPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	switch c := carrier.(type) {
	case propagation.HeaderCarrier:
		return extractHeader(ctx, http.Header(c), modeTraceContext|modeBaggage)
	case propagation.ValuesGetter:
		ctx = extractTrace(ctx, c.Values(w3c.TraceParentHeader), c.Values(w3c.TraceStateHeader))
		return extractBaggage(ctx, c.Values(w3c.BaggageHeader))
	}
	var tp, ts, bg [1]string
	tp[0], ts[0], bg[0] = carrier.Get(w3c.TraceParentHeader), carrier.Get(w3c.TraceStateHeader), carrier.Get(w3c.BaggageHeader)
	ctx = extractTrace(ctx, nonEmpty(tp[:]), nonEmpty(ts[:]))
	return extractBaggage(ctx, nonEmpty(bg[:]))
}

func nonEmpty(v []string) []string {
	if v[0] == "" {
		return nil
	}
	return v
}

func (w3cPropagator) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if c, ok := carrier.(propagation.HeaderCarrier); ok {
		injectHeader(ctx, http.Header(c), modeTraceContext|modeBaggage, nil)
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if sc.IsValid() {
		carrier.Set(w3c.TraceParentHeader, traceParentString(sc))
		if ts := outgoingTraceState(ctx, sc); ts != "" {
			carrier.Set(w3c.TraceStateHeader, ts)
		}
	}
	if b := baggage.FromContext(ctx); b.Len() > 0 {
		carrier.Set(w3c.BaggageHeader, b.String())
	}
}

// propMode says which headers the fast path handles; modeGeneric means the
// configured propagator must be called through the carrier interface.
type propMode uint8

const (
	modeTraceContext propMode = 1 << iota
	modeBaggage
	modeGeneric
)

var (
	typeTraceContext = reflect.TypeFor[propagation.TraceContext]()
	typeBaggage      = reflect.TypeFor[propagation.Baggage]()
	typeW3C          = reflect.TypeFor[w3cPropagator]()
	// typeGlobalDefault is the type of the global propagator before anyone
	// calls otel.SetTextMapPropagator (a delegating no-op).
	typeGlobalDefault = reflect.TypeOf(otel.GetTextMapPropagator())
)

// classify decides how to serve a propagator. It does not allocate.
func classify(p propagation.TextMapPropagator, isGlobal bool) propMode {
	if p == nil {
		return 0
	}
	t := reflect.TypeOf(p)
	switch t {
	case typeW3C:
		return modeTraceContext | modeBaggage
	case typeTraceContext:
		return modeTraceContext
	case typeBaggage:
		return modeBaggage
	}
	if isGlobal && t == typeGlobalDefault && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" {
		return modeTraceContext | modeBaggage
	}
	// A composite of the standard propagators: the SDK's composite type is
	// an unexported slice of propagators.
	v := reflect.ValueOf(p)
	if t.Kind() == reflect.Slice && t.PkgPath() == "go.opentelemetry.io/otel/propagation" {
		var m propMode
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if e.Kind() == reflect.Interface {
				if e.IsNil() {
					continue
				}
				e = e.Elem()
			}
			switch e.Type() {
			case typeW3C:
				m |= modeTraceContext | modeBaggage
			case typeTraceContext:
				m |= modeTraceContext
			case typeBaggage:
				m |= modeBaggage
			default:
				return modeGeneric
			}
		}
		return m
	}
	return modeGeneric
}

// propagators returns the propagator and how to serve it for one request.
func (c *config) propagators() (propagation.TextMapPropagator, propMode) {
	if c.props != nil {
		return c.props, c.propMode
	}
	g := otel.GetTextMapPropagator()
	return g, classify(g, true)
}

func extractHeader(ctx context.Context, h http.Header, m propMode) context.Context {
	ctx, _ = extractHeaderChecked(ctx, h, m)
	return ctx
}

// drops says which incoming propagation headers were present but ignored
// (or cut), for the verdict.telemetry.dropped counter.
type drops uint8

const (
	dropTraceParent  drops = 1 << iota // traceparent invalid: new trace
	dropTraceState                     // tracestate invalid: dropped whole
	dropBaggage                        // baggage malformed: dropped whole
	dropBaggageLimit                   // baggage over the limits: members dropped
	numDropReasons   = 4
)

var dropReasonNames = [numDropReasons]string{"invalid_traceparent", "invalid_tracestate", "invalid_baggage", "baggage_limit"}

func extractHeaderChecked(ctx context.Context, h http.Header, m propMode) (context.Context, drops) {
	var d, d2 drops
	if m&modeTraceContext != 0 {
		var sc trace.SpanContext
		var raw *rawTraceState
		sc, d, raw = spanContextChecked(h[w3c.TraceParentCanonical], h[w3c.TraceStateCanonical])
		if sc.IsValid() {
			ctx = withRawTraceState(trace.ContextWithRemoteSpanContext(ctx, sc), raw)
		}
	}
	if m&modeBaggage != 0 {
		ctx, d2 = extractBaggageChecked(ctx, h[w3c.BaggageCanonical])
	}
	return ctx, d | d2
}

// ExtractSpanContext returns the remote span context carried by the
// traceparent and tracestate headers of h, following W3C Trace Context: an
// invalid or duplicated traceparent gives the zero SpanContext (and the
// tracestate is then ignored); an invalid tracestate is dropped while the
// traceparent is kept; a tracestate member whose key came earlier is
// dropped. It does not allocate unless a tracestate is present.
//
// The TraceState holds the members OpenTelemetry's trace.TraceState can
// hold (keys of the Level 1 grammar); members with keys only the current
// grammar allows ("foo@", "1a", "a@b@c", long vendor parts) reach the next
// hop only through the middleware's own extraction and injection
// (NewHandler, NewTransport, the gRPC handlers, NewPropagator), which carry
// the received list in the context.
func ExtractSpanContext(h http.Header) trace.SpanContext {
	return spanContextFrom(h[w3c.TraceParentCanonical], h[w3c.TraceStateCanonical])
}

func spanContextFrom(tpv, tsv []string) trace.SpanContext {
	sc, _, _ := spanContextChecked(tpv, tsv)
	return sc
}

// spanContextChecked parses the trace headers. raw is non-nil when the
// tracestate has members trace.TraceState cannot hold.
func spanContextChecked(tpv, tsv []string) (trace.SpanContext, drops, *rawTraceState) {
	tp, ok := w3c.ParseTraceParentValues(tpv)
	if !ok {
		if len(tpv) > 0 {
			return trace.SpanContext{}, dropTraceParent, nil
		}
		return trace.SpanContext{}, 0, nil
	}
	var d drops
	var raw *rawTraceState
	cfg := trace.SpanContextConfig{
		TraceID:    tp.TraceID,
		SpanID:     tp.SpanID,
		TraceFlags: trace.TraceFlags(tp.Flags),
		Remote:     true,
	}
	if len(tsv) > 0 {
		info, ok := w3c.ScanTraceState(tsv)
		switch {
		case !ok:
			d = dropTraceState
		case info.Members == 0:
		case info.Duplicates == 0 && info.Legacy == info.Members:
			// The common case: OTel holds the list as it came.
			if ts, err := trace.ParseTraceState(normalizeTraceState(tsv)); err == nil {
				cfg.TraceState = ts
			} else {
				d = dropTraceState
			}
		default:
			// Duplicates dropped; members OTel rejects carried apart.
			legacy := string(w3c.AppendTraceState(nil, tsv, true))
			if ts, err := trace.ParseTraceState(legacy); err == nil {
				cfg.TraceState = ts
			} else {
				d = dropTraceState
				break
			}
			if info.Legacy != info.Members {
				raw = &rawTraceState{traceID: tp.TraceID, otel: legacy, full: string(w3c.AppendTraceState(nil, tsv, false))}
			}
		}
	}
	return trace.NewSpanContext(cfg), d, raw
}

// extractTrace puts the remote span context of the traceparent/tracestate
// values into ctx. An invalid traceparent leaves ctx unchanged (and the
// tracestate ignored).
func extractTrace(ctx context.Context, tpv, tsv []string) context.Context {
	sc, _, raw := spanContextChecked(tpv, tsv)
	if !sc.IsValid() {
		return ctx
	}
	return withRawTraceState(trace.ContextWithRemoteSpanContext(ctx, sc), raw)
}

// rawTraceState is a received tracestate with members that
// trace.TraceState cannot hold: OpenTelemetry still enforces the Level 1
// key grammar (tenant@system, tenant at most 241 and system at most 14
// characters, a letter first), while the current grammar allows any key of
// up to 256 key characters with "@" anywhere but first. The remote span
// context's TraceState holds the members it can (otel); the context
// carries the whole list (full) so that injection for the same trace sends
// on what was received, as the specification requires.
type rawTraceState struct {
	traceID trace.TraceID
	otel    string // the list trace.TraceState held, as its String()
	full    string // every member received, duplicates dropped
}

type rawTraceStateKey struct{}

// withRawTraceState adds r (if any) to ctx.
func withRawTraceState(ctx context.Context, r *rawTraceState) context.Context {
	if r == nil {
		return ctx
	}
	return context.WithValue(ctx, rawTraceStateKey{}, r)
}

// outgoingTraceState returns the tracestate to inject for sc: its
// TraceState, or, when ctx carries a received tracestate of the same trace
// with members TraceState could not hold, that list — as received if the
// TraceState is unchanged, else the TraceState followed by those members.
func outgoingTraceState(ctx context.Context, sc trace.SpanContext) string {
	ts := sc.TraceState()
	r, _ := ctx.Value(rawTraceStateKey{}).(*rawTraceState)
	if r == nil || r.traceID != sc.TraceID() {
		if ts.Len() == 0 {
			return ""
		}
		return ts.String()
	}
	cur := ts.String()
	if cur == r.otel {
		return r.full
	}
	return w3c.MergeTraceState(cur, r.full)
}

// normalizeTraceState joins the validated tracestate values into one list
// without empty members or OWS, the form trace.ParseTraceState accepts.
func normalizeTraceState(vals []string) string {
	if len(vals) == 1 && isNormalTraceState(vals[0]) {
		return vals[0]
	}
	var buf [512]byte
	b := buf[:0]
	for _, v := range vals {
		for {
			i := indexComma(v)
			m := v
			if i >= 0 {
				m, v = v[:i], v[i+1:]
			}
			if m = w3c.TrimOWS(m); m != "" {
				if len(b) > 0 {
					b = append(b, ',')
				}
				b = append(b, m...)
			}
			if i < 0 {
				break
			}
		}
	}
	return string(b)
}

func indexComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

// isNormalTraceState reports whether a single valid tracestate value has no
// OWS around members and no empty members.
func isNormalTraceState(s string) bool {
	if s == "" || s[0] == ',' || s[len(s)-1] == ',' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t':
			return false
		case ',':
			if s[i+1] == ',' || s[i+1] == ' ' || s[i+1] == '\t' || s[i-1] == ' ' {
				return false
			}
		}
	}
	return s[0] != ' ' && s[len(s)-1] != ' '
}

func extractBaggage(ctx context.Context, vals []string) context.Context {
	ctx, _ = extractBaggageChecked(ctx, vals)
	return ctx
}

func extractBaggageChecked(ctx context.Context, vals []string) (context.Context, drops) {
	if len(vals) == 0 {
		return ctx, 0
	}
	var dst [w3c.MaxBaggageMembers]w3c.BaggageMember
	n, truncated, err := w3c.ParseBaggage(vals, &dst)
	if err != nil {
		return ctx, dropBaggage
	}
	var d drops
	if truncated {
		d = dropBaggageLimit
	}
	if n == 0 {
		return ctx, d
	}
	members := make([]baggage.Member, 0, n)
	for _, m := range dst[:n] {
		mm, err := baggage.NewMemberRaw(m.Key, w3c.PercentDecode(m.Value), baggageProps(m.Properties)...)
		if err != nil {
			continue
		}
		members = append(members, mm)
	}
	b, err := baggage.New(members...)
	if err != nil && b.Len() == 0 {
		return ctx, d | dropBaggage
	}
	return baggage.ContextWithBaggage(ctx, b), d
}

// injectHeader writes the context of ctx into h. The traceparent value and
// the []string the header needs live in tp, allocated here when nil: one
// allocation.
func injectHeader(ctx context.Context, h http.Header, m propMode, tp *tpValue) {
	if m&modeTraceContext != 0 {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			if tp == nil {
				tp = new(tpValue)
			}
			h[w3c.TraceParentCanonical] = tp.set(sc)
			if ts := outgoingTraceState(ctx, sc); ts != "" {
				h[w3c.TraceStateCanonical] = []string{ts}
			} else {
				delete(h, w3c.TraceStateCanonical)
			}
		}
	}
	if m&modeBaggage != 0 {
		if b := baggage.FromContext(ctx); b.Len() > 0 {
			h[w3c.BaggageCanonical] = []string{b.String()}
		}
	}
}

func traceParentString(sc trace.SpanContext) string {
	var buf [w3c.TraceParentLen]byte
	return string(w3c.AppendTraceParent(buf[:0], sc.TraceID(), sc.SpanID(), byte(sc.TraceFlags())))
}

// baggageProps converts the validated property text of a member.
func baggageProps(s string) []baggage.Property {
	if s == "" {
		return nil
	}
	var props []baggage.Property
	for {
		p := s
		i := strings.IndexByte(s, ';')
		if i >= 0 {
			p, s = s[:i], s[i+1:]
		}
		p = w3c.TrimOWS(p)
		var prop baggage.Property
		var err error
		if eq := strings.IndexByte(p, '='); eq >= 0 {
			prop, err = baggage.NewKeyValuePropertyRaw(w3c.TrimOWS(p[:eq]), w3c.PercentDecode(w3c.TrimOWS(p[eq+1:])))
		} else {
			prop, err = baggage.NewKeyProperty(p)
		}
		if err == nil {
			props = append(props, prop)
		}
		if i < 0 {
			return props
		}
	}
}

func baggageFromContext(ctx context.Context) string {
	if b := baggage.FromContext(ctx); b.Len() > 0 {
		return b.String()
	}
	return ""
}

// tpValue holds one traceparent header value together with the []string an
// http.Header entry needs, so that both cost one allocation. The string
// aliases b, which is written once in set and never again: a tpValue is
// used for one header value only and never reused, so the string is
// immutable as Go requires.
type tpValue struct {
	v [1]string
	b [w3c.TraceParentLen]byte
}

func (t *tpValue) set(sc trace.SpanContext) []string {
	b := w3c.AppendTraceParent(t.b[:0], sc.TraceID(), sc.SpanID(), byte(sc.TraceFlags()))
	t.v[0] = unsafe.String(&b[0], len(b))
	return t.v[:]
}
