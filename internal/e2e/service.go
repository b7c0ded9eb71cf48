// Package e2e is a small service built only from verdict's public API, for
// end-to-end tests against real backends (Jaeger, Prometheus) and for
// later dashboard, demo and soak work: an HTTP front end that calls a back
// end over HTTP and over gRPC, the back end reading and writing SQLite
// through sqlxprobe. Every listener is on 127.0.0.1.
//
// Routes of the front end ([Service.FrontURL]):
//
//	GET  /orders/{id}  HTTP GET back/items/{id} (404 if unknown), then gRPC Stock/Get(id)
//	POST /orders       HTTP POST back/items with the request body (an item name)
//	GET  /fast/{id}    one indexed SELECT on the items pool, nothing else
//
// The back end has two pools: "items" (limited to [Config.ItemsPoolLimit]
// connections) and "stock" (no limit).
package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// Config configures [Start].
type Config struct {
	// Tracer provides the tracer and meter providers, the propagator and
	// the logger. Required.
	Tracer *tracer.Tracer
	// ItemsPoolLimit is SetMaxOpenConns of the "items" pool; zero means 4.
	// The "stock" pool has no limit.
	ItemsPoolLimit int
	// Items is how many items exist (ids 1..Items); zero means 100.
	Items int
}

// Service is the running front end and back end.
type Service struct {
	FrontURL string // http://127.0.0.1:port
	BackURL  string // http://127.0.0.1:port
	GRPCAddr string // 127.0.0.1:port

	front, back *http.Server
	grpcSrv     *grpc.Server
	grpcConn    *grpc.ClientConn
	client      *http.Client
	items       *sqlxprobe.DB
	stock       *sqlxprobe.DB
	dir         string
}

// Start creates the databases in a temporary directory and starts the
// servers. Close releases everything.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if cfg.Tracer == nil {
		return nil, errors.New("e2e: Config.Tracer is nil")
	}
	if cfg.ItemsPoolLimit == 0 {
		cfg.ItemsPoolLimit = 4
	}
	if cfg.Items == 0 {
		cfg.Items = 100
	}
	tr := cfg.Tracer
	s := &Service{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "verdict-e2e-"); err != nil {
		return nil, err
	}
	dbOpts := func(pool string) []sqlxprobe.Option {
		return []sqlxprobe.Option{sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()),
			sqlxprobe.WithLogger(tr.Logger()), sqlxprobe.WithDBSystem("sqlite"), sqlxprobe.WithPoolName(pool)}
	}
	dsn := func(name string) string {
		return "file:" + filepath.Join(s.dir, name+".db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	}
	if s.items, err = sqlxprobe.Open("sqlite", dsn("items"), dbOpts("items")...); err != nil {
		return nil, err
	}
	s.items.SetMaxOpenConns(cfg.ItemsPoolLimit)
	if s.stock, err = sqlxprobe.Open("sqlite", dsn("stock"), dbOpts("stock")...); err != nil {
		return nil, err
	}
	if err = seed(ctx, s.items, s.stock, cfg.Items); err != nil {
		return nil, err
	}

	mwOpts := []middleware.Option{middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider()), middleware.WithPropagators(tr.Propagator())}

	// Back end: HTTP and gRPC.
	backMux := http.NewServeMux()
	backMux.HandleFunc("GET /items/{id}", s.getItem)
	backMux.HandleFunc("POST /items", s.postItem)
	if s.back, s.BackURL, err = serveHTTP(middleware.NewHandler(backMux, mwOpts...)); err != nil {
		return nil, err
	}
	s.grpcSrv = grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler(mwOpts...)))
	s.grpcSrv.RegisterService(&stockServiceDesc, stockServer{db: s.stock})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.GRPCAddr = ln.Addr().String()
	go func() { _ = s.grpcSrv.Serve(ln) }()

	// Front end.
	s.client = &http.Client{Transport: middleware.NewTransport(nil, mwOpts...), Timeout: 10 * time.Second}
	if s.grpcConn, err = grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(mwOpts...))); err != nil {
		return nil, err
	}
	frontMux := http.NewServeMux()
	frontMux.HandleFunc("GET /orders/{id}", s.getOrder)
	frontMux.HandleFunc("POST /orders", s.postOrder)
	frontMux.HandleFunc("GET /fast/{id}", s.fast)
	if s.front, s.FrontURL, err = serveHTTP(middleware.NewHandler(frontMux, mwOpts...)); err != nil {
		return nil, err
	}
	return s, nil
}

func seed(ctx context.Context, items, stock *sqlxprobe.DB, n int) error {
	if _, err := items.ExecContext(ctx, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("e2e: schema: %w", err)
	}
	if _, err := stock.ExecContext(ctx, "CREATE TABLE stock (item_id INTEGER PRIMARY KEY, qty INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("e2e: schema: %w", err)
	}
	for i := 1; i <= n; i++ {
		if _, err := items.ExecContext(ctx, "INSERT INTO items (id, name) VALUES (?, ?)", i, "item-"+strconv.Itoa(i)); err != nil {
			return fmt.Errorf("e2e: seed: %w", err)
		}
		if _, err := stock.ExecContext(ctx, "INSERT INTO stock (item_id, qty) VALUES (?, ?)", i, i%7); err != nil {
			return fmt.Errorf("e2e: seed: %w", err)
		}
	}
	return nil
}

func serveHTTP(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

// Close stops the servers, closes the pools and removes the databases.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range []*http.Server{s.front, s.back} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	if s.grpcConn != nil {
		errs = append(errs, s.grpcConn.Close())
	}
	if s.grpcSrv != nil {
		s.grpcSrv.GracefulStop()
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	for _, db := range []*sqlxprobe.DB{s.items, s.stock} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// getOrder: the item over HTTP, then its stock over gRPC.
func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, s.BackURL+"/items/"+strconv.FormatInt(id, 10), nil)
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	name, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "no such item", resp.StatusCode)
		return
	}
	qty := new(wrapperspb.Int64Value)
	if err := s.grpcConn.Invoke(r.Context(), stockGetMethod, wrapperspb.Int64(id), qty); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%s x%d\n", strings.TrimSpace(string(name)), qty.GetValue())
}

// postOrder forwards the body (an item name) to the back end.
func (s *Service) postOrder(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, s.BackURL+"/items", strings.NewReader(string(body)))
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}

// fast is one indexed SELECT.
func (s *Service) fast(w http.ResponseWriter, r *http.Request) {
	var name string
	err := s.items.GetContext(r.Context(), &name, "SELECT name FROM items WHERE id = ?", r.PathValue("id"))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		http.NotFound(w, r)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		io.WriteString(w, name)
	}
}

func (s *Service) getItem(w http.ResponseWriter, r *http.Request) {
	var name string
	err := s.items.GetContext(r.Context(), &name, "SELECT name FROM items WHERE id = ?", r.PathValue("id"))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		http.NotFound(w, r)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		io.WriteString(w, name)
	}
}

func (s *Service) postItem(w http.ResponseWriter, r *http.Request) {
	name, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil || len(name) == 0 {
		http.Error(w, "an item name in the body", http.StatusBadRequest)
		return
	}
	if _, err := s.items.ExecContext(r.Context(), "INSERT INTO items (name) VALUES (?)", string(name)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// The gRPC Stock service, declared by hand (no generated code needed for
// one unary method on well-known wrapper messages).
const stockGetMethod = "/verdict.e2e.Stock/Get"

type stockService interface {
	get(context.Context, *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error)
}

var stockServiceDesc = grpc.ServiceDesc{
	ServiceName: "verdict.e2e.Stock",
	HandlerType: (*stockService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.Int64Value)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(stockService).get(ctx, in)
		},
	}},
	Metadata: "verdict/internal/e2e",
}

type stockServer struct{ db *sqlxprobe.DB }

func (s stockServer) get(ctx context.Context, id *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	var qty int64
	err := s.db.GetContext(ctx, &qty, "SELECT qty FROM stock WHERE item_id = ?", id.GetValue())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, status.Error(codes.NotFound, "no stock row")
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	return wrapperspb.Int64(qty), nil
}
