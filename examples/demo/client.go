package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/verdict-obs/verdict/middleware"
)

// tour sends one request of each kind through an instrumented client, so
// that each trace starts with a client span (with its phase breakdown)
// around the front end's server span.
func tour(ctx context.Context, sys *system, rounds int) error {
	client := &http.Client{Transport: middleware.NewTransport(nil, sys.mwOpts...), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	script := []struct{ method, path string }{
		{http.MethodGet, "/orders/1"},
		{http.MethodPost, "/orders?item=espresso"},
		{http.MethodGet, "/orders/999999999"},
		{http.MethodGet, "/customers/7/orders"},
		{http.MethodGet, "/report"},
	}
	for r := 0; r < rounds; r++ {
		for _, s := range script {
			req, err := http.NewRequestWithContext(ctx, s.method, sys.FrontURL+s.path, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.method, s.path, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close() // ends the client span
		}
	}
	// One dial to a closed port: the error taxonomy at work.
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil); err == nil {
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	return ctx.Err()
}
