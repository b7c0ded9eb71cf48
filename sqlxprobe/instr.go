package sqlxprobe

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/errclass"
	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
)

const scopeName = semconv.ScopeSQLXProbe

// Version is the instrumentation scope version: verdict's version
// (internal/semconv.Version, the one place it is kept).
const Version = semconv.Version

// instr is everything an instrumented pool needs, built once.
type instr struct {
	cfg       config
	driver    string
	tracer    trace.Tracer
	opDur     metric.Float64Histogram
	waitHist  metric.Float64Histogram
	nestedCtr metric.Int64Counter

	base       []attribute.KeyValue // system, server.address, server.port
	baseOpts   []metric.RecordOption
	baseAdd    []metric.AddOption
	otherOpts  []metric.RecordOption // the "_OTHER" fingerprint series
	otherAttrs []attribute.KeyValue
	// poolAttr names the pool on the spans (not on the operation
	// metrics): the judge tells pools apart by it.
	poolAttr attribute.KeyValue

	queries  sync.Map // query text → *queryInfo
	nQueries atomic.Int64
	series   seriesTable

	lastNestedLog atomic.Int64 // unix nanos of the last nested-connection log record
	commentTags   []commentTag // sorted static tags for CommentFull
}

// queryInfo is derived once per distinct query text.
type queryInfo struct {
	fingerprint string
	shape       queryShape
	spanName    string
	attrs       []attribute.KeyValue // base + operation, collection, summary, text
	startOpts   []trace.SpanStartOption
	series      *seriesEntry // the db.client.operation.duration series, by summary
}

func newInstr(driverName, dsn string, opts []Option) (*instr, error) {
	cfg := newConfig(driverName, dsn, opts)
	in := &instr{cfg: cfg, driver: driverName}
	in.tracer = semconv.Tracer(cfg.tp, scopeName)
	meter := semconv.Meter(cfg.mp, scopeName)
	var err, e error
	in.opDur, e = meter.Float64Histogram(semconv.MetricDBClientOperationDuration,
		metric.WithUnit("s"), metric.WithDescription("Duration of database client operations, from the call to the end of row iteration."),
		metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
	err = errors.Join(err, e)
	in.waitHist, e = meter.Float64Histogram(semconv.MetricDBClientConnectionWaitTime,
		metric.WithUnit("s"), metric.WithDescription("Time an operation waited for a pooled connection."),
		metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
	err = errors.Join(err, e)
	in.nestedCtr, e = meter.Int64Counter(semconv.MetricDBNestedConnection,
		metric.WithUnit("{operation}"), metric.WithDescription("Operations that took a second pooled connection while their context carried an open transaction."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("create instruments: %w", err)
	}
	in.base = append(in.base, attribute.String(semconv.AttrDBSystemName, cfg.system))
	if cfg.serverAddr != "" {
		in.base = append(in.base, attribute.String(semconv.AttrServerAddress, cfg.serverAddr))
		if cfg.serverPort > 0 {
			in.base = append(in.base, attribute.Int(semconv.AttrServerPort, cfg.serverPort))
		}
	}
	in.poolAttr = attribute.String(semconv.AttrDBClientConnectionPoolName, cfg.poolName)
	baseSet := metric.WithAttributeSet(attribute.NewSet(in.base...))
	in.baseOpts = []metric.RecordOption{baseSet}
	in.baseAdd = []metric.AddOption{baseSet}
	other := append(append([]attribute.KeyValue(nil), in.base...), attribute.String(semconv.AttrDBQuerySummary, semconv.DBQuerySummaryOther))
	in.otherAttrs = other
	in.otherOpts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(other...))}
	in.series.init(cfg.topN)
	in.commentTags = sortedTags(cfg.commentTags, driverName)
	return in, nil
}

// maxCachedQuery bounds what the analysis cache keeps per entry. Longer
// statements (bulk inserts with their values inlined, generated IN lists of
// thousands) are analysed on each call, in time linear in their length;
// their spans keep the full fingerprint. Without it, 4096 cached megabyte
// statements would hold gigabytes.
const maxCachedQuery = 16 << 10

// info returns the cached analysis of query, computing it on first use.
// The cache is bounded in entries and in bytes per entry; beyond it the
// analysis is recomputed per call.
func (in *instr) info(query string) *queryInfo {
	cacheable := len(query) <= maxCachedQuery
	if !cacheable {
		return in.analyse(query, false)
	}
	if v, ok := in.queries.Load(query); ok {
		return v.(*queryInfo)
	}
	return in.analyse(query, true)
}

// analyse builds the queryInfo of query and caches it when cache is set and
// the cache has room.
func (in *instr) analyse(query string, cache bool) *queryInfo {
	fp := FingerprintDialect(in.cfg.dialect, query)
	sh := analyze(fp)
	qi := &queryInfo{fingerprint: fp, shape: sh, spanName: sh.summary}
	if qi.spanName == "" {
		qi.spanName = in.cfg.system
	}
	qi.attrs = make([]attribute.KeyValue, 0, len(in.base)+4)
	qi.attrs = append(qi.attrs, in.base...)
	if sh.operation != "" {
		qi.attrs = append(qi.attrs, attribute.String(semconv.AttrDBOperationName, sh.operation))
	}
	if sh.collection != "" {
		qi.attrs = append(qi.attrs, attribute.String(semconv.AttrDBCollectionName, sh.collection))
	}
	if sh.summary != "" {
		qi.attrs = append(qi.attrs, attribute.String(semconv.AttrDBQuerySummary, sh.summary))
	}
	qi.attrs = append(qi.attrs, attribute.String(semconv.AttrDBQueryText, fp))
	qi.series = in.series.entry(metricSeries(in.base, sh)) // metricattrs.go: no db.query.text
	qi.startOpts = spanStartOpts(qi.attrs, in.poolAttr)
	if cache && in.nQueries.Load() < int64(in.cfg.queryCacheSize) {
		if _, loaded := in.queries.LoadOrStore(query, qi); !loaded {
			in.nQueries.Add(1)
		}
	}
	return qi
}

// opInfo returns a queryInfo for an operation without query text (begin,
// commit, rollback, ping).
func (in *instr) opInfo(op string) *queryInfo {
	key := "\x00" + op
	if v, ok := in.queries.Load(key); ok {
		return v.(*queryInfo)
	}
	qi := &queryInfo{shape: queryShape{operation: op, summary: op}, spanName: op}
	qi.attrs = append(append([]attribute.KeyValue(nil), in.base...),
		attribute.String(semconv.AttrDBOperationName, op))
	qi.series = in.series.entry("\x00"+op, qi.attrs)
	qi.startOpts = spanStartOpts(qi.attrs, in.poolAttr)
	in.queries.Store(key, qi)
	return qi
}

// spanStartOpts returns the start options of a span with attrs and then
// pool: one WithAttributes, since each one the SDK applies appends to the
// start configuration's slice (two would allocate twice per span).
func spanStartOpts(attrs []attribute.KeyValue, pool attribute.KeyValue) []trace.SpanStartOption {
	all := make([]attribute.KeyValue, 0, len(attrs)+1)
	all = append(append(all, attrs...), pool)
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(all...)}
}

type opKind uint8

const (
	opQuery opKind = iota
	opExec
	opPrepare
	opBegin
	opCommit
	opRollback
	opPing
)

// callKey marks a *call in a context.
type callKey struct{}

// call is one instrumented operation. It is also the context passed down
// to database/sql, so the driver wrapper finds it without another
// allocation; it embeds the caller's context (with the span).
type call struct {
	context.Context
	in       *instr
	parent   context.Context // the caller's context, without this call's span
	info     *queryInfo
	span     trace.Span
	kind     opKind
	depth    int
	start    time.Time
	handover atomic.Int64 // ns after start when a connection was handed over; 0 = not yet
	rows     atomic.Int64
	affected int64
	hasRows  bool        // the driver returned rows that now own the end of the call
	noWait   bool        // runs on a connection it already holds (Tx): no pool wait
	done     atomic.Bool // finish ran
	rw       rowsW       // the rows wrapper, allocated with the call
	// kv holds the attributes finish adds to the span: SetAttributes is
	// an interface call, so a local array would escape and cost an
	// allocation per operation; the call is allocated anyway.
	kv [4]attribute.KeyValue
	// net is the socket probe's record of the span (inactive without
	// one): from the handover on, the call's goroutine does its I/O.
	net netspan.Handle
}

// wrapRows returns the call's rows wrapper around r; the call then ends
// when the rows are exhausted or closed.
func (c *call) wrapRows(r driver.Rows) driver.Rows {
	c.hasRows = true
	c.rw = rowsW{inner: r, call: c}
	return &c.rw
}

func (c *call) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// callFrom returns the call of ctx, if the operation came through DB or Tx.
func callFrom(ctx context.Context) *call {
	if c, ok := ctx.(*call); ok {
		return c
	}
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// markHandover records that a connection was handed to the call now, if
// not recorded yet.
func (c *call) markHandover() {
	if c.handover.Load() == 0 {
		d := int64(time.Since(c.start))
		if d <= 0 {
			d = 1
		}
		if c.handover.CompareAndSwap(0, d) {
			// database/sql runs the driver on the caller's goroutine:
			// its socket I/O from here on is the call's.
			c.net.Goroutine(c.start.Add(time.Duration(d)))
		}
	}
}

// start begins an operation now: the span starts before the pool is
// asked for a connection, so it covers the wait.
func (in *instr) start(ctx context.Context, kind opKind, qi *queryInfo, depth int) *call {
	return in.begin(ctx, kind, qi, depth, time.Now(), false)
}

func (in *instr) startAt(ctx context.Context, kind opKind, qi *queryInfo, depth int, t0 time.Time) *call {
	return in.begin(ctx, kind, qi, depth, t0, true)
}

// begin starts the span. With explicit (an operation observed after the
// fact) the span gets t0 as start time; otherwise t0 was just taken and
// the SDK's own start time is used, which saves an option allocation.
func (in *instr) begin(ctx context.Context, kind opKind, qi *queryInfo, depth int, t0 time.Time, explicit bool) *call {
	if ctx == nil {
		ctx = context.Background()
	}
	c := &call{in: in, info: qi, kind: kind, depth: depth, start: t0, parent: ctx, affected: -1}
	if explicit {
		ctx, c.span = in.tracer.Start(ctx, qi.spanName, append(qi.startOpts[:len(qi.startOpts):len(qi.startOpts)], trace.WithTimestamp(t0))...)
	} else {
		ctx, c.span = in.tracer.Start(ctx, qi.spanName, qi.startOpts...)
		// Our clock starts after the span's, so wait and duration never
		// exceed the span.
		c.start = time.Now()
	}
	if depth > 0 && c.span.IsRecording() {
		c.span.SetAttributes(attribute.Int(semconv.AttrDBTransactionDepth, depth))
	}
	c.Context = ctx
	if c.net = netspan.Begin(netspan.DB, c.span, c.start); c.net.Active() {
		switch {
		case explicit:
			c.net.NoSocket(unmeasuredAfter)
		case in.cfg.system == "sqlite":
			c.net.NoSocket(unmeasuredSQLite)
		}
	}
	return c
}

// verdict.unmeasured values of database spans whose socket side cannot be
// measured (the probe sql measures the others).
const (
	unmeasuredSQLite = semconv.UnmeasuredSocketTCP + ": SQLite runs in the process, no socket"
	unmeasuredAfter  = semconv.UnmeasuredSocketTCP + ": the operation was observed after it ran (raw connection or statement)"
)

// after ends a query-like call on its owner's side: on error, or when the
// driver returned no rows that would end it later.
func (c *call) after(err error) {
	if err != nil || !c.hasRows {
		c.finish(err)
	}
}

// finish ends the operation once: span attributes, status, metrics and the
// slow-query log.
func (c *call) finish(err error) {
	if !c.done.CompareAndSwap(false, true) {
		return
	}
	dur := time.Since(c.start)
	in := c.in
	wait := time.Duration(c.handover.Load())
	if c.noWait {
		wait = 0
	}
	rows := c.rows.Load()
	c.net.Exclude(wait)
	if c.span.IsRecording() {
		kv := &c.kv
		n := 0
		if wait > 0 {
			kv[n] = attribute.Float64(semconv.AttrDBConnectionWaitTime, wait.Seconds())
			n++
		}
		switch c.kind {
		case opQuery:
			kv[n] = attribute.Int64(semconv.AttrDBResponseReturnedRows, rows)
			n++
		case opExec:
			if c.affected >= 0 {
				kv[n] = attribute.Int64(semconv.AttrDBRowsAffected, c.affected)
				n++
			}
		}
		if err != nil {
			et := errorType(err)
			kv[n] = attribute.String(semconv.AttrErrorType, et)
			n++
			c.span.SetStatus(codes.Error, errorDescription(et, err))
		}
		if n > 0 {
			c.span.SetAttributes(kv[:n]...)
		}
	}
	c.span.End()

	ctx := c.Context
	if err != nil {
		attrs := in.series.attrsFor(c.info.series, in)
		attrs = append(attrs[:len(attrs):len(attrs)], attribute.String(semconv.AttrErrorType, errorType(err)))
		in.opDur.Record(ctx, dur.Seconds(), metric.WithAttributes(attrs...))
	} else {
		in.opDur.Record(ctx, dur.Seconds(), in.series.opts(c.info.series, in)...)
	}
	if wait > 0 {
		in.waitHist.Record(ctx, wait.Seconds(), in.baseOpts...)
	}
	if in.cfg.slow > 0 && dur >= in.cfg.slow {
		in.logSlow(ctx, c, dur, wait, rows, err)
	}
}

func (in *instr) logSlow(ctx context.Context, c *call, dur, wait time.Duration, rows int64, err error) {
	attrs := []slog.Attr{
		slog.String(semconv.AttrDBSystemName, in.cfg.system),
		slog.String(semconv.AttrDBOperationName, c.info.shape.operation),
		slog.String("fingerprint", c.info.fingerprint),
		slog.Duration("duration", dur),
		slog.Duration("wait", wait),
		slog.Int64("rows", rows),
	}
	if sc := c.span.SpanContext(); sc.HasTraceID() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", errorDescription(errorType(err), err)))
	}
	in.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "slow query", attrs...)
}

// errorDescription describes a failed operation for the span status and
// the slow-query log: error.type and, when the driver reports one, the
// SQLSTATE code ("_OTHER (SQLSTATE 22P02)"). Never the driver's message:
// databases quote the offending value in it (PostgreSQL: invalid input
// syntax for type integer: "<the bound parameter>"), and no literal or
// parameter may leave the process. The semantic conventions ask for a
// description only when it is not expected to hold sensitive details. The
// application still gets the full error.
func errorDescription(errType string, err error) string {
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		if code := st.SQLState(); isSQLState(code) {
			return errType + " (SQLSTATE " + code + ")"
		}
	}
	return errType
}

// isSQLState reports whether s is five digits or upper-case letters.
func isSQLState(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// errorType is the error.type value: a kind of internal/errclass's closed
// taxonomy (the one middleware uses), "_OTHER" when none fits, so that the
// attribute and the metric series stay bounded.
func errorType(err error) string {
	if errors.Is(err, ErrNestedConnection) {
		return errclass.NestedConnection
	}
	return errclass.Classify(err, errclass.PhaseNone)
}

// systemFromDriver maps a database/sql driver name to db.system.name.
func systemFromDriver(name string) string {
	switch n := strings.ToLower(name); {
	case strings.Contains(n, "sqlite"):
		return "sqlite"
	case strings.Contains(n, "postgres") || n == "pgx" || n == "pq" || strings.HasPrefix(n, "pgx"):
		return "postgresql"
	case strings.Contains(n, "mysql"):
		return "mysql"
	case strings.Contains(n, "maria"):
		return "mariadb"
	case n == "sqlserver" || n == "mssql":
		return "microsoft.sql_server"
	case n == "":
		return "other_sql"
	default:
		return n
	}
}

// serverFromDSN extracts host and port from URL-style DSNs
// (postgres://u@h:5432/db), key=value DSNs (host=h port=5432) and MySQL
// DSNs (user@tcp(h:3306)/db). It returns "" when there is no network
// server (SQLite files, unix sockets).
func serverFromDSN(dsn string) (string, int) {
	if i := strings.Index(dsn, "@tcp("); i >= 0 {
		rest := dsn[i+5:]
		if j := strings.IndexByte(rest, ')'); j >= 0 {
			return splitHostPort(rest[:j])
		}
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" || u.Scheme == "file" {
			return "", 0
		}
		return splitHostPort(u.Host)
	}
	var host string
	var port int
	for _, f := range strings.Fields(dsn) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case "host":
			if !strings.HasPrefix(v, "/") {
				host = v
			}
		case "port":
			port, _ = strconv.Atoi(v)
		}
	}
	if host == "" {
		port = 0
	}
	return host, port
}

func splitHostPort(hp string) (string, int) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	port, _ := strconv.Atoi(p)
	return h, port
}
