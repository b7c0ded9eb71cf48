package sock_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/verdict-obs/verdict/bpf/sock"
)

// What a connection did during a window: the client reads before the
// server answers, so its read waits.
func ExampleTracer_MarkConn() {
	tr, err := sock.Open(nil)
	if err != nil {
		fmt.Println("socket tracing off:", err)
		return
	}
	defer tr.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		s, _ := ln.Accept()
		time.Sleep(10 * time.Millisecond)
		s.Write([]byte("hello"))
		s.Close()
	}()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	id := sock.Conn(c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort())
	m, ok := tr.MarkConn(id, time.Time{}, time.Time{})
	if !ok {
		return
	}
	io.ReadAll(c)
	u, _ := tr.ConnSince(&m)
	fmt.Printf("read %d bytes after waiting %v\n", u.BytesRead, u.ReadWait.Round(time.Millisecond))
}
