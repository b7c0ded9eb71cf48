package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/verdict-obs/verdict/middleware"
)

// drive runs the client's request script rounds times. Each request is its
// own trace: a client span (with its phase breakdown) around the server's.
func drive(ctx context.Context, base string, rounds int) error {
	client := &http.Client{Transport: middleware.NewTransport(nil), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	script := []struct{ method, path string }{
		{http.MethodGet, "/orders/1"},
		{http.MethodPost, "/orders?item=espresso&customer=linus"},
		{http.MethodGet, "/orders/999"},
		{http.MethodGet, "/report"},
		{http.MethodGet, "/fail"},
	}
	for r := 0; r < rounds; r++ {
		for _, s := range script {
			req, err := http.NewRequestWithContext(ctx, s.method, base+s.path, nil)
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
	return nil
}

// load sends report requests from two goroutines for d and returns how many
// completed.
func load(ctx context.Context, base string, d time.Duration) int {
	client := &http.Client{Transport: middleware.NewTransport(nil), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan int)
	for w := 0; w < 2; w++ {
		go func() {
			n := 0
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/report", nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
			}
			done <- n
		}()
	}
	return <-done + <-done
}
