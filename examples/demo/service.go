package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // the embedded default database

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
)

// service is the demo's order service: net/http with verdict's middleware,
// SQLite through sqlxprobe, and an "inventory" dependency called over HTTP
// through verdict's client transport.
type service struct {
	URL    string
	srv    *http.Server
	db     *sqlxprobe.DB
	client *http.Client
	dir    string
	log    *slog.Logger
}

type order struct {
	ID       int64  `db:"id"`
	Customer string `db:"customer"`
	Item     string `db:"item"`
	Qty      int    `db:"qty"`
}

const schema = `
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, item TEXT NOT NULL, qty INTEGER NOT NULL);
CREATE TABLE stock (item TEXT PRIMARY KEY, qty INTEGER NOT NULL);
INSERT INTO stock (item, qty) VALUES ('espresso', 100), ('croissant', 40);
INSERT INTO orders (customer, item, qty) VALUES ('ada', 'espresso', 2), ('grace', 'croissant', 1);
`

func startService(ctx context.Context, logger *slog.Logger) (*service, error) {
	db, err := sqlxprobe.Open("sqlite", "file:demo?mode=memory&cache=shared",
		sqlxprobe.WithDBSystem("sqlite"),
		sqlxprobe.WithLogger(logger),
		sqlxprobe.WithSlowQueryThreshold(20*time.Millisecond))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // SQLite in memory: one writer; pool wait becomes visible
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("schema: %w", err)
	}
	dir, err := os.MkdirTemp("", "verdict-demo")
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s := &service{
		URL:    "http://" + ln.Addr().String(),
		db:     db,
		client: &http.Client{Transport: middleware.NewTransport(nil), Timeout: 5 * time.Second},
		dir:    dir,
		log:    logger,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	mux.HandleFunc("POST /orders", s.createOrder)
	mux.HandleFunc("GET /inventory/{item}", s.inventory)
	mux.HandleFunc("GET /report", s.report)
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream broke", http.StatusBadGateway)
	})
	s.srv = &http.Server{Handler: middleware.NewHandler(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.client.CloseIdleConnections()
	os.RemoveAll(s.dir)
	return errors.Join(err, s.db.Close())
}

// getOrder reads one order: a query span under the server span.
func (s *service) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	var o order
	err = s.db.GetContext(r.Context(), &o, "SELECT id, customer, item, qty FROM orders WHERE id = ?", id)
	switch {
	case err == nil:
		fmt.Fprintf(w, "%d %s %s x%d\n", o.ID, o.Customer, o.Item, o.Qty)
	case errors.Is(err, sql.ErrNoRows):
		http.NotFound(w, r)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// createOrder asks the inventory dependency over HTTP (a client span with
// its phase breakdown), then writes the order in a transaction.
func (s *service) createOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	item := r.URL.Query().Get("item")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/inventory/"+item, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "out of stock", http.StatusConflict)
		return
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE stock SET qty = qty - 1 WHERE item = ? AND qty > 0", item); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	res, err := tx.NamedExecContext(ctx, "INSERT INTO orders (customer, item, qty) VALUES (:customer, :item, :qty)",
		order{Customer: r.URL.Query().Get("customer"), Item: item, Qty: 1})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := tx.Commit(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	id, _ := res.LastInsertId()
	s.log.InfoContext(ctx, "order created", "order.id", id, "item", item)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "%d\n", id)
}

// inventory is the dependency: it blocks in a system call for 25 ms (the
// kernel sees that as off-CPU time of this span).
func (s *service) inventory(w http.ResponseWriter, r *http.Request) {
	blockInKernel(25 * time.Millisecond)
	var qty int
	if err := s.db.GetContext(r.Context(), &qty, "SELECT qty FROM stock WHERE item = ?", r.PathValue("item")); err != nil || qty <= 0 {
		http.Error(w, "none left", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "%d\n", qty)
}

// report burns CPU, allocates, and writes a file with fsync: file system
// time, CPU time and GC pauses on one span.
func (s *service) report(w http.ResponseWriter, r *http.Request) {
	var rows []order
	if err := s.db.SelectContext(r.Context(), &rows, "SELECT id, customer, item, qty FROM orders ORDER BY id"); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	buf := render(rows)
	f, err := os.CreateTemp(s.dir, "report-*.txt")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	for i := 0; i < 8; i++ {
		if _, err := f.Write(buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := f.Sync(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprintf(w, "%d orders, %d bytes\n", len(rows), len(buf)*8)
}

// render is the demo's allocation hotspot: it builds the report the
// wasteful way, one small string at a time, many times over.
func render(rows []order) []byte {
	var out []byte
	for pass := 0; pass < 2000; pass++ {
		s := ""
		for _, o := range rows {
			s += fmt.Sprintf("%d;%s;%s;%d\n", o.ID, o.Customer, o.Item, o.Qty)
		}
		out = append(out[:0], s...)
	}
	return out
}
