// Package browsertest drives a real headless Chromium for tests, through
// the DevTools protocol over a websocket: open a page, read its text,
// collect its console errors and exceptions, take a screenshot.
//
// [Start] skips the test when no Chromium binary is installed, except
// under CI=true, where that is a failure (CI installs Debian's chromium).
package browsertest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// Binaries are the names Start looks for, in order.
var Binaries = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser is a running headless Chromium.
type Browser struct {
	cmd  *exec.Cmd
	port string
	dir  string
	wait chan error
}

var devtoolsRe = regexp.MustCompile(`DevTools listening on ws://127\.0\.0\.1:(\d+)/`)

// Start starts a headless Chromium with a throw-away profile; the test's
// cleanup stops it.
func Start(t testing.TB) *Browser {
	t.Helper()
	var bin string
	for _, name := range Binaries {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if testutil.CI() {
			t.Fatalf("CI=true: no Chromium (%s) on PATH", strings.Join(Binaries, ", "))
		}
		t.Skipf("no Chromium on PATH (%s): apt-get install chromium", strings.Join(Binaries, ", "))
	}
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
		"--hide-scrollbars", "--window-size=1280,2000", "--remote-debugging-address=127.0.0.1",
		"--remote-debugging-port=0", "--remote-allow-origins=*", "--user-data-dir="+filepath.Join(dir, "profile"), "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start %s: %v", bin, err)
	}
	b := &Browser{cmd: cmd, dir: dir, wait: make(chan error, 1)}
	found := make(chan string, 1)
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if log.Len() < 8<<10 {
				log.WriteString(line + "\n")
			}
			logMu.Unlock()
			if m := devtoolsRe.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		b.wait <- cmd.Wait()
	}()
	t.Cleanup(b.close)
	select {
	case b.port = <-found:
	case err := <-b.wait:
		b.wait <- err
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("%s exited before listening: %v\n%s", bin, err, log.String())
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("%s did not announce its DevTools port within 30 s:\n%s", bin, log.String())
	}
	return b
}

func (b *Browser) close() {
	_ = b.cmd.Process.Kill()
	select {
	case <-b.wait:
	case <-time.After(10 * time.Second):
	}
	os.RemoveAll(b.dir)
}

// Page is one browser tab, attached over the DevTools protocol.
type Page struct {
	ws *websocket.Conn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	errs    []string
	loads   int
	loaded  chan struct{}
	closed  error
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// NewPage opens a tab on about:blank and enables the domains that report
// console messages, exceptions and loads.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://127.0.0.1:"+b.port+"/json/new?about:blank", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("new tab: %w", err)
	}
	defer resp.Body.Close()
	var target struct {
		WS string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&target); err != nil || target.WS == "" {
		return nil, fmt.Errorf("new tab: no websocket URL (status %s, %v)", resp.Status, err)
	}
	cfg, err := websocket.NewConfig(target.WS, "http://127.0.0.1/")
	if err != nil {
		return nil, err
	}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("attach to tab: %w", err)
	}
	ws.MaxPayloadBytes = 64 << 20
	p := &Page{ws: ws, pending: map[int]chan reply{}, loaded: make(chan struct{}, 16)}
	go p.read()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if _, err := p.Call(ctx, m, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// read dispatches replies and records events until the connection ends.
func (p *Page) read() {
	for {
		var raw []byte
		if err := websocket.Message.Receive(p.ws, &raw); err != nil {
			p.mu.Lock()
			p.closed = err
			for id, ch := range p.pending {
				close(ch)
				delete(p.pending, id)
			}
			p.mu.Unlock()
			return
		}
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			reply
		}
		if json.Unmarshal(raw, &msg) != nil {
			continue
		}
		if msg.ID != 0 {
			p.mu.Lock()
			ch := p.pending[msg.ID]
			delete(p.pending, msg.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- msg.reply
			}
			continue
		}
		p.event(msg.Method, msg.Params)
	}
}

func (p *Page) event(method string, params json.RawMessage) {
	var e string
	switch method {
	case "Page.loadEventFired":
		p.mu.Lock()
		p.loads++
		p.mu.Unlock()
		select {
		case p.loaded <- struct{}{}:
		default:
		}
		return
	case "Runtime.consoleAPICalled":
		var v struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &v) == nil && (v.Type == "error" || v.Type == "assert") {
			var parts []string
			for _, a := range v.Args {
				parts = append(parts, fmt.Sprint(a.Value)+a.Description)
			}
			e = "console." + v.Type + ": " + strings.Join(parts, " ")
		}
	case "Runtime.exceptionThrown":
		e = "exception: " + string(params)
	case "Log.entryAdded":
		var v struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		// The browser asks every origin for /favicon.ico by itself; a
		// page that has none (verdict's pages load nothing) is not in
		// error, so that request's 404 is not counted.
		if json.Unmarshal(params, &v) == nil && v.Entry.Level == "error" && !browserFavicon(v.Entry.Source, v.Entry.URL) {
			e = fmt.Sprintf("log %s: %s %s", v.Entry.Source, v.Entry.Text, v.Entry.URL)
		}
	}
	if e != "" {
		p.mu.Lock()
		p.errs = append(p.errs, e)
		p.mu.Unlock()
	}
}

// Call sends one DevTools command and waits for its result.
func (p *Page) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	p.mu.Lock()
	if p.closed != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("%s: connection closed: %w", method, p.closed)
	}
	p.nextID++
	id := p.nextID
	ch := make(chan reply, 1)
	p.pending[id] = ch
	p.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if err := websocket.JSON.Send(p.ws, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: connection closed", method)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, url string) error {
	for len(p.loaded) > 0 {
		<-p.loaded
	}
	res, err := p.Call(ctx, "Page.navigate", map[string]any{"url": url})
	if err != nil {
		return err
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if json.Unmarshal(res, &nav) == nil && nav.ErrorText != "" {
		return fmt.Errorf("navigate %s: %s", url, nav.ErrorText)
	}
	return p.WaitLoad(ctx)
}

// WaitLoad waits for the next load event (a navigation, or the page
// reloading itself).
func (p *Page) WaitLoad(ctx context.Context) error {
	select {
	case <-p.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the page to load: %w", ctx.Err())
	}
}

// Loads is how many load events the page had.
func (p *Page) Loads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loads
}

// Eval evaluates a JavaScript expression in the page (the test's, not the
// page's: the page under test may have none) and returns its value as
// JSON.
func (p *Page) Eval(ctx context.Context, expr string) (json.RawMessage, error) {
	res, err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var v struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &v); err != nil {
		return nil, err
	}
	if v.ExceptionDetails != nil {
		return nil, errors.New("evaluate: " + v.ExceptionDetails.Text)
	}
	return v.Result.Value, nil
}

// Text returns the page's visible text (document.body.innerText).
func (p *Page) Text(ctx context.Context) (string, error) {
	raw, err := p.Eval(ctx, "document.body ? document.body.innerText : ''")
	if err != nil {
		return "", err
	}
	var s string
	err = json.Unmarshal(raw, &s)
	return s, err
}

// Screenshot returns a PNG of the whole page.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	res, err := p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	if err != nil {
		return nil, err
	}
	var v struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &v); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(v.Data)
}

// browserFavicon reports whether a network log entry is the browser's own
// request for the origin's favicon.
func browserFavicon(source, rawURL string) bool {
	u, err := url.Parse(rawURL)
	return source == "network" && err == nil && u.Path == "/favicon.ico"
}

// Errors returns the console errors, uncaught exceptions and error log
// entries (failed loads, refused content) seen so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Close detaches from the tab.
func (p *Page) Close() error { return p.ws.Close() }

// ArtifactDir is where tests write files worth keeping (screenshots):
// $VERDICT_ARTIFACTS when set, else verdict-artifacts-<uid> in the
// system's temporary directory; created if needed and, unlike
// t.TempDir, left in place after the test, so that the path a test logs
// can be opened afterwards.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("VERDICT_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), fmt.Sprintf("verdict-artifacts-%d", os.Getuid()))
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
