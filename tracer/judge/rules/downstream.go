package rules

import (
	"github.com/verdict-obs/verdict/tracer/judge"
)

// DownstreamRefused (downstream.refused) fires for a peer whose connection
// attempts are refused: HTTP client spans with error.type
// connection_refused, gRPC client spans UNAVAILABLE because the dial was
// refused. The subject is the peer's address.
type DownstreamRefused struct {
	// MinCount refused calls in the window fire; ClearCount hold.
	MinCount, ClearCount int
}

// NewDownstreamRefused returns downstream.refused with its defaults.
func NewDownstreamRefused() DownstreamRefused { return DownstreamRefused{MinCount: 3, ClearCount: 1} }

// ID returns "downstream.refused".
func (DownstreamRefused) ID() string { return IDDownstreamRefused }

// Evaluate implements judge.Rule.
func (r DownstreamRefused) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Peers {
		min := r.MinCount
		if st.Active(p.Address) {
			min = r.ClearCount
		}
		if p.Refused < max(min, 1) {
			continue
		}
		refusedRate := rate(p.Refused, s.Window)
		ev := []judge.Evidence{
			counted("peer.refused.rate", p.Refused, s.Window, rate(min, s.Window), judge.SourceSpans),
			measured("peer.error_ratio", p.ErrorRatio, 0, "1", judge.SourceSpans),
			measured("peer.calls.rate", p.Rate, 0, "/s", judge.SourceSpans),
		}
		var summary string
		if p.Protocol == "grpc" {
			summary = sprintf("gRPC Unavailable and %s refused connects/s to %s (%s of calls fail): the downstream refuses connections.",
				num(refusedRate), p.Address, pct(p.ErrorRatio.Value))
		} else {
			summary = sprintf("%s refused connects/s to %s (%s of calls fail): the downstream refuses connections.",
				num(refusedRate), p.Address, pct(p.ErrorRatio.Value))
		}
		action := sprintf("Check that %s is up and listening: its process, its readiness probe, and that the Service or configuration points at a listening port.", p.Address)
		sev := judge.SeverityWarning
		if p.ErrorRatio.Value >= 0.5 {
			sev = judge.SeverityCritical
		}
		out = append(out, judge.Finding{Subject: p.Address, Severity: sev, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.Exemplars)})
	}
	return out
}

// DownstreamSlow (downstream.slow) fires for a peer whose calls became
// several times slower than their baseline while waiting for the server's
// response dominates them (the HTTP server_wait phase; a gRPC call is
// waiting for the server as a whole). The subject is the peer's address.
// A peer this process listens on itself ([judge.Peer].Self) is its own
// handlers being slow: the verdict says so and names where its slow
// requests spend their time.
type DownstreamSlow struct {
	// MinCount calls in the window are needed.
	MinCount int
	// Ratio of the calls' P50 (or P99) over its baseline that fires,
	// RatioClear that holds; Floor is the least P50 increase that counts
	// (seconds) and P99Floor the least P99 that counts.
	Ratio, RatioClear, Floor, P99Floor float64
	// WaitShare is the least share of the calls' time spent waiting for
	// the server (HTTP).
	WaitShare float64
	// TailCount calls in the window before the P99 is judged, against
	// TailRatio × its baseline.
	TailCount int
	TailRatio float64
}

// NewDownstreamSlow returns downstream.slow with its defaults.
func NewDownstreamSlow() DownstreamSlow {
	return DownstreamSlow{MinCount: 5, Ratio: 3, RatioClear: 2, Floor: 0.02, P99Floor: 0.05, WaitShare: 0.5, TailCount: 200, TailRatio: 5}
}

// ID returns "downstream.slow".
func (DownstreamSlow) ID() string { return IDDownstreamSlow }

// Evaluate implements judge.Rule.
func (r DownstreamSlow) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Peers {
		if p.Count < r.MinCount || p.Count-p.Errors < r.MinCount {
			continue
		}
		active := st.Active(p.Address)
		ratio := judge.Threshold(active, r.Ratio, r.RatioClear)
		p50 := p.P50.Exceeds(ratio, 0, false) && p.P50.Value-p.P50.Baseline >= r.Floor
		// A P99 over few calls is their slowest one: a stall of this
		// process shows there too. Judge the tail only over many calls.
		p99 := p.Count >= r.TailCount && p.P99.Exceeds(judge.Threshold(active, r.TailRatio, r.RatioClear), r.P99Floor, false) &&
			p.P99.Value-p.P99.Baseline >= r.P99Floor
		if !p50 && !p99 {
			continue
		}
		hasPhases := p.ServerWaitShare.Value > 0 || p.Protocol == "http"
		if hasPhases && p.ServerWaitShare.Value < judge.Threshold(st.Active(p.Address), r.WaitShare, r.WaitShare*0.8) {
			continue
		}
		q, sig, m := "P50", "peer.duration.p50", p.P50
		if !p50 {
			q, sig, m = "P99", "peer.duration.p99", p.P99
		}
		ev := []judge.Evidence{measured(sig, m, m.Baseline*ratio, "s", judge.SourceSpans)}
		who := p.Address
		if p.Self {
			who += ", this process's own server,"
		}
		summary := sprintf("Calls to %s take %s at %s (baseline %s, %s)", who, dur(m.Value), q, dur(m.Baseline), times(m.Ratio(1e-6)))
		if hasPhases {
			ev = append(ev, measured("peer.server_wait.share", p.ServerWaitShare, r.WaitShare, "1", judge.SourceSpans))
			ev = append(ev, measured("peer.server_wait", p.ServerWait, 0, "s", judge.SourceSpans))
			summary += sprintf(", %s of it waiting for the server's response", pct(p.ServerWaitShare.Value))
		}
		ev = append(ev, measured("peer.calls.rate", p.Rate, 0, "/s", judge.SourceSpans))
		if p.Self {
			summary += ": this process's own handlers are slow, not the network."
		} else {
			summary += ": the downstream is slow."
		}
		action := sprintf("Look at %s's own latency and load (the exemplar traces continue there); meanwhile bound the calls with a client timeout so slow answers do not pile up requests here.", p.Address)
		if p.Self {
			// The downstream is this process (a gateway calling its own
			// server): its handlers' time is this process's, and the
			// other verdicts on it say why.
			action = "The calls are served by this process: its handlers for them are what to fix (the exemplar traces continue here, and this process's other verdicts name the cause"
			switch c := ownCause(s.Requests.Causes); c {
			case "":
			case "self":
				action += "; most of its slow requests spend their time in their own code"
			default:
				action += sprintf("; most of its slow requests spend their time in %s", c)
			}
			action += ")."
		}
		out = append(out, judge.Finding{Subject: p.Address, Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.Exemplars)})
	}
	return out
}

// DNSFailure (dns.failure) fires for a host whose name resolution fails
// (error.type dns_nxdomain, dns_timeout, dns_error on client spans) or
// became slow (the dns phase several times its baseline, above a floor).
type DNSFailure struct {
	// MinCount failures in the window fire, ClearCount hold.
	MinCount, ClearCount int
	// SlowFloor (seconds) and SlowRatio: the mean DNS phase that counts
	// as slow.
	SlowFloor, SlowRatio float64
}

// NewDNSFailure returns dns.failure with its defaults.
func NewDNSFailure() DNSFailure {
	return DNSFailure{MinCount: 3, ClearCount: 1, SlowFloor: 0.2, SlowRatio: 5}
}

// ID returns "dns.failure".
func (DNSFailure) ID() string { return IDDNSFailure }

// Evaluate implements judge.Rule.
func (r DNSFailure) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Peers {
		active := st.Active(p.Address)
		min := r.MinCount
		if active {
			min = r.ClearCount
		}
		failing := p.DNSFailures >= max(min, 1)
		slowFloor := judge.Threshold(active, r.SlowFloor, r.SlowFloor/2)
		slow := p.DNS.Exceeds(r.SlowRatio, slowFloor, true)
		if !failing && !slow {
			continue
		}
		var ev []judge.Evidence
		var summary string
		if failing {
			kind := p.TopErrorType
			if kind == "" {
				kind = "dns_error"
			}
			ev = append(ev, counted("peer.dns.failures.rate", p.DNSFailures, s.Window, rate(min, s.Window), judge.SourceSpans),
				measured("peer.error_ratio", p.ErrorRatio, 0, "1", judge.SourceSpans),
				judge.Evidence{Signal: "peer.error.type", Unit: "1", Source: judge.SourceSpans, Detail: kind})
			summary = sprintf("%s DNS failures/s resolving %s (%s, %s of calls): name resolution fails.",
				num(rate(p.DNSFailures, s.Window)), host(p.Address), kind, pct(p.ErrorRatio.Value))
		} else {
			ev = append(ev, measured("peer.dns.duration", p.DNS, slowFloor, "s", judge.SourceSpans))
			summary = sprintf("Resolving %s takes %s (baseline %s): name resolution is slow.", host(p.Address), dur(p.DNS.Value), dur(p.DNS.Baseline))
		}
		action := sprintf("Check the host name %s in the client's configuration and the resolver this host uses (/etc/resolv.conf, the cluster DNS); keep connections alive so fewer calls resolve.", host(p.Address))
		sev := judge.SeverityWarning
		if failing && p.ErrorRatio.Value >= 0.5 {
			sev = judge.SeverityCritical
		}
		out = append(out, judge.Finding{Subject: p.Address, Severity: sev, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.Exemplars)})
	}
	return out
}

// TLSFailure (tls.failure) fires for a peer whose TLS handshakes fail
// (error.type tls_certificate, tls_handshake_timeout) or became slow.
type TLSFailure struct {
	MinCount, ClearCount int
	SlowFloor, SlowRatio float64
}

// NewTLSFailure returns tls.failure with its defaults.
func NewTLSFailure() TLSFailure {
	return TLSFailure{MinCount: 3, ClearCount: 1, SlowFloor: 0.3, SlowRatio: 5}
}

// ID returns "tls.failure".
func (TLSFailure) ID() string { return IDTLSFailure }

// Evaluate implements judge.Rule.
func (r TLSFailure) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Peers {
		active := st.Active(p.Address)
		min := r.MinCount
		if active {
			min = r.ClearCount
		}
		failing := p.TLSFailures >= max(min, 1)
		slowFloor := judge.Threshold(active, r.SlowFloor, r.SlowFloor/2)
		slow := p.TLS.Exceeds(r.SlowRatio, slowFloor, true)
		if !failing && !slow {
			continue
		}
		var ev []judge.Evidence
		var summary, action string
		if failing {
			kind := p.TopErrorType
			ev = append(ev, counted("peer.tls.failures.rate", p.TLSFailures, s.Window, rate(min, s.Window), judge.SourceSpans),
				measured("peer.error_ratio", p.ErrorRatio, 0, "1", judge.SourceSpans),
				judge.Evidence{Signal: "peer.error.type", Unit: "1", Source: judge.SourceSpans, Detail: kind})
			summary = sprintf("%s TLS handshake failures/s with %s (%s, %s of calls): TLS fails.",
				num(rate(p.TLSFailures, s.Window)), p.Address, kind, pct(p.ErrorRatio.Value))
			action = sprintf("Check %s's certificate (expiry, the names it covers, the chain) against the client's trusted roots.", p.Address)
			if kind == "tls_handshake_timeout" {
				action = sprintf("%s does not complete handshakes in time: check it is a TLS port and not overloaded.", p.Address)
			}
		} else {
			ev = append(ev, measured("peer.tls.duration", p.TLS, slowFloor, "s", judge.SourceSpans))
			summary = sprintf("TLS handshakes with %s take %s (baseline %s): handshakes are slow.", p.Address, dur(p.TLS.Value), dur(p.TLS.Baseline))
			action = sprintf("Reuse connections to %s (keep-alive, a larger idle pool) and check its CPU; enable session resumption.", p.Address)
		}
		out = append(out, judge.Finding{Subject: p.Address, Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.Exemplars)})
	}
	return out
}

// host returns the host part of "host:port".
func host(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		switch addr[i] {
		case ':':
			if i > 0 && addr[0] == '[' {
				return addr[1 : i-1]
			}
			return addr[:i]
		case ']':
			return addr
		}
	}
	return addr
}

// ownCause returns the most frequent verdict.cause of the slow and failed
// requests that is not a wait on a server (the calls' own side): what a
// process's handlers spend their time in. Empty when none.
func ownCause(causes []judge.CauseCount) string {
	for _, c := range causes {
		switch c.Cause {
		case "http.client.server_wait", "http.client.request_write", "http.client.response_read", "rpc.client":
			continue
		}
		return c.Cause
	}
	return ""
}
