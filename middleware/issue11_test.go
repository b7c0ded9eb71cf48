package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// TestServerSpanProtocolVersion: without WithRecommendedAttributes the
// server span carries network.protocol.version, with the value its
// duration series carries.
func TestServerSpanProtocolVersion(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), tel.opts()...))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	span := tel.waitSpans(t, 1)[0]
	v, ok := spanAttr(span, semconv.AttrNetworkProtocolVersion)
	if !ok || v.AsString() != "1.1" {
		t.Errorf("server span network.protocol.version = %q (present %v), want 1.1", v.AsString(), ok)
	}
	m, _ := findMetric(tel.collect(t), semconv.MetricHTTPServerRequestDuration)
	for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if mv, _ := dp.Attributes.Value(semconv.AttrNetworkProtocolVersion); mv.AsString() != v.AsString() {
			t.Errorf("metric network.protocol.version %q, span %q", mv.AsString(), v.AsString())
		}
	}
}

// TestClientRequestBodySizeOnlyWithBody: GET and HEAD (no body) are not
// recorded in http.client.request.body.size; a POST with a body is, with
// its length. The client span has the attribute only for the POST.
func TestClientRequestBodySizeOnlyWithBody(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client := &http.Client{Transport: NewTransport(srv.Client().Transport, tel.opts()...)}
	do := func(method string, body io.Reader) {
		req, err := http.NewRequest(method, srv.URL+"/x", body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do(http.MethodGet, nil)
	do(http.MethodGet, nil)
	do(http.MethodHead, nil)
	do(http.MethodPost, strings.NewReader("twelve bytes"))
	spans := tel.waitSpans(t, 4)

	m, ok := findMetric(tel.collect(t), semconv.MetricHTTPClientRequestBodySize)
	if !ok {
		t.Fatal("no request body size metric at all")
	}
	byMethod := map[string]metricdata.HistogramDataPoint[int64]{}
	for _, dp := range m.Data.(metricdata.Histogram[int64]).DataPoints {
		meth, _ := dp.Attributes.Value(semconv.AttrHTTPRequestMethod)
		byMethod[meth.AsString()] = dp
	}
	for _, meth := range []string{"GET", "HEAD"} {
		if dp, ok := byMethod[meth]; ok {
			t.Errorf("%s recorded in %s: count %d, sum %d", meth, semconv.MetricHTTPClientRequestBodySize, dp.Count, dp.Sum)
		}
	}
	if dp := byMethod["POST"]; dp.Count != 1 || dp.Sum != 12 {
		t.Errorf("POST: count %d sum %d, want 1 and 12", dp.Count, dp.Sum)
	}
	for _, s := range spans {
		meth, _ := spanAttr(s, semconv.AttrHTTPRequestMethod)
		size, has := spanAttr(s, semconv.AttrHTTPRequestBodySize)
		if want := meth.AsString() == "POST"; has != want || (has && size.AsInt64() != 12) {
			t.Errorf("%s span: http.request.body.size %v (present %v)", meth.AsString(), size.AsInt64(), has)
		}
	}
}
