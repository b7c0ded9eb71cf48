package jaegertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Trace is one trace as Jaeger returns it: its spans in no particular
// order.
type Trace struct {
	ID    string
	Spans []Span
}

// Span is a span read back from Jaeger, in OTLP terms.
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root span
	Name         string
	Kind         string // "SERVER", "CLIENT", "INTERNAL", "PRODUCER", "CONSUMER", "UNSPECIFIED"
	StatusCode   string // "UNSET", "OK", "ERROR"
	StatusMsg    string
	Start, End   time.Time
	Attributes   map[string]any // string, int64, float64, bool, []any
	Resource     map[string]any
	ScopeName    string
	ScopeVersion string
	Events       []string // event names
}

// Duration is End - Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Attr returns the span attribute key, or nil.
func (s Span) Attr(key string) any { return s.Attributes[key] }

// Roots returns the spans of t without a parent.
func (t Trace) Roots() []Span {
	var out []Span
	for _, s := range t.Spans {
		if s.ParentSpanID == "" {
			out = append(out, s)
		}
	}
	return out
}

// Children returns the spans of t whose parent is id, ordered by start.
func (t Trace) Children(id string) []Span {
	var out []Span
	for _, s := range t.Spans {
		if s.ParentSpanID == id {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// The OTLP JSON encoding (ptrace.JSONMarshaler): hex IDs, enums as
// integers, int64 as strings, nanosecond times as strings.
type tracesData struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []keyValue `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"scope"`
			Spans []struct {
				TraceID      string          `json:"traceId"`
				SpanID       string          `json:"spanId"`
				ParentSpanID string          `json:"parentSpanId"`
				Name         string          `json:"name"`
				Kind         json.RawMessage `json:"kind"`
				Start        flexInt         `json:"startTimeUnixNano"`
				End          flexInt         `json:"endTimeUnixNano"`
				Attributes   []keyValue      `json:"attributes"`
				Events       []struct {
					Name string `json:"name"`
				} `json:"events"`
				Status struct {
					Code    json.RawMessage `json:"code"`
					Message string          `json:"message"`
				} `json:"status"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *flexInt `json:"intValue"`
	DoubleValue *float64 `json:"doubleValue"`
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
}

func (v anyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		return int64(*v.IntValue)
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, e := range v.ArrayValue.Values {
			out = append(out, e.value())
		}
		return out
	}
	return nil
}

// flexInt is an int64 encoded as a JSON number or string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("integer %q: %w", b, err)
	}
	*f = flexInt(n)
	return nil
}

var (
	kinds    = []string{"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}
	statuses = []string{"UNSET", "OK", "ERROR"}
)

// enum decodes an OTLP enum given as an integer or as its proto name
// (prefix + name).
func enum(raw json.RawMessage, names []string, prefix string) (string, error) {
	if len(raw) == 0 {
		return names[0], nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 0 || n >= len(names) {
			return "", fmt.Errorf("enum value %d out of range", n)
		}
		return names[n], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("enum %s: %w", raw, err)
	}
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		s = s[len(prefix):]
	}
	return s, nil
}

func attrs(kvs []keyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.value()
	}
	return m
}

// traces groups the spans by trace ID, in order of first appearance.
func (td tracesData) traces() ([]Trace, error) {
	var out []Trace
	index := map[string]int{}
	for _, rs := range td.ResourceSpans {
		res := attrs(rs.Resource.Attributes)
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				kind, err := enum(sp.Kind, kinds, "SPAN_KIND_")
				if err != nil {
					return nil, fmt.Errorf("span %s kind: %w", sp.SpanID, err)
				}
				status, err := enum(sp.Status.Code, statuses, "STATUS_CODE_")
				if err != nil {
					return nil, fmt.Errorf("span %s status: %w", sp.SpanID, err)
				}
				s := Span{
					TraceID: sp.TraceID, SpanID: sp.SpanID, ParentSpanID: sp.ParentSpanID,
					Name: sp.Name, Kind: kind, StatusCode: status, StatusMsg: sp.Status.Message,
					Start: time.Unix(0, int64(sp.Start)), End: time.Unix(0, int64(sp.End)),
					Attributes: attrs(sp.Attributes), Resource: res,
					ScopeName: ss.Scope.Name, ScopeVersion: ss.Scope.Version,
				}
				for _, e := range sp.Events {
					s.Events = append(s.Events, e.Name)
				}
				i, ok := index[s.TraceID]
				if !ok {
					i = len(out)
					index[s.TraceID] = i
					out = append(out, Trace{ID: s.TraceID})
				}
				out[i].Spans = append(out[i].Spans, s)
			}
		}
	}
	return out, nil
}
