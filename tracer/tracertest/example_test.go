package tracertest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
	"github.com/verdict-obs/verdict/tracer/tracertest"
)

// The three-line use: Start verdict for the test, run the code under test
// with the test's context, and let the cleanup fail the test for every
// verdict that fired (a leaked goroutine, an exhausted pool, a nested
// transaction, ...), with its evidence and an example trace.
func ExampleStart() {
	TestCheckout := func(t *testing.T) {
		tr := tracertest.Start(t)
		db, err := sqlxprobe.Open("sqlite", "file:shop?mode=memory&cache=shared")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		srv := httptest.NewServer(middleware.NewHandler(newShop(db)))
		defer srv.Close()
		req, _ := http.NewRequestWithContext(tr.Context(), http.MethodPost, srv.URL+"/checkout", nil)
		client := &http.Client{Transport: middleware.NewTransport(srv.Client().Transport)}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_ = TestCheckout // run by go test as a Test function
}

// A test of failure handling asserts that the verdict fires: it fails if
// none did, and the verdict is no failure.
func ExampleExpectVerdict() {
	TestPoolOfOneUnderLoad := func(t *testing.T) {
		tr := tracertest.Start(t, tracertest.ExpectVerdict(rules.IDPoolExhausted))
		runLoad(tr.Context(), t) // many concurrent transactions on db.SetMaxOpenConns(1)
	}
	_ = TestPoolOfOneUnderLoad
}

// newShop and runLoad stand for the code under test.
func newShop(*sqlxprobe.DB) http.Handler { return http.NotFoundHandler() }

func runLoad(context.Context, testing.TB) {}
