package validate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// shop is the part of the live test's service that faults can be injected
// into, built from verdict's public API like internal/e2e's service (which
// runs beside it in the same process, on the same Tracer):
//
//	GET /pay/{id}     answers 500 with probability errRatio
//	GET /quote/{id}   sleeps delay first
//	GET /order/{id}   one SELECT on the "orders" pool (2 connections)
//	GET /nested       a query on the "ledger" pool (4 connections) with a transaction's context (db.nested_tx)
//	GET /dberr        a SELECT on a table that does not exist
//	gRPC verdict.live.Cart/Add    fails UNAVAILABLE with probability rpcErrRatio
//	gRPC verdict.live.Cart/Price  sleeps rpcDelay first
type shop struct {
	URL      string
	GRPCAddr string

	errRatio    atomic.Uint64 // float64 bits
	delay       atomic.Int64  // ns
	rpcErrRatio atomic.Uint64
	rpcDelay    atomic.Int64
	seq, rpcSeq atomic.Uint64

	orders *sqlxprobe.DB
	ledger *sqlxprobe.DB
	srv    *http.Server
	gsrv   *grpc.Server
	conn   *grpc.ClientConn

	hogMu   sync.Mutex
	hogStop context.CancelFunc
	hogDone sync.WaitGroup
}

func setF(a *atomic.Uint64, v float64) { a.Store(uint64(int64(v * 1e6))) }
func getF(a *atomic.Uint64) float64    { return float64(int64(a.Load())) / 1e6 }

func startShop(tr *tracer.Tracer, dir string) (*shop, error) {
	s := &shop{}
	open := func(name string) (*sqlxprobe.DB, error) {
		return sqlxprobe.Open("sqlite", "file:"+filepath.Join(dir, name+".db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
			sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()),
			sqlxprobe.WithLogger(tr.Logger()), sqlxprobe.WithDBSystem("sqlite"), sqlxprobe.WithPoolName(name))
	}
	var err error
	if s.orders, err = open("orders"); err != nil {
		return nil, err
	}
	if s.ledger, err = open("ledger"); err != nil {
		return nil, err
	}
	s.ledger.SetMaxOpenConns(4)
	s.orders.SetMaxOpenConns(2)
	ctx := context.Background()
	if _, err := s.orders.ExecContext(ctx, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)"); err != nil {
		return nil, err
	}
	if _, err := s.ledger.ExecContext(ctx, "CREATE TABLE entries (id INTEGER PRIMARY KEY)"); err != nil {
		return nil, err
	}
	for i := 1; i <= 50; i++ {
		if _, err := s.orders.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES (?, ?)", i, i*10); err != nil {
			return nil, err
		}
	}
	mw := []middleware.Option{middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider()), middleware.WithPropagators(tr.Propagator())}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay/{id}", s.pay)
	mux.HandleFunc("GET /quote/{id}", s.quote)
	mux.HandleFunc("GET /order/{id}", s.order)
	mux.HandleFunc("GET /nested", s.nested)
	mux.HandleFunc("GET /dberr", s.dberr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: middleware.NewHandler(mux, mw...), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()

	s.gsrv = grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler(mw...)))
	s.gsrv.RegisterService(&cartDesc, s)
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.GRPCAddr = gln.Addr().String()
	go func() { _ = s.gsrv.Serve(gln) }()
	s.conn, err = grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(mw...)))
	return s, err
}

func (s *shop) close() error {
	s.stopHog()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := []error{s.srv.Shutdown(ctx), s.conn.Close()}
	s.gsrv.Stop()
	errs = append(errs, s.orders.Close(), s.ledger.Close())
	return errors.Join(errs...)
}

// roll reports true for a share p of its calls, evenly spread (the n-th
// call fails when floor(n·p) steps), so that the fault's ratio is exactly
// what the test asks for in any window, not a random draw.
func roll(seq *atomic.Uint64, p float64) bool {
	if p <= 0 {
		return false
	}
	n := float64(seq.Add(1))
	return math.Floor(n*p) != math.Floor((n-1)*p)
}

func (s *shop) pay(w http.ResponseWriter, _ *http.Request) {
	if roll(&s.seq, getF(&s.errRatio)) {
		http.Error(w, "payment backend down (injected)", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "paid")
}

func (s *shop) quote(w http.ResponseWriter, r *http.Request) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	io.WriteString(w, "42")
}

func (s *shop) order(w http.ResponseWriter, r *http.Request) {
	var total int
	err := s.orders.GetContext(r.Context(), &total, "SELECT total FROM orders WHERE id = ?", r.PathValue("id"))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		http.NotFound(w, r)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		fmt.Fprint(w, total)
	}
}

func (s *shop) nested(w http.ResponseWriter, r *http.Request) {
	tx, err := s.ledger.BeginTxx(r.Context(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer tx.Rollback()
	var n int
	// On the pool, not on tx: a second connection while holding one.
	if err := s.ledger.GetContext(tx.Context(), &n, "SELECT count(*) FROM entries"); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, n)
}

func (s *shop) dberr(w http.ResponseWriter, r *http.Request) {
	var n int
	err := s.orders.GetContext(r.Context(), &n, "SELECT count(*) FROM refunds")
	if err == nil {
		http.Error(w, "the table exists", http.StatusInternalServerError)
		return
	}
	http.Error(w, "no refunds table (expected)", http.StatusConflict)
}

// startHog holds both connections of the orders pool in turns: two
// goroutines each begin a transaction, hold it for hold, commit, and start
// again, until stopHog. Requests to /order wait for a connection.
func (s *shop) startHog(hold time.Duration) {
	s.hogMu.Lock()
	defer s.hogMu.Unlock()
	if s.hogStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.hogStop = cancel
	for range 2 {
		s.hogDone.Add(1)
		go func() {
			defer s.hogDone.Done()
			for ctx.Err() == nil {
				tx, err := s.orders.BeginTxx(ctx, nil)
				if err != nil {
					continue // canceled: the loop ends
				}
				select {
				case <-ctx.Done():
				case <-time.After(hold):
				}
				_ = tx.Commit()
			}
		}()
	}
}

func (s *shop) stopHog() {
	s.hogMu.Lock()
	stop := s.hogStop
	s.hogStop = nil
	s.hogMu.Unlock()
	if stop != nil {
		stop()
		s.hogDone.Wait()
	}
}

// The gRPC Cart service, declared by hand on well-known wrapper messages.
const (
	cartAdd   = "/verdict.live.Cart/Add"
	cartPrice = "/verdict.live.Cart/Price"
)

type cartServer interface {
	add(context.Context, *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error)
	price(context.Context, *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error)
}

func unary(call func(cartServer, context.Context, *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.Int64Value)
		if err := dec(in); err != nil {
			return nil, err
		}
		return call(srv.(cartServer), ctx, in)
	}
}

var cartDesc = grpc.ServiceDesc{
	ServiceName: "verdict.live.Cart",
	HandlerType: (*cartServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Add", Handler: unary(cartServer.add)},
		{MethodName: "Price", Handler: unary(cartServer.price)},
	},
	Metadata: "verdict/dashboards/validate",
}

func (s *shop) add(_ context.Context, in *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	if roll(&s.rpcSeq, getF(&s.rpcErrRatio)) {
		return nil, status.Error(codes.Unavailable, "cart store down (injected)")
	}
	return wrapperspb.Int64(in.GetValue() + 1), nil
}

func (s *shop) price(ctx context.Context, in *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	if d := time.Duration(s.rpcDelay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return wrapperspb.Int64(in.GetValue() * 3), nil
}

// call makes one gRPC call and returns its code.
func (s *shop) call(ctx context.Context, method string, id int64) codes.Code {
	out := new(wrapperspb.Int64Value)
	return status.Code(s.conn.Invoke(ctx, method, wrapperspb.Int64(id), out))
}
