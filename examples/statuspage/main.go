// Command statuspage mounts verdict's status page (Tracer.Handler) next to
// a small instrumented API: verdicts with their evidence, the slowest and
// failed requests with their time drawn as bars, latency histograms, the
// runtime. The page is on an admin listener of its own, as net/http/pprof
// would be: nothing serves it unless you mount it.
//
//	go run ./examples/statuspage   # then open http://localhost:6060/debug/verdict/
//	                               # and send some requests: curl localhost:8080/orders/1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	api := flag.String("listen", "localhost:8080", "address of the API")
	admin := flag.String("admin", "localhost:6060", "address of the status page (/debug/verdict/)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *api, *admin); err != nil {
		log.Fatal(err)
	}
}

// run serves the API on apiAddr and the status page on adminAddr until ctx
// ends.
func run(ctx context.Context, out io.Writer, apiAddr, adminAddr string) error {
	tr, err := tracer.Start(ctx, tracer.WithServiceName("statuspage-example")) // OTEL_* env honoured
	if err != nil {
		return err
	}
	defer tr.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "0" {
			http.Error(w, "no order 0", http.StatusInternalServerError)
			return
		}
		time.Sleep(2 * time.Millisecond) // some work
		fmt.Fprintln(w, "espresso")
	})
	// The status page, mounted like net/http/pprof on an internal listener.
	adminMux := http.NewServeMux()
	adminMux.Handle("/debug/verdict/", http.StripPrefix("/debug/verdict", tr.Handler()))

	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", adminAddr)
	if err != nil {
		apiLn.Close()
		return err
	}
	servers := []*http.Server{
		{Handler: middleware.NewHandler(mux), ReadHeaderTimeout: 5 * time.Second},
		{Handler: adminMux, ReadHeaderTimeout: 5 * time.Second},
	}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{apiLn, adminLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	fmt.Fprintf(out, "API:         http://%s/orders/1\nstatus page: http://%s/debug/verdict/\n", apiLn.Addr(), adminLn.Addr())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
