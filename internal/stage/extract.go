package stage

import (
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// Span is what the tracer hands the stage for one ended span. The slices
// are read during End only.
type Span struct {
	SC         trace.SpanContext
	LocalRoot  bool // no parent, or a remote one
	Kind       trace.SpanKind
	Name       string
	Start, End time.Time
	Error      bool   // status Error
	StatusDesc string // status description (gRPC dial errors name the peer)
	Attrs      []attribute.KeyValue
	Extra      []attribute.KeyValue // added by span hooks (kernel, GC)
	Nested     bool                 // carries the nested-connection event
}

// Phases of an HTTP client span, in the order of semconv's phase names.
const (
	phDNS = iota
	phConnect
	phTLS
	phRequestWrite
	phServerWait
	phResponseRead
	numPhases
)

// features are the attributes the judge reads, extracted in one pass.
type features struct {
	method      string
	rpcMethod   string
	rpc         bool
	dbSystem    string
	fingerprint string
	summary     string
	dbOperation string
	poolName    string
	host        string
	port        int64
	status      int64
	grpcCode    int64
	errType     string
	wait        float64 // seconds
	hasWait     bool
	phase       [numPhases]float64
	hasPhase    [numPhases]bool
	kSyscall    float64
	kOffCPU     float64
	kRunq       float64
	gcPause     float64
}

// Attribute keys, as typed constants so the switch below compares strings
// without conversion.
const (
	kHTTPMethod   attribute.Key = semconv.AttrHTTPRequestMethod
	kHTTPStatus   attribute.Key = semconv.AttrHTTPResponseStatusCode
	kRPCMethod    attribute.Key = semconv.AttrRPCMethod
	kRPCSystem    attribute.Key = semconv.AttrRPCSystemName
	kRPCSystemOld attribute.Key = semconv.AttrRPCSystem
	kGRPCCode     attribute.Key = semconv.AttrRPCGRPCStatusCode
	kDBSystem     attribute.Key = semconv.AttrDBSystemName
	kDBQueryText  attribute.Key = semconv.AttrDBQueryText
	kDBSummary    attribute.Key = semconv.AttrDBQuerySummary
	kDBOperation  attribute.Key = semconv.AttrDBOperationName
	kDBPoolName   attribute.Key = semconv.AttrDBClientConnectionPoolName
	kDBWait       attribute.Key = semconv.AttrDBConnectionWaitTime
	kServerAddr   attribute.Key = semconv.AttrServerAddress
	kServerPort   attribute.Key = semconv.AttrServerPort
	kErrorType    attribute.Key = semconv.AttrErrorType
	kPhDNS        attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseDNS + ".duration"
	kPhConnect    attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseConnect + ".duration"
	kPhTLS        attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseTLS + ".duration"
	kPhWrite      attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseRequestWrite + ".duration"
	kPhWait       attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseServerWait + ".duration"
	kPhRead       attribute.Key = semconv.AttrHTTPClientPhasePrefix + semconv.PhaseResponseRead + ".duration"
	kKSyscall     attribute.Key = semconv.AttrKernelSyscallDuration
	kKOffCPU      attribute.Key = semconv.AttrKernelOffCPUDuration
	kKRunq        attribute.Key = semconv.AttrKernelRunqueueDuration
	kGCPause      attribute.Key = semconv.AttrGCPauseDuration
)

func (f *features) read(attrs []attribute.KeyValue) {
	for i := range attrs {
		a := &attrs[i]
		switch a.Key {
		case kHTTPMethod:
			f.method = a.Value.AsString()
		case kHTTPStatus:
			f.status = a.Value.AsInt64()
		case kRPCMethod:
			f.rpcMethod = a.Value.AsString()
		case kRPCSystem, kRPCSystemOld:
			f.rpc = true
		case kGRPCCode:
			f.grpcCode = a.Value.AsInt64()
		case kDBSystem:
			f.dbSystem = a.Value.AsString()
		case kDBQueryText:
			f.fingerprint = a.Value.AsString()
		case kDBSummary:
			f.summary = a.Value.AsString()
		case kDBOperation:
			f.dbOperation = a.Value.AsString()
		case kDBPoolName:
			f.poolName = a.Value.AsString()
		case kDBWait:
			f.wait, f.hasWait = a.Value.AsFloat64(), true
		case kServerAddr:
			f.host = a.Value.AsString()
		case kServerPort:
			f.port = a.Value.AsInt64()
		case kErrorType:
			f.errType = a.Value.AsString()
		case kPhDNS:
			f.phase[phDNS], f.hasPhase[phDNS] = a.Value.AsFloat64(), true
		case kPhConnect:
			f.phase[phConnect], f.hasPhase[phConnect] = a.Value.AsFloat64(), true
		case kPhTLS:
			f.phase[phTLS], f.hasPhase[phTLS] = a.Value.AsFloat64(), true
		case kPhWrite:
			f.phase[phRequestWrite], f.hasPhase[phRequestWrite] = a.Value.AsFloat64(), true
		case kPhWait:
			f.phase[phServerWait], f.hasPhase[phServerWait] = a.Value.AsFloat64(), true
		case kPhRead:
			f.phase[phResponseRead], f.hasPhase[phResponseRead] = a.Value.AsFloat64(), true
		case kKSyscall:
			f.kSyscall = a.Value.AsFloat64()
		case kKOffCPU:
			f.kOffCPU = a.Value.AsFloat64()
		case kKRunq:
			f.kRunq = a.Value.AsFloat64()
		case kGCPause:
			f.gcPause = a.Value.AsFloat64()
		}
	}
}

// Error classes of client spans (the error.type taxonomy of
// internal/errclass, gRPC codes, HTTP statuses).
func classify(errType string, status int64, grpcCode int64, desc string) (class int, refused bool) {
	switch errType {
	case "":
		if status >= 500 {
			return peerServerErr, false
		}
		return -1, false
	case "connection_refused":
		return peerRefused, true
	case "connection_reset", "unexpected_eof":
		return peerReset, false
	case "dns_nxdomain", "dns_timeout", "dns_error":
		return peerDNSFail, false
	case "tls_certificate", "tls_handshake_timeout":
		return peerTLSFail, false
	case "connect_timeout", "timeout", "DEADLINE_EXCEEDED":
		return peerTimeouts, false
	case "UNAVAILABLE":
		return peerUnavailable, strings.Contains(desc, "connection refused")
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return peerServerErr, false
	}
	if status >= 500 {
		return peerServerErr, false
	}
	return -1, false
}

// isTimeout reports whether a root's error was a deadline.
func isTimeout(errType string, status int64) bool {
	switch errType {
	case "timeout", "DEADLINE_EXCEEDED", "504", "deadline_exceeded", "connect_timeout":
		return true
	}
	return status == 504
}

// dialAddr returns the address of a gRPC dial error in desc ("... dial tcp
// 10.0.0.7:50051: connect: connection refused"), or "".
func dialAddr(desc string) string {
	const marker = "dial tcp "
	i := strings.Index(desc, marker)
	if i < 0 {
		return ""
	}
	rest := desc[i+len(marker):]
	j := strings.Index(rest, ": ")
	if j <= 0 {
		return ""
	}
	return rest[:j]
}

// service returns the service of a gRPC method "pkg.Service/Method".
func service(method string) string {
	if i := strings.LastIndexByte(method, '/'); i > 0 {
		return strings.TrimPrefix(method[:i], "/")
	}
	return method
}
