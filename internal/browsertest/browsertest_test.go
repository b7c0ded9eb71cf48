package browsertest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A real Chromium loads a clean page without errors, reads its text and
// takes a PNG; a page that logs a console error, throws and loads a
// missing image has each reported.
func TestChromium(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/clean":
			io.WriteString(w, `<!DOCTYPE html><html><head><title>t</title></head><body><p>hello verdict</p></body></html>`)
		case "/broken":
			io.WriteString(w, `<!DOCTYPE html><html><body><p>broken</p><img src="/missing.png">
<script>console.error("boom"); throw new Error("thrown");</script></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	b := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Navigate(ctx, srv.URL+"/clean"); err != nil {
		t.Fatal(err)
	}
	text, err := p.Text(ctx)
	if err != nil || !strings.Contains(text, "hello verdict") {
		t.Fatalf("text %q, %v", text, err)
	}
	if errs := p.Errors(); len(errs) != 0 {
		t.Errorf("clean page reported errors: %q", errs)
	}
	png, err := p.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	if err := p.Navigate(ctx, srv.URL+"/broken"); err != nil {
		t.Fatal(err)
	}
	// Log entries for failed loads may trail the load event.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(p.Errors()) < 3 {
		time.Sleep(50 * time.Millisecond)
	}
	all := strings.Join(p.Errors(), "\n")
	for _, want := range []string{"console.error: boom", "thrown", "404"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
}
