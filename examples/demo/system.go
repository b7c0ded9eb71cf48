package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL, with -dsn
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	_ "modernc.org/sqlite" // the embedded default database

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// system is the demo's small shop, every part instrumented by verdict:
//
//	clients ──HTTP──► front end (API) ──gRPC──► back end ──sqlxprobe──► database
//	                     │                                               (SQLite or PostgreSQL)
//	                     └──HTTP──► pricing (another team's service, found by DNS name)
//
// Everything runs in this process on 127.0.0.1; the pricing service and its
// DNS server stand for other processes (they are not instrumented). The
// fields marked "fault" are the switches the fault schedule turns.
type system struct {
	FrontURL   string // the HTTP API
	BackAddr   string // the gRPC back end
	PricingURL string // as the front end calls it, by name
	DBName     string // "SQLite (file in a temporary directory)" or "PostgreSQL"

	log     *slog.Logger
	mwOpts  []middleware.Option
	db      *sqlxprobe.DB
	pg      bool
	dir     string
	front   *http.Server
	back    *backend
	conn    *grpc.ClientConn
	pricing *pricing
	dns     *dnsServer
	prices  *http.Client

	// Faults.
	lockHold   atomic.Int64 // ns the catalogue holds its lock on each read
	leak       atomic.Bool  // each order view leaves a goroutine behind
	txHold     atomic.Int64 // ns checkout holds its transaction "calling the payment provider"
	heavy      atomic.Bool  // the report renders the new, allocation-heavy way
	catalogue  catalogue
	inventory  [][]*node // kept in memory: the live heap the GC fault's collections mark
	leakStop   chan struct{}
	leakMu     sync.Mutex
	leaked     sync.WaitGroup
	reportsDir string
}

// options of the system.
type systemConfig struct {
	Tracer *tracer.Tracer
	DSN    string // PostgreSQL DSN; empty: SQLite in a temporary directory
	Rows   int    // orders in the database (the slow-query fault scans them)
}

// Database tables: orders (indexed by customer: the index the slow-query
// fault drops) and stock.
const (
	sqliteSchema = `
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, item TEXT NOT NULL, total INTEGER NOT NULL);
CREATE TABLE stock (item TEXT PRIMARY KEY, qty INTEGER NOT NULL);`
	pgSchema = `
DROP TABLE IF EXISTS orders, stock;
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, customer INTEGER NOT NULL, item TEXT NOT NULL, total INTEGER NOT NULL);
CREATE TABLE stock (item TEXT PRIMARY KEY, qty INTEGER NOT NULL);`
	seedOrders = `INSERT INTO orders (customer, item, total)
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d)
SELECT x %% 5000, CASE x %% 3 WHEN 0 THEN 'espresso' WHEN 1 THEN 'croissant' ELSE 'tea' END, x %% 97 FROM g`
	createIndex = "CREATE INDEX orders_customer ON orders (customer)"
	dropIndex   = "DROP INDEX orders_customer"
)

var items = []string{"espresso", "croissant", "tea"}

func startSystem(ctx context.Context, cfg systemConfig) (_ *system, err error) {
	tr := cfg.Tracer
	s := &system{log: tr.Logger(), leakStop: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.mwOpts = []middleware.Option{middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider()), middleware.WithPropagators(tr.Propagator())}
	if s.dir, err = os.MkdirTemp("", "verdict-demo-"); err != nil {
		return nil, err
	}
	s.reportsDir = s.dir
	if err = s.openDB(ctx, cfg); err != nil {
		return nil, err
	}
	s.inventory = loadInventory()
	// Two collections publish the start-up's allocations in the heap
	// profile now, so that later hotspot analyses show the load's.
	runtime.GC()
	runtime.GC()

	// The back end: gRPC over the database.
	if s.back, err = startBackend(s); err != nil {
		return nil, err
	}
	s.BackAddr = s.back.addr

	// Pricing and the DNS server that names it.
	if s.pricing, err = startPricing(); err != nil {
		return nil, err
	}
	if s.dns, err = startDNS(); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(s.pricing.addr)
	s.PricingURL = "http://pricing.demo.test:" + port
	// The pricing client opens a connection per call (as many clients
	// behind an L4 load balancer do), so every call resolves the name.
	s.prices = &http.Client{
		Transport: middleware.NewTransport(&http.Transport{DialContext: s.dns.dialer().DialContext, DisableKeepAlives: true}, s.mwOpts...),
		Timeout:   2 * time.Second,
	}

	// The front end: the HTTP API, a gRPC client of the back end. The
	// client reconnects within a second when the back end comes back.
	s.conn, err = grpc.NewClient(s.BackAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(s.mwOpts...)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}, MinConnectTimeout: time.Second}))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	mux.HandleFunc("GET /customers/{id}/orders", s.customerOrders)
	mux.HandleFunc("POST /orders", s.checkout)
	mux.HandleFunc("GET /report", s.report)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.FrontURL = "http://" + ln.Addr().String()
	s.front = &http.Server{Handler: middleware.NewHandler(mux, s.mwOpts...), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.front.Serve(ln) }()
	return s, nil
}

func (s *system) openDB(ctx context.Context, cfg systemConfig) error {
	dbOpts := []sqlxprobe.Option{
		sqlxprobe.WithTracerProvider(cfg.Tracer.TracerProvider()), sqlxprobe.WithMeterProvider(cfg.Tracer.MeterProvider()),
		sqlxprobe.WithLogger(cfg.Tracer.Logger()), sqlxprobe.WithPoolName("orders"),
		sqlxprobe.WithSlowQueryThreshold(100 * time.Millisecond),
	}
	rows := cfg.Rows
	var driverName, dsn string
	if cfg.DSN != "" {
		s.pg, s.DBName = true, "PostgreSQL (schema verdict_demo)"
		if rows == 0 {
			rows = 300000
		}
		driverName, dsn = "postgres", withSearchPath(cfg.DSN)
	} else {
		s.DBName = "SQLite (a file in " + s.dir + ")"
		if rows == 0 {
			// Enough that the slow-query fault's scan takes well over the
			// judge's 5 ms floor on a fast machine (100 000 scanned in
			// ~5 ms here, at the floor: the verdict came late or not).
			rows = 300000
		}
		driverName = "sqlite"
		dsn = "file:" + filepath.Join(s.dir, "shop.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	}
	// The schema and the seed go through a plain connection: setting up
	// the shop is not the shop's traffic (its 0.2 s bulk insert would be a
	// slow-query warning and a statement on the status page).
	if err := seed(ctx, driverName, dsn, s.pg, rows, cfg.DSN); err != nil {
		return err
	}
	opts := dbOpts
	if !s.pg {
		opts = append(opts, sqlxprobe.WithDBSystem("sqlite"))
	}
	var err error
	if s.db, err = sqlxprobe.Open(driverName, dsn, opts...); err != nil {
		return err
	}
	if err = s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return err
	}
	// A small pool, as services get by default from their config: the
	// pool-exhaustion fault runs it dry.
	s.db.SetMaxOpenConns(4)
	s.db.SetMaxIdleConns(4)
	return nil
}

// seed creates the shop's schema and rows through a plain database/sql
// connection (no spans, no metrics). bootDSN is the PostgreSQL DSN without
// the demo's search path, for creating its schema.
func seed(ctx context.Context, driverName, dsn string, pg bool, rows int, bootDSN string) error {
	if pg {
		boot, err := sql.Open(driverName, bootDSN)
		if err != nil {
			return err
		}
		_, err = boot.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS verdict_demo")
		boot.Close()
		if err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	db, err := sqlx.Open(driverName, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	schema := sqliteSchema
	if pg {
		schema = pgSchema
	}
	for _, stmt := range strings.Split(strings.TrimSpace(schema), ";") {
		if stmt = strings.TrimSpace(stmt); stmt == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	for _, stmt := range []string{fmt.Sprintf(seedOrders, rows), createIndex} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	for _, it := range items {
		if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO stock (item, qty) VALUES (?, ?)"), it, 1000000); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if pg {
		_, _ = db.ExecContext(ctx, "ANALYZE orders")
	}
	return nil
}

// withSearchPath adds search_path=verdict_demo to a PostgreSQL DSN (URL
// or key=value form); lib/pq passes it to the server.
func withSearchPath(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=verdict_demo"
	}
	return dsn + " search_path=verdict_demo"
}

// Close stops everything, in the order requests flow.
func (s *system) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if s.front != nil {
		errs = append(errs, s.front.Shutdown(ctx))
	}
	s.stopLeaks()
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.back != nil {
		s.back.stop()
	}
	if s.prices != nil {
		s.prices.CloseIdleConnections()
	}
	if s.pricing != nil {
		errs = append(errs, s.pricing.close())
	}
	if s.dns != nil {
		s.dns.close()
	}
	if s.db != nil {
		if s.pg {
			_, _ = s.db.ExecContext(ctx, "DROP SCHEMA verdict_demo CASCADE")
		}
		errs = append(errs, s.db.Close())
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// ---- the front end (HTTP API) ----

// getOrder: the order from the back end over gRPC, its price from the
// pricing service over HTTP.
func (s *system) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	if s.leak.Load() {
		s.recordView(id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	order := new(wrapperspb.StringValue)
	if err := s.conn.Invoke(ctx, methodGet, wrapperspb.Int64(id), order); err != nil {
		grpcError(w, err)
		return
	}
	item := s.catalogue.lookup(order.GetValue(), time.Duration(s.lockHold.Load()))
	price, err := s.price(ctx, item)
	if err != nil {
		http.Error(w, "pricing: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "order %d: %s, %s\n", id, order.GetValue(), price)
}

func (s *system) price(ctx context.Context, item string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.PricingURL+"/price/"+item, nil)
	resp, err := s.prices.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), nil
}

// customerOrders counts a customer's orders in the back end.
func (s *system) customerOrders(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	n := new(wrapperspb.Int64Value)
	if err := s.conn.Invoke(r.Context(), methodCount, wrapperspb.Int64(id), n); err != nil {
		grpcError(w, err)
		return
	}
	fmt.Fprintf(w, "%d orders\n", n.GetValue())
}

// checkout places an order through the back end.
func (s *system) checkout(w http.ResponseWriter, r *http.Request) {
	item := r.URL.Query().Get("item")
	if item == "" {
		item = items[0]
	}
	id := new(wrapperspb.Int64Value)
	if err := s.conn.Invoke(r.Context(), methodCreate, wrapperspb.String(item), id); err != nil {
		grpcError(w, err)
		return
	}
	s.log.InfoContext(r.Context(), "order created", "order.id", id.GetValue(), "item", item)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "%d\n", id.GetValue())
}

func grpcError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	switch status.Code(err) {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.DeadlineExceeded:
		code = http.StatusGatewayTimeout
	}
	http.Error(w, err.Error(), code)
}

// recordView is the goroutine-leak fault: it records a view
// asynchronously and waits for an acknowledgement nobody ever sends.
//
//go:noinline
func (s *system) recordView(id int64) {
	ack := make(chan bool)
	s.leakMu.Lock()
	stop := s.leakStop
	s.leaked.Add(1)
	s.leakMu.Unlock()
	go func() {
		defer s.leaked.Done()
		select {
		case <-ack: // the bug: nothing sends on ack
		case <-stop: // the demo's way to end them when the fault is removed
		}
	}()
	_ = id
}

// stopLeaks ends the leaked goroutines.
func (s *system) stopLeaks() {
	s.leakMu.Lock()
	close(s.leakStop)
	s.leakStop = make(chan struct{})
	s.leakMu.Unlock()
	s.leaked.Wait()
}

// catalogue maps items to display names behind a mutex; the
// lock-contention fault makes every read refresh it under the lock.
type catalogue struct {
	mu    sync.Mutex
	names map[string]string
}

//go:noinline
func (c *catalogue) lookup(order string, hold time.Duration) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]string{}
	}
	if hold > 0 {
		time.Sleep(hold) // "refresh from the config service", under the lock
	}
	for _, it := range items {
		if strings.Contains(order, it) {
			c.names[it] = it
			return it
		}
	}
	return items[0]
}

// report renders a sales report and writes it with fsync: CPU, allocation
// and file-system time on one span. Reports have a 40 ms deadline.
func (s *system) report(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 40*time.Millisecond)
	defer cancel()
	n := 200
	if s.heavy.Load() {
		n = 240000 // the new report format: 15 MB of short-lived nodes
	}
	sum, err := render(ctx, n)
	if err != nil {
		http.Error(w, "report: deadline exceeded", http.StatusGatewayTimeout)
		return
	}
	f, err := os.CreateTemp(s.reportsDir, "report-*.txt")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fmt.Fprintf(f, "total %d\n", sum)
	if err := f.Sync(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "report: %d\n", sum)
}

// loadInventory builds the in-memory inventory: 1.3 million small
// objects, about 70 MB of live heap.
//
//go:noinline
func loadInventory() [][]*node {
	inv := make([][]*node, 64)
	for i := range inv {
		inv[i] = make([]*node, 20000)
		for j := range inv[i] {
			inv[i][j] = &node{v: j}
		}
	}
	return inv
}

type node struct {
	next *node
	v    int
	pad  [4]int
}

// render builds the report as a linked list, in chunks, and gives up when
// ctx is done.
//
//go:noinline
func render(ctx context.Context, n int) (int, error) {
	s := 0
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := min(n, 10000)
		var head *node
		for i := range k {
			head = &node{next: head, v: i}
		}
		for p := head; p != nil; p = p.next {
			s += p.v
		}
		n -= k
	}
	return s, nil
}

// ---- the back end (gRPC) ----

// The back end's gRPC service, declared by hand: three unary methods on
// the well-known wrapper messages, no generated code.
const (
	serviceName  = "demo.Orders"
	methodGet    = "/demo.Orders/Get"
	methodCount  = "/demo.Orders/CountByCustomer"
	methodCreate = "/demo.Orders/Create"
)

type backend struct {
	s    *system
	addr string
	mu   sync.Mutex
	srv  *grpc.Server
}

func startBackend(s *system) (*backend, error) {
	b := &backend{s: s}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.addr = ln.Addr().String()
	b.serve(ln)
	return b, nil
}

func (b *backend) serve(ln net.Listener) {
	srv := grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler(b.s.mwOpts...)))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Get", Handler: unary(func() *wrapperspb.Int64Value { return new(wrapperspb.Int64Value) }, b.get)},
			{MethodName: "CountByCustomer", Handler: unary(func() *wrapperspb.Int64Value { return new(wrapperspb.Int64Value) }, b.count)},
			{MethodName: "Create", Handler: unary(func() *wrapperspb.StringValue { return new(wrapperspb.StringValue) }, b.create)},
		},
	}, b)
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// unary adapts a typed method to grpc.MethodDesc's handler.
func unary[In, Out any](newIn func() In, f func(context.Context, In) (Out, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := newIn()
		if err := dec(in); err != nil {
			return nil, err
		}
		return f(ctx, in)
	}
}

// stop is the refusing-downstream fault: the back end's process is gone
// (its port refuses connections).
func (b *backend) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// restart listens on the same address again.
func (b *backend) restart() error {
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.serve(ln)
	return nil
}

func (b *backend) get(ctx context.Context, id *wrapperspb.Int64Value) (*wrapperspb.StringValue, error) {
	var o struct {
		Item  string `db:"item"`
		Total int    `db:"total"`
	}
	db := b.s.db
	err := db.GetContext(ctx, &o, db.Rebind("SELECT item, total FROM orders WHERE id = ?"), id.GetValue())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, status.Error(codes.NotFound, "no such order")
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	return wrapperspb.String(fmt.Sprintf("%s x%d", o.Item, o.Total%5+1)), nil
}

// count is the query the slow-query fault regresses (its index dropped).
func (b *backend) count(ctx context.Context, customer *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	var n int64
	db := b.s.db
	if err := db.GetContext(ctx, &n, db.Rebind("SELECT count(*) FROM orders WHERE customer = ?"), customer.GetValue()); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return wrapperspb.Int64(n), nil
}

// create checks the stock in a transaction, "charges" the customer, and
// inserts the order. The pool-exhaustion fault: the charge (a call to a
// slow payment provider) happens while the transaction holds its pooled
// connection.
func (b *backend) create(ctx context.Context, item *wrapperspb.StringValue) (*wrapperspb.Int64Value, error) {
	db := b.s.db
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	defer tx.Rollback()
	var qty int
	if err := tx.GetContext(ctx, &qty, db.Rebind("SELECT qty FROM stock WHERE item = ?"), item.GetValue()); err != nil {
		return nil, status.Error(codes.NotFound, "no such item")
	}
	if d := b.s.txHold.Load(); d > 0 {
		time.Sleep(time.Duration(d)) // the payment provider, inside the transaction
	}
	if err := tx.Commit(); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	var id int64
	q := "INSERT INTO orders (customer, item, total) VALUES (?, ?, ?) RETURNING id"
	if err := db.GetContext(ctx, &id, db.Rebind(q), time.Now().Nanosecond()%5000, item.GetValue(), 42); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return wrapperspb.Int64(id), nil
}

// ---- pricing: another team's service ----

// pricing answers GET /price/{item}; the slow-downstream fault makes it
// answer in 250 ms instead of 2.
type pricing struct {
	addr  string
	delay atomic.Int64 // ns
	srv   *http.Server
}

func startPricing() (*pricing, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &pricing{addr: ln.Addr().String()}
	p.delay.Store(int64(2 * time.Millisecond))
	p.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(p.delay.Load()))
		io.WriteString(w, "4.20 EUR\n")
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *pricing) close() error { return p.srv.Close() }
