package middleware

import (
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// series is one prepared attribute set with the options that record it, so
// that recording a measurement allocates nothing.
type series struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

func newSeries(attrs ...attribute.KeyValue) *series {
	o := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return &series{rec: []metric.RecordOption{o}, add: []metric.AddOption{o}}
}

var overflowAttr = attribute.Bool(semconv.AttrOverflow, true)

// seriesCache maps a bounded key to its prepared series. Once max keys are
// stored, further keys share the overflow series: the number of series an
// instrument records is bounded whatever the traffic.
//
// Safe for concurrent use. Reads are lock-free (an atomically published
// immutable map) and do not allocate; a new key copies the map under a
// mutex, which happens at most max times.
type seriesCache[K comparable] struct {
	m        atomic.Pointer[map[K]*series]
	mu       sync.Mutex
	max      int
	overflow *series
	build    func(K) *series
}

func newSeriesCache[K comparable](max int, build func(K) *series) *seriesCache[K] {
	c := &seriesCache[K]{max: max, overflow: newSeries(overflowAttr), build: build}
	m := make(map[K]*series)
	c.m.Store(&m)
	return c
}

func (c *seriesCache[K]) get(k K) *series {
	if s := (*c.m.Load())[k]; s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if s := old[k]; s != nil {
		return s
	}
	if len(old) >= c.max {
		return c.overflow
	}
	s := c.build(k)
	m := make(map[K]*series, len(old)+1)
	for kk, v := range old {
		m[kk] = v
	}
	m[k] = s
	c.m.Store(&m)
	return s
}

// valueCache maps a bounded key to a value built once (span names, peer
// attributes); keys beyond max are built on each call. Same concurrency
// design as seriesCache.
type valueCache[K comparable, V any] struct {
	m     atomic.Pointer[map[K]V]
	mu    sync.Mutex
	max   int
	build func(K) V
}

// nameCache maps a bounded key to a string built once.
type nameCache[K comparable] = valueCache[K, string]

// has reports whether k is stored. It does not allocate.
func (c *valueCache[K, V]) has(k K) bool {
	if m := c.m.Load(); m != nil {
		_, ok := (*m)[k]
		return ok
	}
	return false
}

func (c *valueCache[K, V]) get(k K) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	v := c.build(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if _, ok := old[k]; ok || len(old) >= c.max {
		return v
	}
	m := make(map[K]V, len(old)+1)
	for kk, vv := range old {
		m[kk] = vv
	}
	m[k] = v
	c.m.Store(&m)
	return v
}

// statusText holds the decimal strings of HTTP status codes 100-599, the
// error.type of 5xx responses, so that they are not formatted per request.
var statusText = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusString(code int) string {
	if code >= 100 && code < len(statusText) {
		return statusText[code]
	}
	return strconv.Itoa(code)
}

// knownMethods are the methods of RFC 9110 and RFC 5789 (PATCH); any other
// method becomes _OTHER on spans and metrics.
func normMethod(m string) (string, bool) {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		return m, true
	case "":
		return "GET", true // net/http: an empty method means GET
	}
	return semconv.ValueOther, false
}

// protoVersion returns network.protocol.version for a request's protocol.
func protoVersion(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "1.1"
	case major == 2:
		return "2"
	case major == 1 && minor == 0:
		return "1.0"
	case major == 3:
		return "3"
	}
	return ""
}

// splitHostPort splits host[:port] without allocating; port is 0 when
// absent or invalid. IPv6 brackets are removed.
func splitHostPort(hp string) (host string, port int) {
	if hp == "" {
		return "", 0
	}
	if hp[0] == '[' {
		end := -1
		for i := 1; i < len(hp); i++ {
			if hp[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return hp, 0
		}
		host, hp = hp[1:end], hp[end+1:]
		if len(hp) > 1 && hp[0] == ':' {
			port = atoiPort(hp[1:])
		}
		return host, port
	}
	colon := -1
	for i := len(hp) - 1; i >= 0; i-- {
		if hp[i] == ':' {
			colon = i
			break
		}
	}
	if colon < 0 {
		return hp, 0
	}
	for i := 0; i < colon; i++ {
		if hp[i] == ':' { // bare IPv6 address without brackets
			return hp, 0
		}
	}
	return hp[:colon], atoiPort(hp[colon+1:])
}

func atoiPort(s string) int {
	if s == "" || len(s) > 5 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// Instrument constructors that never return nil: a provider that fails to
// create an instrument (or returns nil) gets a no-op one, so recording can
// never panic in the host application.

func f64Hist(m metric.Meter, name string, opts ...metric.Float64HistogramOption) metric.Float64Histogram {
	if h, _ := m.Float64Histogram(name, opts...); h != nil {
		return h
	}
	return noopmetric.Float64Histogram{}
}

func i64Hist(m metric.Meter, name string, opts ...metric.Int64HistogramOption) metric.Int64Histogram {
	if h, _ := m.Int64Histogram(name, opts...); h != nil {
		return h
	}
	return noopmetric.Int64Histogram{}
}

func i64UpDown(m metric.Meter, name string, opts ...metric.Int64UpDownCounterOption) metric.Int64UpDownCounter {
	if c, _ := m.Int64UpDownCounter(name, opts...); c != nil {
		return c
	}
	return noopmetric.Int64UpDownCounter{}
}

// dropCounter counts incoming propagation headers that were ignored or cut
// (verdict.telemetry.dropped, verdict.signal=propagation, verdict.reason).
type dropCounter struct {
	c      metric.Int64Counter
	series [numDropReasons][]metric.AddOption
}

func newDropCounter(m metric.Meter) *dropCounter {
	d := &dropCounter{}
	c, _ := m.Int64Counter(semconv.MetricDropped, metric.WithUnit("{item}"),
		metric.WithDescription("Telemetry items dropped instead of blocking or failing the host."))
	if c == nil {
		c = noopmetric.Int64Counter{}
	}
	d.c = c
	for i, name := range dropReasonNames {
		d.series[i] = newSeries(attribute.String(semconv.AttrDropSignal, "propagation"),
			attribute.String(semconv.AttrDropReason, name)).add
	}
	return d
}

func (d *dropCounter) add(dr drops) {
	for i := range numDropReasons {
		if dr&(1<<i) != 0 {
			d.c.Add(noSpanCtx, 1, d.series[i]...)
		}
	}
}
