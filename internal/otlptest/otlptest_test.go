package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func request(name string) *coltrace.ExportTraceServiceRequest {
	return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: name, TraceId: make([]byte, 16), SpanId: make([]byte, 8)}}}},
	}}}
}

func post(t *testing.T, url, contentType string, gz bool, body []byte) int {
	t.Helper()
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(body)
		w.Close()
		body = b.Bytes()
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiver(t *testing.T) {
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer http.DefaultClient.CloseIdleConnections()

	pb, _ := proto.Marshal(request("http-proto-gzip"))
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", true, pb); code != http.StatusOK {
		t.Errorf("protobuf+gzip: %d", code)
	}
	js, _ := protojson.Marshal(request("http-json"))
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/json", false, js); code != http.StatusOK {
		t.Errorf("json: %d", code)
	}
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", false, []byte("garbage")); code != http.StatusBadRequest {
		t.Errorf("garbage: %d, want 400", code)
	}

	conn, err := grpc.NewClient(r.GRPCEndpoint()[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltrace.NewTraceServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Export(ctx, request("grpc")); err != nil {
		t.Fatal(err)
	}

	r.Refuse(true)
	if _, err := client.Export(ctx, request("refused")); status.Code(err) != codes.Unavailable {
		t.Errorf("refused gRPC export: %v, want Unavailable", err)
	}
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", false, pb); code != http.StatusServiceUnavailable {
		t.Errorf("refused HTTP export: %d, want 503", code)
	}
	r.Refuse(false)

	if err := r.Wait(ctx, func() bool { return len(r.Spans()) == 3 }); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.Spans() {
		names = append(names, s.GetName())
	}
	if got := names[0] + "," + names[1] + "," + names[2]; got != "http-proto-gzip,http-json,grpc" {
		t.Errorf("spans = %s", got)
	}
	reqs := r.Requests()
	if len(reqs) != 3 || reqs[0].Protocol != ProtocolHTTP || reqs[2].Protocol != ProtocolGRPC || reqs[2].Signal != "traces" || reqs[2].Items != 1 {
		t.Errorf("requests = %+v", reqs)
	}

	// Wait honours its context.
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if err := r.Wait(short, func() bool { return false }); err == nil {
		t.Error("Wait returned nil for a condition that never holds")
	}
}

// A receiver that serves traces only answers the other signals as a real
// server without those services does, and records the attempts.
func TestTracesOnlyReceiver(t *testing.T) {
	r, err := StartWith(Options{Signals: []string{"traces"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer http.DefaultClient.CloseIdleConnections()

	pb, _ := proto.Marshal(request("x"))
	if code := post(t, r.HTTPEndpoint()+"/v1/metrics", "application/x-protobuf", false, pb); code != http.StatusNotFound {
		t.Errorf("HTTP metrics answered %d, want 404", code)
	}
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", false, pb); code != http.StatusOK {
		t.Errorf("HTTP traces answered %d, want 200", code)
	}

	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var resp coltrace.ExportTraceServiceResponse
	err = conn.Invoke(context.Background(), "/opentelemetry.proto.collector.logs.v1.LogsService/Export", request("x"), &resp)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("gRPC logs: %v, want Unimplemented", err)
	}
	un := r.Unserved()
	if len(un) != 2 || un[0].Signal != "metrics" || un[0].Protocol != ProtocolHTTP || un[1].Signal != "logs" || un[1].Protocol != ProtocolGRPC {
		t.Errorf("Unserved = %+v", un)
	}
	if n := len(r.Requests()); n != 1 {
		t.Errorf("accepted %d requests, want 1", n)
	}
}

func TestDelayAndHeaders(t *testing.T) {
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer http.DefaultClient.CloseIdleConnections()
	r.SetDelay(50 * time.Millisecond)
	pb, _ := proto.Marshal(request("x"))
	begin := time.Now()
	if code := post(t, r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", true, pb); code != http.StatusOK {
		t.Fatalf("answered %d", code)
	}
	if d := time.Since(begin); d < 50*time.Millisecond {
		t.Errorf("answered after %v, want the 50ms delay", d)
	}
	rq := r.Requests()[0]
	if !rq.Compressed || rq.Headers["content-type"] != "application/x-protobuf" || rq.Path != "/v1/traces" || rq.Encoding != "protobuf" {
		t.Errorf("request = %+v", rq)
	}
}
