package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// EnvChild names the variant a child process runs; envDSN its database.
const (
	EnvChild = "VERDICT_SOAK_CHILD"
	// EnvCPUProfile, when set to a directory, makes every child write a
	// CPU profile of its whole life there, as cpu-<variant>-<pid>.pprof:
	// for seeing where a variant's time goes under the soak's load.
	EnvCPUProfile = "VERDICT_SOAK_CPUPROFILE"
	envDSN        = "VERDICT_SOAK_DSN"
)

// Child runs the variant EnvChild names, when it is set, until its
// standard input closes, and returns true; it returns false at once in the
// harness itself. A failing child exits with status 2 and says why on
// standard error.
func Child(variants ...Variant) bool {
	name := os.Getenv(EnvChild)
	if name == "" {
		return false
	}
	if err := serveChild(name, os.Getenv(envDSN), variants, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak child:", err)
		os.Exit(2)
	}
	return true
}

// serveChild starts the variant, serves it and its counters on two
// loopback ports, writes "ready <service> <counters>" to out and stops
// when in reaches EOF.
func serveChild(name, dsn string, variants []Variant, in io.Reader, out io.Writer) error {
	var v *Variant
	for i := range variants {
		if variants[i].Name == name {
			v = &variants[i]
		}
	}
	if v == nil {
		return fmt.Errorf("unknown variant %q", name)
	}
	ctx := context.Background()
	svc, err := v.Start(ctx, dsn)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stats, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		return err
	}
	counters := func() Counters {
		if svc.Counters == nil {
			return Counters{Goroutines: runtime.NumGoroutine()}
		}
		return svc.Counters()
	}
	appSrv := &http.Server{Handler: svc.Handler, ReadHeaderTimeout: 10 * time.Second}
	statsSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(counters())
	})}
	go func() { _ = appSrv.Serve(app) }()
	go func() { _ = statsSrv.Serve(stats) }()
	if dir := os.Getenv(EnvCPUProfile); dir != "" {
		stop, err := startCPUProfile(filepath.Join(dir, fmt.Sprintf("cpu-%s-%d.pprof", name, os.Getpid())))
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(out, "ready %s %s\n", app.Addr(), stats.Addr())

	_, _ = io.Copy(io.Discard, bufio.NewReader(in)) // until the harness closes our stdin
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = errors.Join(appSrv.Shutdown(sctx), statsSrv.Shutdown(sctx))
	if svc.Close != nil {
		err = errors.Join(err, svc.Close(sctx))
	}
	return err
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
