//go:build linux && (amd64 || arm64)

package sock

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/monoclock"
)

// Tracer owns the socket programs, their maps and the memory shared with
// them. All methods are safe for concurrent use; after Close they are
// no-ops (MarkConn and BeginGoroutine report false, Peers adds nothing).
type Tracer struct {
	*core
	objs  sockObjects
	links []link.Link
	mems  [][]byte

	closeOnce sync.Once
	closeErr  error
}

// Open runs the preflight checks ([bpf.Check]), loads the programs, attaches
// them to the BTF-enabled tracepoints sock_recv_length, sock_send_length,
// inet_sock_set_state, tcp_retransmit_skb, tcp_receive_reset,
// tcp_send_reset and tcp_destroy_sock, and calibrates: a goroutine of this process waits for
// data on a loopback connection, and the kernel must have attributed exactly
// its bytes, its wait and the connection to it. Every error wraps
// [bpf.ErrNotSupported] or [os.ErrPermission]; nothing stays loaded after an
// error.
func Open(opts *Options) (_ *Tracer, err error) {
	if p := bpf.Check(); p.Err != nil {
		return nil, p.Err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", asUnsupported(err))
	}
	if opts == nil {
		opts = &Options{}
	}
	spec, err := loadSock()
	if err != nil {
		return nil, fmt.Errorf("load sock spec: %w", asUnsupported(err))
	}
	nc, ng, np := size(opts.Conns, defaultConns), size(opts.Goroutines, defaultGoroutines), size(opts.Peers, defaultPeers)
	spec.Maps[sockMapConns].MaxEntries = uint32(nc)
	spec.Maps[sockMapGslots].MaxEntries = uint32(ng)
	spec.Maps[sockMapPeers].MaxEntries = uint32(np)

	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &ns); err != nil {
		return nil, fmt.Errorf("stat pid namespace: %w", asUnsupported(err))
	}
	vars := []struct {
		name  string
		value any
	}{
		{sockVarNsDev, uint64(ns.Dev)},
		{sockVarNsIno, ns.Ino},
		{sockVarNsTgid, uint32(os.Getpid())},
		{sockVarConnMask, uint32(nc - 1)},
		{sockVarGslotMask, uint32(ng - 1)},
		{sockVarPeerMask, uint32(np - 1)},
	}
	for _, v := range vars {
		if err := spec.Variables[v.name].Set(v.value); err != nil {
			return nil, fmt.Errorf("set %s: %w", v.name, asUnsupported(err))
		}
	}

	t := &Tracer{}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		return nil, fmt.Errorf("load sock programs: %w", asUnsupported(err))
	}
	mmap := func(m *ebpf.Map, n int, elem uintptr) (unsafe.Pointer, error) {
		b, err := unix.Mmap(m.FD(), 0, n*int(elem), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("mmap %s: %w", m, asUnsupported(err))
		}
		t.mems = append(t.mems, b)
		return unsafe.Pointer(&b[0]), nil
	}
	cp, err := mmap(t.objs.Conns, nc, unsafe.Sizeof(conn{}))
	if err != nil {
		return nil, err
	}
	gp, err := mmap(t.objs.Gslots, ng, unsafe.Sizeof(gslot{}))
	if err != nil {
		return nil, err
	}
	pp, err := mmap(t.objs.Peers, np, unsafe.Sizeof(peer{}))
	if err != nil {
		return nil, err
	}
	sp, err := mmap(t.objs.StatsMap, 1, unsafe.Sizeof(stats{}))
	if err != nil {
		return nil, err
	}
	mono, at, err := clockBase()
	if err != nil {
		return nil, err
	}
	t.core = newCore(unsafe.Slice((*conn)(cp), nc), unsafe.Slice((*gslot)(gp), ng),
		unsafe.Slice((*peer)(pp), np), (*stats)(sp), mono, at)

	for _, a := range []struct {
		tp   string
		prog *ebpf.Program
	}{
		{"inet_sock_set_state", t.objs.TcpState},
		{"tcp_retransmit_skb", t.objs.TcpRetransmit},
		{"tcp_receive_reset", t.objs.TcpRstRx},
		{"tcp_send_reset", t.objs.TcpRstTx},
		{"tcp_destroy_sock", t.objs.TcpDestroy},
		{"sock_recv_length", t.objs.SockRecv},
		{"sock_send_length", t.objs.SockSend},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: a.prog})
		if err != nil {
			return nil, fmt.Errorf("attach tracepoint %s: %w", a.tp, asUnsupported(err))
		}
		t.links = append(t.links, l)
	}
	if err := t.calibrate(); err != nil {
		return nil, err
	}
	t.forgetPeers()
	return t, nil
}

// clockBase pairs a reading of CLOCK_MONOTONIC (the kernel programs' clock)
// with a time.Time, so that time.Time values convert to it through their
// monotonic readings (see bpf/monoclock).
func clockBase() (uint64, time.Time, error) {
	mono, at, _, err := monoclock.Bridge()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read the monotonic clock: %w", asUnsupported(err))
	}
	return uint64(mono), at, nil
}

// calibrationBytes is what calibration sends over its loopback connection.
const calibrationBytes = 1000

// calibrate checks on a loopback connection that the kernel attributes a
// goroutine's socket calls to it and finds the connection by its addresses.
// A loaded machine may let the data arrive before the reader asks (then
// nothing waits), so a round without a wait is tried again, with a longer
// delay.
func (t *Tracer) calibrate() error {
	var err error
	for _, delay := range []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		var waited bool
		if waited, err = t.calibrateOnce(delay); err != nil || waited {
			return err
		}
	}
	return fmt.Errorf("calibration: no read on the loopback connection ever waited for data: %w", bpf.ErrNotSupported)
}

// calibrateOnce: a thread-locked, published goroutine reads from a loopback
// connection before anything was sent, the other end sends
// calibrationBytes after delay, and the kernel must have given exactly those
// bytes to the goroutine and to the connection, with a read wait no longer
// than the read took. waited is false when the read did not wait at all.
func (t *Tracer) calibrateOnce(delay time.Duration) (waited bool, err error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return false, fmt.Errorf("calibration: listen on loopback: %w", asUnsupported(err))
	}
	defer ln.Close()
	type result struct {
		u, conn    Usage
		ok, marked bool
		took       time.Duration
		err        error
	}
	reading := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		defer func() { done <- r }()
		c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			r.err = err
			close(reading)
			return
		}
		defer c.Close()
		cm, marked := t.MarkConn(Conn(c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()), time.Time{}, time.Time{})
		m, ok := t.BeginGoroutine(time.Time{})
		buf := make([]byte, calibrationBytes)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		close(reading)
		t0 := time.Now()
		_, r.err = io.ReadFull(c, buf)
		r.took = time.Since(t0)
		r.u, r.ok = t.EndGoroutine(&m)
		r.ok = r.ok && ok
		if marked {
			r.conn, r.marked = t.ConnSince(&cm)
		}
	}()
	s, err := ln.AcceptTCP()
	if err != nil {
		return false, fmt.Errorf("calibration: accept: %w", asUnsupported(err))
	}
	defer s.Close()
	<-reading
	time.Sleep(delay)
	if _, err := s.Write(make([]byte, calibrationBytes)); err != nil {
		return false, fmt.Errorf("calibration: write: %w", asUnsupported(err))
	}
	r := <-done
	switch {
	case r.err != nil:
		return false, fmt.Errorf("calibration: read: %w", asUnsupported(r.err))
	case !r.ok:
		return false, fmt.Errorf("calibration: goroutine not published: %w", bpf.ErrNotSupported)
	case r.u.BytesRead != calibrationBytes:
		return false, fmt.Errorf("calibration: the kernel attributed %d of %d bytes read to the reading goroutine: %w",
			r.u.BytesRead, calibrationBytes, bpf.ErrNotSupported)
	case r.u.ReadWait > r.took:
		return false, fmt.Errorf("calibration: the kernel attributed a read wait of %v to a read that took %v: %w",
			r.u.ReadWait, r.took, bpf.ErrNotSupported)
	case !r.marked:
		return false, fmt.Errorf("calibration: the connection was not found by its addresses: %w", bpf.ErrNotSupported)
	case r.conn.BytesRead != calibrationBytes || r.conn.ReadWait != r.u.ReadWait:
		return false, fmt.Errorf("calibration: the connection got %d bytes and a read wait of %v, the goroutine %d and %v: %w",
			r.conn.BytesRead, r.conn.ReadWait, r.u.BytesRead, r.u.ReadWait, bpf.ErrNotSupported)
	}
	return r.u.ReadWait > 0, nil
}

// asUnsupported wraps err with bpf.ErrNotSupported unless it is a permission
// problem.
func asUnsupported(err error) error {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, bpf.ErrNotSupported) {
		return err
	}
	return fmt.Errorf("%w: %w", bpf.ErrNotSupported, err)
}

// Close detaches the programs and releases every link, map and mapping. It
// waits for calls in progress; later calls are no-ops. Idempotent.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		if t.core != nil {
			t.core.close()
		}
		var errs []error
		for _, l := range t.links {
			errs = append(errs, l.Close())
		}
		for _, b := range t.mems {
			errs = append(errs, unix.Munmap(b))
		}
		errs = append(errs, t.objs.Close())
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
