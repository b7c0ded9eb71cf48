package probes

import "time"

// SocketStats is the socket side of one kind of span (the server or client
// spans of the probes nethttp and grpc, the calls of probe sql), summed over
// the spans that ended since the probe started, with rates over the
// snapshot's window. It is a value: a probe never modifies one it handed
// out.
//
// Socket figures come from the kernel (eBPF); a span whose figures could
// not be measured counts in Unmeasured only (its verdict.unmeasured
// attribute says why). With eBPF off every span is unmeasured.
type SocketStats struct {
	// Spans is the number of spans with socket figures.
	Spans uint64
	// Unmeasured is the number of spans without.
	Unmeasured uint64
	// Shared is the number of measured spans whose connection other spans
	// used at the same time (HTTP/2, gRPC): their figures are the
	// connection's, counted once per span.
	Shared uint64

	// ReadWait and WriteWait are the time the spans' sockets waited for
	// data to read and for room to write; Self is the rest of the spans'
	// time (less a database call's pool wait).
	ReadWait, WriteWait, Self time.Duration
	// BytesRead and BytesWritten are the bytes the spans' sockets moved.
	BytesRead, BytesWritten uint64
	// Retransmits and Resets are the TCP retransmissions and resets on the
	// spans' connections during the spans.
	Retransmits, Resets uint64

	// Rates over the snapshot's window, per second of wall-clock time.
	SpanRate, UnmeasuredRate float64
	// WaitRate is the socket wait (read and write) per second: how many
	// spans were blocked on the network on average.
	WaitRate float64
	// WaitFraction is the share of the measured spans' time spent blocked
	// on their sockets in the window, in [0, 1] (0 when none ended).
	WaitFraction                    float64
	RetransmitRate, ResetRate       float64
	BytesReadRate, BytesWrittenRate float64
}
