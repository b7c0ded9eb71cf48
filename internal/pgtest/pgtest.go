// Package pgtest starts a throw-away PostgreSQL 15 server on 127.0.0.1 for
// tests, from the initdb and pg_ctl binaries of the machine image
// (/usr/lib/postgresql/15/bin). As root it runs them as the unprivileged
// "postgres" user (PostgreSQL refuses to run as root).
//
// Tests call [Require]: it skips when the binaries are missing, except
// under CI=true, where a missing server is a failure.
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// BinDir is where the PostgreSQL binaries are looked up; PGTEST_BINDIR
// overrides it.
var BinDir = "/usr/lib/postgresql/15/bin"

// ErrNoPostgres means the binaries are not installed here.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL binaries not found")

// Server is a running PostgreSQL server.
type Server struct {
	Dir  string // data, socket and log live under it
	Host string // always 127.0.0.1
	Port int
	DSN  string // URL DSN for the "postgres" superuser, database "postgres", no TLS

	asUser  bool // run the binaries as uid/gid (we are root)
	uid     int
	gid     int
	bin     string
	logPath string
	opts    string // the server options of pg_ctl start
	once    sync.Once
	stopErr error
}

// Start initialises a cluster in a new temporary directory and starts it
// with log_statement=all. Stop it with [Server.Stop].
func Start() (*Server, error) {
	bin := BinDir
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		bin = d
	}
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNoPostgres, filepath.Join(bin, b))
		}
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &Server{Dir: dir, Host: "127.0.0.1", bin: bin, logPath: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs an unprivileged user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.asUser, s.uid, s.gid = true, uid, gid
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chown temp dir: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c log_statement=all -c fsync=off -c full_page_writes=off -c max_connections=50", port, dir)
		out, err := s.run("pg_ctl", "-D", data, "-l", s.logPath, "-o", opts, "-w", "-t", "60", "start")
		if err == nil {
			s.Port, s.opts = port, opts
			s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return s, nil
		}
		lastErr = fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, s.Log())
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if s.asUser {
		if err := runAs(cmd, s.uid, s.gid); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "HOME="+s.Dir)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return out.Bytes(), errors.New("timed out")
	}
}

// Log returns the server log so far (every statement, as log_statement=all).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Halt stops the server immediately (as a crash would: no shutdown
// checkpoint, clients cut off) and keeps its data; [Server.Resume] starts
// it again on the same port.
func (s *Server) Halt() error {
	if out, err := s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Resume starts a halted server again on the same port (crash recovery
// replays the log first).
func (s *Server) Resume() error {
	if out, err := s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-l", s.logPath, "-o", s.opts, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, s.Log())
	}
	return nil
}

// Stop stops the server immediately and removes its directory. It is
// idempotent.
func (s *Server) Stop() error {
	s.once.Do(func() {
		if _, err := os.Stat(filepath.Join(s.Dir, "data", "postmaster.pid")); err == nil { // not halted
			out, err := s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "immediate", "-w", "stop")
			if err != nil {
				s.stopErr = fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil && s.stopErr == nil {
			s.stopErr = err
		}
	})
	return s.stopErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	shared    *Server
	sharedErr error
	sharedMu  sync.Mutex
)

// Shared returns a server shared by the tests of one package, started on
// first use. Call [StopShared] from TestMain after m.Run.
func Shared() (*Server, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = Start()
	}
	return shared, sharedErr
}

// StopShared stops the shared server, if one was started.
func StopShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		return nil
	}
	return shared.Stop()
}

// Require returns the shared server. Without the binaries it skips the
// test, or fails it under CI=true; any other start failure fails it.
func Require(t testing.TB) *Server {
	t.Helper()
	s, err := Shared()
	if err != nil {
		if errors.Is(err, ErrNoPostgres) && !testutil.CI() {
			t.Skipf("no PostgreSQL here: %v", err)
		}
		t.Fatalf("start PostgreSQL: %v", err)
	}
	return s
}
