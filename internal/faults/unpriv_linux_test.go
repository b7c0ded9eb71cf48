//go:build linux

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// childReport is what the unprivileged child prints.
type childReport struct {
	UID        int
	StartErr   string
	Status     string
	Components map[string]string // name -> "state: reason"
	Served     int
	Failed     int
}

const childRequests = 20

// runUnprivilegedChild is the whole product without privileges: the tracer
// in EBPFAuto with the runtime probe, the HTTP middleware, sqlxprobe on
// SQLite, spans over OTLP to the parent's receiver.
func runUnprivilegedChild() int {
	r := childReport{UID: os.Getuid(), Components: map[string]string{}}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(r) }()
	os.Setenv("OTEL_METRICS_EXPORTER", "none")
	os.Setenv("OTEL_LOGS_EXPORTER", "none")
	tr, err := tracer.Start(context.Background(), tracer.WithServiceName("unprivileged"), tracer.WithoutGlobals(),
		tracer.WithConsoleFormat(tracer.ConsoleNone), tracer.WithEBPF(tracer.EBPFAuto),
		tracer.WithOTLPEndpoint(os.Getenv("VERDICT_FAULTS_OTLP")), tracer.WithOTLPProtocol(tracer.ProtocolGRPC))
	if err != nil {
		r.StartErr = err.Error()
		return 0
	}
	db, err := sqlxprobe.Open("sqlite", "file:unpriv?mode=memory&cache=shared",
		sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()))
	if err != nil {
		r.StartErr = err.Error()
		return 0
	}
	defer db.Close()
	db.MustExec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders (item) VALUES ('secret-espresso')")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, req *http.Request) {
		var item string
		if err := db.GetContext(req.Context(), &item, "SELECT item FROM orders WHERE id = 1 AND item != 'literal-42'"); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = io.WriteString(w, item)
	})
	srv := httptest.NewServer(middleware.NewHandler(mux, middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider()), middleware.WithPropagators(tr.Propagator())))
	for i := range childRequests {
		resp, err := http.Get(fmt.Sprintf("%s/orders/%d", srv.URL, i))
		if err != nil || resp.StatusCode != 200 {
			r.Failed++
			continue
		}
		resp.Body.Close()
		r.Served++
	}
	srv.Close()
	st := tr.Status()
	r.Status = st.String()
	for _, c := range st.Components {
		r.Components[c.Name] = c.State.String() + ": " + c.Reason
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		r.StartErr = "shutdown: " + err.Error()
	}
	return 0
}

// Privileges absent, for real: the test binary re-executed as uid 65534
// (kernel.unprivileged_bpf_disabled is 2 here: no eBPF at all). Everything
// but eBPF works: requests are served, HTTP and query spans (fingerprinted)
// reach the OTLP receiver without kernel attributes, the runtime probe
// runs, and Status says why eBPF is off.
func TestUnprivileged(t *testing.T) {
	testutil.RequireRoot(t, "switch to uid 65534")
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	cmd := exec.Command(testutil.ExecutableCopy(t), "-test.run=^$")
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), childEnv+"=unprivileged", "VERDICT_FAULTS_OTLP="+rcv.GRPCEndpoint(), "VERDICT_EBPF=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var r childReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	t.Logf("child (uid %d) status:\n%s", r.UID, r.Status)
	if r.UID != 65534 || r.StartErr != "" {
		t.Fatalf("child uid %d, error %q", r.UID, r.StartErr)
	}
	if r.Served != childRequests || r.Failed != 0 {
		t.Errorf("served %d, failed %d of %d", r.Served, r.Failed, childRequests)
	}
	if c := r.Components["ebpf"]; !strings.HasPrefix(c, "off: ") || !strings.Contains(c, "CAP_BPF") {
		t.Errorf("ebpf: %q, want off naming CAP_BPF", c)
	}
	for _, name := range []string{"runtime", "traces"} {
		if c := r.Components[name]; !strings.HasPrefix(c, "on: ") {
			t.Errorf("%s: %q, want on", name, c)
		}
	}
	server, queries := 0, 0
	for _, s := range rcv.Spans() {
		for _, kv := range s.GetAttributes() {
			if strings.HasPrefix(kv.GetKey(), "verdict.kernel.") {
				t.Errorf("span %q has %s without privileges", s.GetName(), kv.GetKey())
			}
			if v := kv.GetValue().GetStringValue(); kv.GetKey() == semconv.AttrDBQueryText && strings.HasPrefix(v, "SELECT") {
				queries++
				if strings.Contains(v, "literal-42") {
					t.Errorf("db.query.text %q has the literal", v)
				}
			}
		}
		if strings.HasPrefix(s.GetName(), "GET /orders/") {
			server++
		}
	}
	if server != childRequests || queries != childRequests {
		t.Errorf("received %d server spans and %d query spans, want %d each", server, queries, childRequests)
	}
}
