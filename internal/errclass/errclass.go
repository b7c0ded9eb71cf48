// Package errclass maps errors to verdict's fixed error taxonomy, the values
// of the error.type attribute on client spans and metrics: HTTP and gRPC
// clients (middleware) and database calls (sqlxprobe) alike.
//
// The taxonomy is closed: every error maps to one of the kinds listed by
// [Kinds], or to Other when nothing more specific is known, so error.type
// stays a bounded attribute.
package errclass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// Kinds of failure. The strings are the error.type values.
const (
	DNSNXDomain         = "dns_nxdomain"          // the name does not exist
	DNSTimeout          = "dns_timeout"           // the resolver did not answer in time
	DNSError            = "dns_error"             // any other resolution failure
	ConnectionRefused   = "connection_refused"    // nothing listens on the port (RST to SYN)
	ConnectionReset     = "connection_reset"      // the peer reset an established connection
	ConnectTimeout      = "connect_timeout"       // the TCP handshake did not finish in time
	TLSHandshakeTimeout = "tls_handshake_timeout" // the TLS handshake did not finish in time
	TLSCertificate      = "tls_certificate"       // the peer's certificate was not accepted
	Timeout             = "timeout"               // a deadline passed after the connection was up
	Canceled            = "canceled"              // the caller canceled the context
	UnexpectedEOF       = "unexpected_eof"        // the peer closed the stream early
	// NestedConnection: a database operation took a second pooled
	// connection while its context carried an open transaction of the same
	// pool (sqlxprobe.ErrNestedConnection).
	NestedConnection = "nested_connection"
	Other            = "_OTHER" // none of the above (OTel's fallback value)
)

var kinds = []string{DNSNXDomain, DNSTimeout, DNSError, ConnectionRefused, ConnectionReset, ConnectTimeout,
	TLSHandshakeTimeout, TLSCertificate, Timeout, Canceled, UnexpectedEOF, NestedConnection, Other}

// Kinds returns every value of the taxonomy (a new slice each call).
func Kinds() []string { return append([]string(nil), kinds...) }

// Phase is where a request was when it failed. Timeouts are attributed to
// the phase that was running; the zero value means "after the connection was
// established" (or unknown).
type Phase uint8

// Phases that refine timeouts.
const (
	PhaseNone Phase = iota
	PhaseDNS
	PhaseConnect
	PhaseTLS
)

type timeouter interface{ Timeout() bool }

// Classify returns the taxonomy kind of err, or "" for a nil err. phase is
// the phase that was in progress when err happened, if known.
func Classify(err error, phase Phase) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return DNSNXDomain
		case dnsErr.IsTimeout:
			return DNSTimeout
		}
		return DNSError
	}
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invErr x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &uaErr) || errors.As(err, &hostErr) || errors.As(err, &invErr) {
		return TLSCertificate
	}
	var alert tls.AlertError
	if errors.As(err, &alert) && alert >= 42 && alert <= 46 { // bad/unsupported/revoked/expired/unknown certificate
		return TLSCertificate
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ConnectionRefused
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ConnectionReset
	}
	var te timeouter
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()) {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && phase != PhaseDNS {
			return ConnectTimeout
		}
		switch phase {
		case PhaseDNS:
			return DNSTimeout
		case PhaseConnect:
			return ConnectTimeout
		case PhaseTLS:
			return TLSHandshakeTimeout
		}
		return Timeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return UnexpectedEOF
	}
	return Other
}
