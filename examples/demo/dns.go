package main

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is the DNS server the front end asks for the pricing
// service's name: a real one, on loopback UDP. It answers every A query
// with 127.0.0.1 until the DNS fault sets failing; then it answers
// NXDOMAIN, as a resolver does when a record was deleted.
type dnsServer struct {
	addr    string
	failing atomic.Bool
	pc      net.PacketConn
	done    chan struct{}
}

func startDNS() (*dnsServer, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &dnsServer{addr: pc.LocalAddr().String(), pc: pc, done: make(chan struct{})}
	go d.serve()
	return d, nil
}

func (d *dnsServer) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if msg, ok := d.answer(buf[:n]); ok {
			_, _ = d.pc.WriteTo(msg, from)
		}
	}
}

// answer builds the response to one query.
func (d *dnsServer) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	rcode := dnsmessage.RCodeSuccess
	if d.failing.Load() {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	_ = b.StartQuestions()
	_ = b.Question(q)
	if rcode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
		_ = b.StartAnswers()
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1},
			dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
	}
	msg, err := b.Finish()
	return msg, err == nil
}

// dialer returns a dialer whose resolver asks only this server.
func (d *dnsServer) dialer() *net.Dialer {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.addr)
	}}
	return &net.Dialer{Resolver: r, Timeout: 2 * time.Second}
}

func (d *dnsServer) close() {
	d.pc.Close()
	<-d.done
}
