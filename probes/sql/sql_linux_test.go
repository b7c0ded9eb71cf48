package sql_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	_ "github.com/lib/pq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/sqlxprobe"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pgtest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func open(t *testing.T, e *probetest.Env, driver, dsn string) *sqlxprobe.DB {
	t.Helper()
	db, err := sqlxprobe.Open(driver, dsn, sqlxprobe.WithTracerProvider(e.Tracer.TracerProvider()),
		sqlxprobe.WithMeterProvider(e.Tracer.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A pool of one connection, two queries that each keep the server busy for
// 200 ms, at the same time: one waits for the pool, both wait on the wire
// for the server, and the client's own time is small. The three parts add
// up to the span.
func TestPoolWaitWireAndClient(t *testing.T) {
	srv := pgtest.Require(t)
	e := probetest.Start(t)
	db := open(t, e, "postgres", srv.DSN)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SELECT 1"); err != nil { // the connection is open: no dial in the measured calls
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := db.Exec("SELECT pg_sleep(0.2)"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var sleeps []probetest.Attrs
	for _, s := range e.WaitSpans(t, trace.SpanKindClient, 3) {
		a := probetest.AttrsOf(t, s)
		if strings.Contains(a[semconv.AttrDBQueryText].AsString(), "pg_sleep") {
			a["_duration"] = attribute.Float64Value(probetest.Duration(s))
			sleeps = append(sleeps, a)
		}
	}
	if len(sleeps) != 2 {
		t.Fatalf("%d pg_sleep spans", len(sleeps))
	}
	waited := 0
	for i, a := range sleeps {
		pool := 0.0
		if a.Has(semconv.AttrDBConnectionWaitTime) {
			pool = a.Float(t, semconv.AttrDBConnectionWaitTime)
		}
		if pool >= 0.15 {
			waited++
		}
		if !probetest.Kernel() {
			v := a[semconv.AttrUnmeasured].AsString()
			if !strings.Contains(v, semconv.UnmeasuredSocketTCP+": eBPF off: ") || !strings.Contains(v, "CAP_BPF") || a.Has(semconv.AttrSocketReadWait) {
				t.Errorf("call %d: %v, want pool wait only and %s naming CAP_BPF", i, a, semconv.AttrUnmeasured)
			}
			continue
		}
		wire := a.Float(t, semconv.AttrSocketReadWait) + a.Float(t, semconv.AttrSocketWriteWait)
		self, d := a.Float(t, semconv.AttrSelfDuration), a.Float(t, "_duration")
		t.Logf("call %d: %.1f ms = pool %.1f + wire %.1f + client %.1f; read %d B, wrote %d B", i, 1e3*d, 1e3*pool, 1e3*wire, 1e3*self,
			a.Int(t, semconv.AttrSocketReadBytes), a.Int(t, semconv.AttrSocketWriteBytes))
		if wire < 0.15 || wire > d-pool+1e-6 {
			t.Errorf("call %d: wire %.3fs for a 200 ms pg_sleep (span %.3fs, pool %.3fs)", i, wire, d, pool)
		}
		if self > wire {
			t.Errorf("call %d: client time %.3fs > wire %.3fs", i, self, wire)
		}
		if diff := d - (pool + wire + self); diff < -1e-6 || diff > 1e-3 {
			t.Errorf("call %d: pool + wire + client = %.6fs, span %.6fs", i, pool+wire+self, d)
		}
		if a.Int(t, semconv.AttrSocketReadBytes) == 0 || a.Int(t, semconv.AttrSocketWriteBytes) == 0 {
			t.Errorf("call %d: no bytes on the wire", i)
		}
	}
	if waited != 1 {
		t.Errorf("%d of the 2 calls waited >= 150 ms for the pool of one, want 1", waited)
	}
	c, _ := e.Tracer.Status().Component("sql")
	snap := e.Tracer.SQL().Snapshot()
	t.Logf("status %v; snapshot %+v", c, snap)
	if probetest.Kernel() {
		if c.State != probes.StateOn || snap.Calls.Spans != 3 || snap.Calls.ReadWait < 300e6 || snap.PoolWait < 150e6 {
			t.Errorf("status %v, snapshot %+v: want on, 3 calls, >= 300 ms on the wire, >= 150 ms in the pool", c, snap)
		}
	} else if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "CAP_BPF") || snap.Calls.Unmeasured != 3 {
		t.Errorf("status %v, snapshot %+v: want degraded naming CAP_BPF, 3 unmeasured calls", c, snap)
	}
}

func TestPoolWaitWireAndClientUnprivileged(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("already unprivileged")
	}
	probetest.RunUnprivileged(t, "^(TestPoolWaitWireAndClient|TestSQLiteHasNoSocket)$")
}

// SQLite runs in the process: its spans say there is no socket, with or
// without eBPF.
func TestSQLiteHasNoSocket(t *testing.T) {
	e := probetest.Start(t)
	db := open(t, e, "sqlite", "file:nosock?mode=memory&cache=shared")
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.WaitSpans(t, trace.SpanKindClient, 1) {
		a := probetest.AttrsOf(t, s)
		if v := a[semconv.AttrUnmeasured].AsString(); !strings.Contains(v, "SQLite runs in the process") || a.Has(semconv.AttrSocketReadWait) {
			t.Errorf("SQLite span: %v", a)
		}
	}
}
