// Command quickstart is the README's quickstart: a service instrumented with
// verdict in a dozen lines. It serves until interrupted.
//
//	go run ./examples/quickstart   # then: curl localhost:8080/orders/1
package main

import (
	"context"
	"log"
	"net/http"
	"os/signal"
	"syscall"

	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tr, err := tracer.Start(ctx, tracer.WithServiceName("orders")) // OTEL_* env honoured; options win
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background()) // flushes; bounded by its ctx; idempotent
	logger := tr.Logger()                   // slog: records carry trace_id and span_id

	db, err := sqlxprobe.Open("sqlite", "file:orders?mode=memory&cache=shared") // drop-in for sqlx.Open
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.MustExec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders (item) VALUES ('espresso')")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var item string
		if err := db.GetContext(r.Context(), &item, "SELECT item FROM orders WHERE id = ?", r.PathValue("id")); err != nil {
			logger.ErrorContext(r.Context(), "order lookup", "err", err)
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(item + "\n"))
	})
	logger.Info("verdict", "status", tr.Status().String()) // e.g. "ebpf: off: missing CAP_BPF ..."
	srv := &http.Server{Addr: "localhost:8080", Handler: middleware.NewHandler(mux)}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		logger.Error("serve", "err", err)
	}
}
