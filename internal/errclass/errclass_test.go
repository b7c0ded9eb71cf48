package errclass

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("Get \"http://x\": %w", err) }
	tests := []struct {
		err   error
		phase Phase
		want  string
	}{
		{nil, PhaseNone, ""},
		{wrap(context.Canceled), PhaseConnect, Canceled},
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}), PhaseDNS, DNSNXDomain},
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", IsTimeout: true}}), PhaseDNS, DNSTimeout},
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "server misbehaving"}}), PhaseDNS, DNSError},
		{wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), PhaseConnect, ConnectionRefused},
		{wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), PhaseNone, ConnectionReset},
		{wrap(&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}), PhaseNone, ConnectionReset},
		{wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), PhaseConnect, ConnectTimeout},
		{wrap(context.DeadlineExceeded), PhaseConnect, ConnectTimeout},
		{wrap(context.DeadlineExceeded), PhaseDNS, DNSTimeout},
		{wrap(timeoutErr{}), PhaseTLS, TLSHandshakeTimeout},
		{wrap(context.DeadlineExceeded), PhaseNone, Timeout},
		{wrap(x509.UnknownAuthorityError{}), PhaseTLS, TLSCertificate},
		{wrap(x509.HostnameError{}), PhaseTLS, TLSCertificate},
		{wrap(io.ErrUnexpectedEOF), PhaseNone, UnexpectedEOF},
		{wrap(io.EOF), PhaseNone, UnexpectedEOF},
		{errors.New("something else"), PhaseNone, Other},
	}
	for i, tt := range tests {
		if got := Classify(tt.err, tt.phase); got != tt.want {
			t.Errorf("%d: Classify(%v, %d) = %q, want %q", i, tt.err, tt.phase, got, tt.want)
		}
	}
}

func TestKindsAreClosed(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if k == "" || seen[k] {
			t.Errorf("kind %q empty or listed twice", k)
		}
		seen[k] = true
	}
	for _, err := range []error{context.Canceled, io.EOF, errors.New("x"), timeoutErr{}, &net.DNSError{}} {
		for _, ph := range []Phase{PhaseNone, PhaseDNS, PhaseConnect, PhaseTLS} {
			if k := Classify(err, ph); !seen[k] {
				t.Errorf("Classify(%v, %d) = %q, not in Kinds", err, ph, k)
			}
		}
	}
}
