package harness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // the database of the service
)

// Rows is the number of orders in the service's table; the load asks for
// ids 1..Rows.
const Rows = 1000

// Querier is what the service's handler needs of a database: *sqlx.DB and
// *sqlxprobe.DB both have it.
type Querier interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

// Order is one row of the service's table.
type Order struct {
	ID    int64  `db:"id"`
	Item  string `db:"item"`
	Price int64  `db:"price"`
}

// Handler is the service every variant serves: GET /orders/{id} reads one
// row by primary key and writes it as text; other paths are 404.
func Handler(db Querier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		var o Order
		if err := db.GetContext(r.Context(), &o, "SELECT id, item, price FROM orders WHERE id = ?", id); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d %s %d\n", o.ID, o.Item, o.Price)
	})
	return mux
}

// DSN returns the SQLite data source name of the database file in dir
// (created by Seed).
func DSN(dir string) string {
	return "file:" + filepath.Join(dir, "orders.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

// Seed creates the orders table with Rows rows in dir's database file.
func Seed(dir string) error {
	db, err := sql.Open("sqlite", DSN(dir))
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: a no-op
	if _, err := tx.Exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, price INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	for i := 1; i <= Rows; i++ {
		if _, err := tx.Exec("INSERT INTO orders (id, item, price) VALUES (?, ?, ?)", i, "item-"+strconv.Itoa(i), i*7%1000); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return tx.Commit()
}

// PoolSize is the connection pool size every variant uses.
const PoolSize = 8

// Counters are what a variant reports besides the process figures the
// harness reads from /proc. Fields a variant cannot know stay zero; EBPF
// is nil when the variant has no eBPF.
type Counters struct {
	Goroutines     int    `json:"goroutines"`
	SpansExported  uint64 `json:"spans_exported"`
	SpansDropped   uint64 `json:"spans_dropped"`
	VerdictsFired  uint64 `json:"verdicts_fired"`
	VerdictsActive int    `json:"verdicts_active"`
	// Status is the tracer's Status().String() (verdict only).
	Status string `json:"status,omitempty"`
	EBPF   *BPF   `json:"ebpf,omitempty"`
}

// BPF are the eBPF figures of the verdict variant. Produced counts what
// the kernel programs recorded (system calls timed inside spans, socket
// spans measured, stop-the-world windows); Consumed what user space
// attributed (spans that got kernel time, pauses drained); Lost what the
// kernel side could not keep (timing slot, span and thread drops, pauses
// lost from the ring buffer).
type BPF struct {
	On       bool   `json:"on"`
	Reason   string `json:"reason,omitempty"`
	Syscalls uint64 `json:"syscalls"`
	Spans    uint64 `json:"kernel_spans"`
	Pauses   uint64 `json:"stw_pauses"`
	Sockets  uint64 `json:"socket_spans"`
	Lost     uint64 `json:"lost"`
	STWLost  uint64 `json:"stw_lost"`
}

// Service is a running variant of the service.
type Service struct {
	Handler  http.Handler
	Counters func() Counters             // nil: only goroutines
	Close    func(context.Context) error // nil: nothing to close
}

// Variant is one way of running the service: without instrumentation,
// with verdict, with a peer's instrumentation.
type Variant struct {
	Name string
	// Start opens the database at dsn (seeded) and returns the service.
	Start func(ctx context.Context, dsn string) (*Service, error)
}

// CountingExporter is a span exporter that counts the spans and drops
// them: the variants export through their SDK's batching into it, so the
// comparison measures the instrumentation, not a collector.
type CountingExporter struct{ n atomic.Uint64 }

var _ sdktrace.SpanExporter = (*CountingExporter)(nil)

// ExportSpans counts spans.
func (e *CountingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.n.Add(uint64(len(spans)))
	return nil
}

// Shutdown does nothing.
func (e *CountingExporter) Shutdown(context.Context) error { return nil }

// Exported is the number of spans exported so far.
func (e *CountingExporter) Exported() uint64 { return e.n.Load() }

// Off is the service without instrumentation.
var Off = Variant{Name: "off", Start: func(_ context.Context, dsn string) (*Service, error) {
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(PoolSize)
	db.SetMaxIdleConns(PoolSize)
	return &Service{Handler: Handler(db), Close: func(context.Context) error { return db.Close() }}, nil
}}

// root reports whether the process runs as root.
func root() bool { return os.Geteuid() == 0 }

// SDKSpans is the service with two bare OpenTelemetry SDK spans per
// request (the server's and the query's), batched into a CountingExporter,
// and nothing else: no attributes, metrics, propagation or probes. It is
// the floor of any instrumentation built on the SDK, the reference that
// tells what the SDK costs from what an instrumentation adds to it.
var SDKSpans = Variant{Name: "sdk-spans", Start: func(_ context.Context, dsn string) (*Service, error) {
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(PoolSize)
	db.SetMaxIdleConns(PoolSize)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(&CountingExporter{}))
	tr := tp.Tracer("sdk-spans")
	h := Handler(spanQuerier{db, tr})
	return &Service{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, span := tr.Start(r.Context(), "GET /orders/{id}", trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			h.ServeHTTP(w, r.WithContext(ctx))
		}),
		Close: func(ctx context.Context) error { return errors.Join(db.Close(), tp.Shutdown(ctx)) },
	}, nil
}}

type spanQuerier struct {
	q  Querier
	tr trace.Tracer
}

func (s spanQuerier) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	ctx, span := s.tr.Start(ctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return s.q.GetContext(ctx, dest, query, args...)
}
