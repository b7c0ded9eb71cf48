package tracer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
)

// Tests of the OTEL_EXPORTER_OTLP_* variables against a real OTLP receiver
// (internal/otlptest) over both protocols.

// emitAll makes one span, one metric point and one log record, and flushes.
func emitAll(t *testing.T, tr *Tracer) error {
	t.Helper()
	_, s := tr.TracerProvider().Tracer("t").Start(context.Background(), "op")
	s.End()
	c, _ := tr.MeterProvider().Meter("t").Int64Counter("test.count")
	c.Add(context.Background(), 1)
	tr.Logger().Info("record")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tr.ForceFlush(ctx)
}

// startOTLP starts a Tracer configured by the environment only (the caller
// sets the variables), with a capturing diagnostics logger.
func startOTLP(t *testing.T, opts ...Option) (*Tracer, *captureHandler) {
	t.Helper()
	diag := newCapture()
	tr, err := Start(context.Background(), append([]Option{quiet(), WithoutGlobals(), WithLogger(slog.New(diag))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	})
	return tr, diag
}

func signalsOf(reqs []otlptest.Request) map[string]otlptest.Request {
	out := map[string]otlptest.Request{}
	for _, r := range reqs {
		out[r.Signal] = r
	}
	return out
}

var protocols = []struct {
	name     string
	endpoint func(*otlptest.Receiver) string
}{
	{ProtocolGRPC, (*otlptest.Receiver).GRPCEndpoint},
	{ProtocolHTTPProtobuf, (*otlptest.Receiver).HTTPEndpoint},
}

// OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT win over the general
// one; an HTTP per-signal URL is used as it is (the general one gets
// /v1/<signal> appended).
func TestEnvOTLPEndpointPerSignal(t *testing.T) {
	for _, p := range protocols {
		for _, signal := range envSignals {
			t.Run(p.name+"/"+signal, func(t *testing.T) {
				cleanEnv(t)
				rcv := startReceiver(t, otlptest.Options{})
				general := startReceiver(t, otlptest.Options{})
				endpoint := p.endpoint(rcv)
				if p.name != ProtocolGRPC {
					endpoint += "/v1/" + signal
				}
				setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name,
					"OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(general),
					"OTEL_EXPORTER_OTLP_"+strings.ToUpper(signal)+"_ENDPOINT", endpoint)
				tr, _ := startOTLP(t)
				if err := emitAll(t, tr); err != nil {
					t.Fatal(err)
				}
				got := signalsOf(rcv.Requests())
				if _, ok := got[signal]; !ok || len(got) != 1 {
					t.Errorf("receiver got %v, want %s only", rcv.Requests(), signal)
				}
				if _, ok := signalsOf(general.Requests())[signal]; ok || len(general.Requests()) != 2 {
					t.Errorf("general receiver got %v, want the two other signals", general.Requests())
				}
				if p.name != ProtocolGRPC && got[signal].Path != "/v1/"+signal {
					t.Errorf("path %q", got[signal].Path)
				}
				if c, _ := tr.Status().Component(signal); !strings.Contains(c.Detail, endpoint) {
					t.Errorf("%s = %+v", signal, c)
				}
			})
		}
	}
	t.Run("general base path", func(t *testing.T) {
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPEndpoint()+"/")
		tr, _ := startOTLP(t)
		if err := emitAll(t, tr); err != nil {
			t.Fatal(err)
		}
		for _, r := range rcv.Requests() {
			if r.Path != "/v1/"+r.Signal {
				t.Errorf("%s went to %q", r.Signal, r.Path)
			}
		}
	})
	t.Run("http without scheme", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		tr, diag := startOTLP(t)
		if !strings.Contains(diagText(diag), `OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": OTLP/HTTP needs a URL`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
		if c, _ := tr.Status().Component("traces"); c.Detail != "otlp/http http://localhost:4318/v1/traces (sampler parentbased_always_on)" {
			t.Errorf("traces = %+v", c)
		}
	})
	t.Run("http per-signal without scheme falls back to the general one", func(t *testing.T) {
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		setEnv(t, "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318",
			"OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		tr, diag := startOTLP(t)
		if err := emitAll(t, tr); err != nil || len(rcv.Spans()) != 1 {
			t.Errorf("ForceFlush = %v, %d spans at the general endpoint", err, len(rcv.Spans()))
		}
		if !strings.Contains(diagText(diag), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="collector:4318": OTLP/HTTP needs a URL`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
	})
	t.Run("option wins", func(t *testing.T) {
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+closedPort(t))
		tr, _ := startOTLP(t, WithOTLPEndpoint(rcv.HTTPEndpoint()))
		if err := emitAll(t, tr); err != nil || len(rcv.Spans()) != 1 {
			t.Errorf("ForceFlush = %v, %d spans; WithOTLPEndpoint must win", err, len(rcv.Spans()))
		}
	})
}

// OTEL_EXPORTER_OTLP_PROTOCOL per signal, and http/json (traces only in the
// Go exporters).
func TestEnvOTLPProtocolPerSignal(t *testing.T) {
	cleanEnv(t)
	rcv := startReceiver(t, otlptest.Options{})
	setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.GRPCEndpoint(),
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "HTTP/JSON", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.HTTPEndpoint()+"/v1/traces",
		"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", rcv.HTTPEndpoint()+"/v1/logs")
	tr, _ := startOTLP(t)
	if err := emitAll(t, tr); err != nil {
		t.Fatal(err)
	}
	got := signalsOf(rcv.Requests())
	if r := got["traces"]; r.Protocol != otlptest.ProtocolHTTP || r.Encoding != "json" {
		t.Errorf("traces %+v, want http/json", r)
	}
	if r := got["logs"]; r.Protocol != otlptest.ProtocolHTTP || r.Encoding != "protobuf" {
		t.Errorf("logs %+v, want http/protobuf", r)
	}
	if r := got["metrics"]; r.Protocol != otlptest.ProtocolGRPC {
		t.Errorf("metrics %+v, want grpc", r)
	}
	t.Run("json for metrics", func(t *testing.T) {
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		setEnv(t, "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")
		tr, diag := startOTLP(t)
		if err := emitAll(t, tr); err != nil {
			t.Fatal(err)
		}
		if r := signalsOf(rcv.Requests())["metrics"]; r.Encoding != "protobuf" || !strings.Contains(diagText(diag), "no JSON encoding") {
			t.Errorf("metrics %+v; diagnostics %s", r, diagText(diag))
		}
	})
	t.Run("unknown", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		tr, diag := startOTLP(t)
		if !strings.Contains(diagText(diag), `OTEL_EXPORTER_OTLP_PROTOCOL="http/xml" is not one of`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
		if c, _ := tr.Status().Component("traces"); !strings.HasPrefix(c.Detail, "otlp/http ") {
			t.Errorf("traces = %+v", c)
		}
	})
}

// OTEL_EXPORTER_OTLP_HEADERS reach the receiver (values URL-decoded); the
// per-signal variable replaces the general one; a malformed entry is
// reported (without its value).
func TestEnvOTLPHeaders(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv),
				"OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret-1,x-team=a%20b,broken",
				"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-api-key=logs-key")
			tr, diag := startOTLP(t)
			if err := emitAll(t, tr); err != nil {
				t.Fatal(err)
			}
			got := signalsOf(rcv.Requests())
			for _, s := range []string{"traces", "metrics"} {
				if h := got[s].Headers; h["x-api-key"] != "secret-1" || h["x-team"] != "a b" {
					t.Errorf("%s headers %v", s, h)
				}
			}
			if h := got["logs"].Headers; h["x-api-key"] != "logs-key" || h["x-team"] != "" {
				t.Errorf("logs headers %v, want only the per-signal ones", h)
			}
			text := diagText(diag)
			if !strings.Contains(text, "OTEL_EXPORTER_OTLP_HEADERS: entry #3 (no '=')") || strings.Contains(text, "secret-1") {
				t.Errorf("diagnostics = %s", text)
			}
		})
	}
}

// OTEL_EXPORTER_OTLP_COMPRESSION=gzip (any case), overridden per signal.
func TestEnvOTLPCompression(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv),
				"OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none")
			tr, _ := startOTLP(t)
			if err := emitAll(t, tr); err != nil {
				t.Fatal(err)
			}
			got := signalsOf(rcv.Requests())
			if !got["traces"].Compressed || !got["logs"].Compressed || got["metrics"].Compressed {
				t.Errorf("compressed: traces %v, logs %v, metrics %v; want gzip except metrics",
					got["traces"].Compressed, got["logs"].Compressed, got["metrics"].Compressed)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd", "OTEL_TRACES_EXPORTER", "none", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		_, diag := startOTLP(t)
		if !strings.Contains(diagText(diag), `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="zstd" is not one of gzip, none`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
	})
}

// OTEL_EXPORTER_OTLP_TIMEOUT bounds each export; the per-signal variable
// wins; 0 means no limit (the Go exporters alone would fail at once).
func TestEnvOTLPTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		failing []string // signals whose export must time out
	}{
		{"general", []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "100"}, []string{"traces", "metrics", "logs"}},
		{"per signal", []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "100", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "20000"}, []string{"metrics", "logs"}},
		{"zero", []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "0"}, nil},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				cleanEnv(t)
				rcv := startReceiver(t, otlptest.Options{})
				rcv.SetDelay(time.Second)
				setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv))
				setEnv(t, tc.env...)
				tr, _ := startOTLP(t)
				_ = emitAll(t, tr)
				// The metric reader's goroutine records its outcome itself.
				deadline := time.Now().Add(5 * time.Second)
				for _, s := range envSignals {
					want := strings.Contains(strings.Join(tc.failing, ","), s)
					c, _ := tr.Status().Component(s)
					for want && c.Dropped == 0 && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
						c, _ = tr.Status().Component(s)
					}
					if got := c.Dropped > 0; got != want {
						t.Errorf("%s timed out = %v, want %v: %+v", s, got, want, c)
					}
				}
			})
		}
	}
}

// OTEL_EXPORTER_OTLP_INSECURE applies to a gRPC endpoint without a scheme
// (here 127.0.0.1:port, which the Go exporter cannot even parse by itself);
// a scheme decides on its own.
func TestEnvOTLPInsecure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       []string
		delivered bool
	}{
		{"insecure", []string{"OTEL_EXPORTER_OTLP_INSECURE", "true"}, true},
		{"per signal", []string{"OTEL_EXPORTER_OTLP_INSECURE", "false", "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "TRUE"}, true},
		{"default tls", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.GRPCAddr(),
				"OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none", "OTEL_BSP_EXPORT_TIMEOUT", "1000")
			setEnv(t, tc.env...)
			tr, _ := startOTLP(t)
			err := emitAll(t, tr)
			if got := len(rcv.Spans()) == 1; got != tc.delivered {
				t.Errorf("delivered = %v, want %v (ForceFlush: %v)", got, tc.delivered, err)
			}
		})
	}
	t.Run("scheme wins", func(t *testing.T) {
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.GRPCEndpoint(),
			"OTEL_EXPORTER_OTLP_INSECURE", "false", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		tr, diag := startOTLP(t)
		// The Go exporter alone would switch to TLS here.
		if err := emitAll(t, tr); err != nil || len(rcv.Spans()) != 1 {
			t.Errorf("ForceFlush = %v, %d spans: the http:// scheme must keep plain text", err, len(rcv.Spans()))
		}
		if !strings.Contains(diagText(diag), "OTEL_EXPORTER_OTLP_INSECURE=false is ignored") {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
	})
	t.Run("not a boolean", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "OTEL_EXPORTER_OTLP_INSECURE", "yes", "OTEL_TRACES_EXPORTER", "none", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		_, diag := startOTLP(t)
		if !strings.Contains(diagText(diag), `OTEL_EXPORTER_OTLP_INSECURE="yes" is not a boolean`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
	})
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "verdict test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	cliKeyDER, _ := x509.MarshalECPrivateKey(cliKey)
	p := testPKI{
		caFile:     write("ca.pem", "CERTIFICATE", caDER),
		clientCert: write("client.pem", "CERTIFICATE", cliDER),
		clientKey:  write("client-key.pem", "EC PRIVATE KEY", cliKeyDER),
		server:     tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
		pool:       x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	return p
}

// OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY (read
// by the exporters, checked by verdict): a receiver with a private CA that
// requires client certificates gets every signal over both protocols only
// when all three are set.
func TestEnvOTLPCertificates(t *testing.T) {
	pki := newTestPKI(t)
	for _, p := range protocols {
		for _, tc := range []struct {
			name      string
			env       []string
			delivered bool
		}{
			{"ca and client", []string{"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.caFile,
				"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.clientCert, "OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.clientKey}, true},
			{"per signal", []string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pki.caFile, "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", pki.caFile,
				"OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", pki.caFile, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", pki.clientCert,
				"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", pki.clientKey, "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", pki.clientCert,
				"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", pki.clientKey, "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", pki.clientCert,
				"OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", pki.clientKey}, true},
			{"no client certificate", []string{"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.caFile}, false},
			{"no ca", []string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.clientCert, "OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.clientKey}, false},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				cleanEnv(t)
				rcv := startReceiver(t, otlptest.Options{TLS: &tls.Config{
					Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}})
				setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv),
					"OTEL_BSP_EXPORT_TIMEOUT", "2000", "OTEL_BLRP_EXPORT_TIMEOUT", "2000", "OTEL_METRIC_EXPORT_TIMEOUT", "2000")
				setEnv(t, tc.env...)
				tr, _ := startOTLP(t)
				err := emitAll(t, tr)
				if got := len(signalsOf(rcv.Requests())) == 3; got != tc.delivered {
					t.Errorf("all three signals delivered = %v, want %v (ForceFlush: %v; got %v)", got, tc.delivered, err, rcv.Requests())
				}
			})
		}
	}
	t.Run("unusable files fail Start", func(t *testing.T) {
		for _, tc := range []struct{ env []string }{
			{[]string{"OTEL_EXPORTER_OTLP_CERTIFICATE", filepath.Join(t.TempDir(), "missing.pem")}},
			{[]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pki.clientKey}}, // not a certificate
			{[]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.clientCert}},
			{[]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.clientCert, "OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.caFile}},
		} {
			cleanEnv(t)
			setEnv(t, tc.env...)
			_, err := Start(context.Background(), quiet(), WithoutGlobals())
			if err == nil || !strings.Contains(err.Error(), tc.env[0]) {
				t.Errorf("%v: Start = %v, want an error naming the variable", tc.env, err)
			}
		}
	})
}

// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE and
// _DEFAULT_HISTOGRAM_AGGREGATION (read by the Go metric exporters; verdict
// reports invalid values, which the exporters ignore without a word).
func TestEnvOTLPMetricsPreferences(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv),
				"OTEL_TRACES_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none",
				"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta",
				"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
			tr, _ := startOTLP(t)
			m := tr.MeterProvider().Meter("t")
			c, _ := m.Int64Counter("test.count")
			h, _ := m.Float64Histogram("test.latency")
			c.Add(context.Background(), 5)
			h.Record(context.Background(), 0.25)
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.Add(context.Background(), 3)
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var sums []*metricspb.Sum
			var exp bool
			for _, m := range rcv.Metrics() {
				switch m.GetName() {
				case "test.count":
					sums = append(sums, m.GetSum())
				case "test.latency":
					exp = m.GetExponentialHistogram() != nil
				}
			}
			if len(sums) != 2 || sums[1].GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA ||
				sums[1].GetDataPoints()[0].GetAsInt() != 3 {
				t.Errorf("test.count exports %v, want delta 3 in the second", sums)
			}
			if !exp {
				t.Error("test.latency is not an exponential histogram")
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes",
			"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "linear", "OTEL_TRACES_EXPORTER", "none",
			"OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		_, diag := startOTLP(t)
		text := diagText(diag)
		if !strings.Contains(text, `TEMPORALITY_PREFERENCE="sometimes"`) || !strings.Contains(text, `DEFAULT_HISTOGRAM_AGGREGATION="linear"`) {
			t.Errorf("diagnostics = %s", text)
		}
	})
}

// Issue 11 point 6: a backend that accepts traces only (as Jaeger does)
// answers metrics and logs with gRPC Unimplemented or HTTP 404. That is not
// an outage: verdict says so once in the log and in Status, sends that
// signal no more, and counts what it does not send as dropped with reason
// signal_unsupported.
func TestOTLPTracesOnlyBackend(t *testing.T) {
	for _, p := range protocols {
		answer := "HTTP 404 Not Found"
		if p.name == ProtocolGRPC {
			answer = "gRPC Unimplemented"
		}
		t.Run(p.name, func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{Signals: []string{"traces"}})
			setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", p.name, "OTEL_EXPORTER_OTLP_ENDPOINT", p.endpoint(rcv))
			diag := newCapture()
			tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)))
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				_ = emitAll(t, tr)
			}
			// Traces are fine; metrics and logs were tried once each.
			un := rcv.Unserved()
			per := map[string]int{}
			for _, r := range un {
				per[r.Signal]++
			}
			if per["metrics"] != 1 || per["logs"] != 1 || len(un) != 2 {
				t.Errorf("requests for unserved signals: %v, want one for metrics and one for logs", per)
			}
			if n := len(rcv.Spans()); n != 5 {
				t.Errorf("%d spans arrived, want 5", n)
			}
			// One log line per refused signal, and no outage warnings.
			text := diagText(diag)
			for _, s := range []string{"metrics", "logs"} {
				if n := strings.Count(text, "the endpoint does not accept "+s+"; not sending them any more"); n != 1 {
					t.Errorf("%d log lines about %s, want 1:\n%s", n, s, text)
				}
			}
			if strings.Contains(text, "dropping telemetry instead of blocking") || strings.Contains(text, "opentelemetry error") {
				t.Errorf("a refusal reported as an outage:\n%s", text)
			}
			if !strings.Contains(text, "answer="+answer) {
				t.Errorf("log lacks the answer %q:\n%s", answer, text)
			}
			st := tr.Status()
			for _, s := range []string{"metrics", "logs"} {
				c, _ := st.Component(s)
				if c.State != probes.StateOff || !strings.Contains(c.Reason, "the endpoint does not accept "+s+" ("+answer+"); not sending them") || c.Dropped == 0 {
					t.Errorf("%s = %+v", s, c)
				}
			}
			if c, _ := st.Component("traces"); c.State != probes.StateOn || c.Dropped != 0 {
				t.Errorf("traces = %+v", c)
			}
			logs, _ := st.Component("logs")
			if logs.Dropped != 5 {
				t.Errorf("logs dropped %d, want the 5 records", logs.Dropped)
			}
			t.Log(st.String())
			desc := "otlp/http " + p.endpoint(rcv) + "/v1/metrics"
			if p.name == ProtocolGRPC {
				desc = "otlp/grpc " + p.endpoint(rcv)
			}
			mc, _ := st.Component("metrics")
			if want := "metrics: off: " + desc + ": the endpoint does not accept metrics (" + answer + "); not sending them; "; !strings.HasPrefix(mc.String(), want) {
				t.Errorf("metrics line %q, want prefix %q", mc.String(), want)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = tr.Shutdown(ctx)
			var de *DropError
			if !errors.As(err, &de) || de.Unsupported == 0 || !strings.Contains(err.Error(), "dropped: the endpoint does not accept") {
				t.Errorf("Shutdown = %v", err)
			}
			if per := len(rcv.Unserved()); per != 2 {
				t.Errorf("%d unserved requests after Shutdown, want still 2", per)
			}
		})
	}
}

// The refused signal's drops appear in verdict.telemetry.dropped with their
// own reason.
func TestOTLPRefusedSignalDropMetric(t *testing.T) {
	cleanEnv(t)
	rcv := startReceiver(t, otlptest.Options{Signals: []string{"traces"}})
	setEnv(t, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.GRPCEndpoint())
	reader := sdkmetric.NewManualReader()
	tr, _ := startOTLP(t, WithMetricReader(reader))
	for range 3 {
		_ = emitAll(t, tr)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := sumValue(rm, semconv.MetricDropped, map[string]string{semconv.AttrDropSignal: semconv.SignalLogs, semconv.AttrDropReason: semconv.DropUnsupported})
	if got != 3 {
		t.Errorf("%s{logs,%s} = %d, want 3", semconv.MetricDropped, semconv.DropUnsupported, got)
	}
	if failed := sumValue(rm, semconv.MetricDropped, map[string]string{semconv.AttrDropReason: semconv.DropExportFailed}); failed != 0 {
		t.Errorf("export_failed = %d, want 0", failed)
	}
}

// Which answers are a refusal of the signal, and which are not.
func TestSignalRefused(t *testing.T) {
	for _, tc := range []struct {
		err  string
		want bool
	}{
		{"failed to send to http://h:4318/v1/traces: 404 Not Found (body: x)", true},
		{"failed to send metrics to http://h:4318/v1/metrics: 405 Method Not Allowed (body: x)", true},
		{"failed to send logs to http://h/v1/logs: 415 Unsupported Media Type (body: x)", true},
		{"failed to send to http://h/v1/traces: 501 Not Implemented (body: x)", true},
		{"failed to send to http://h/v1/traces: 400 Bad Request (body: x)", false},
		{"failed to send to http://h/v1/traces: 401 Unauthorized (body: x)", false},
		{"connection refused", false},
	} {
		if _, got := signalRefused(errors.New(tc.err)); got != tc.want {
			t.Errorf("signalRefused(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
