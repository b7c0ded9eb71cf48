package middleware

import (
	"context"
	"reflect"
	"slices"
	"unsafe"

	"google.golang.org/grpc/metadata"
)

// Outgoing gRPC metadata without metadata.AppendToOutgoingContext.
//
// gRPC keeps a call's outgoing metadata in the context as a value of the
// unexported type metadata.rawMD{md MD; added [][]string} under an
// unexported key, and reads it back with a type assertion to rawMD.
// AppendToOutgoingContext costs four allocations per call (the added slice,
// the copy of the pairs, the boxed rawMD and the context node). The client
// handler instead keeps a value with rawMD's layout, the pairs and the added
// slice in its per-RPC state, which is already the context gRPC sees, and
// answers the key with an interface value of type rawMD pointing at it: no
// allocation when the caller has added no metadata with
// AppendToOutgoingContext, one (the added slice) when it has.
//
// This depends on a private layout, so nothing is assumed: the key and the
// type are learnt once through the public API, the layout is checked field
// by field with reflect, and a value built this way must read back through
// metadata.FromOutgoingContext exactly. If any check fails, outgoingMD is
// nil and the handler uses AppendToOutgoingContext.
//
// gRPC treats outgoing metadata as read-only (metadata.NewOutgoingContext:
// "md must not be modified after calling"), and the client handler never
// changes the pairs once TagRPC has returned.

// rawMDLayout mirrors metadata.rawMD; checked against it at start-up.
type rawMDLayout struct {
	md    metadata.MD
	added [][]string
}

// eface is the layout of an empty interface value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

type outgoingMDInfo struct {
	key any            // metadata's outgoing context key
	typ unsafe.Pointer // type word of rawMD interface values
}

var outgoingMD = probeOutgoingMD()

func probeOutgoingMD() *outgoingMDInfo {
	p := &keyProbe{Context: context.Background()}
	metadata.FromOutgoingContext(p)
	if p.key == nil {
		return nil
	}
	v := metadata.AppendToOutgoingContext(context.Background(), "k", "v").Value(p.key)
	if !rawMDLayoutMatches(reflect.TypeOf(v)) {
		return nil
	}
	o := &outgoingMDInfo{key: p.key, typ: (*eface)(unsafe.Pointer(&v)).typ}
	// Reading a value gRPC built.
	if got := o.read(v); got == nil || got.md != nil || len(got.added) != 1 ||
		!slices.Equal(got.added[0], []string{"k", "v"}) {
		return nil
	}
	// A value built here reads back through the public API.
	r := &rawMDLayout{md: metadata.MD{"a": {"1"}}, added: [][]string{{"b", "2", "a", "3"}}}
	md, ok := metadata.FromOutgoingContext(&mdProbe{Context: context.Background(), key: o.key, val: o.box(r)})
	if !ok || len(md) != 2 || !slices.Equal(md["a"], []string{"1", "3"}) || !slices.Equal(md["b"], []string{"2"}) {
		return nil
	}
	return o
}

// rawMDLayoutMatches reports whether t is a struct laid out like
// rawMDLayout: the same field names, types, offsets and size.
func rawMDLayoutMatches(t reflect.Type) bool {
	want := reflect.TypeFor[rawMDLayout]()
	if t == nil || t.Kind() != reflect.Struct || t.NumField() != want.NumField() ||
		t.Size() != want.Size() || t.Align() != want.Align() {
		return false
	}
	for i := range want.NumField() {
		f, w := t.Field(i), want.Field(i)
		if f.Name != w.Name || f.Type != w.Type || f.Offset != w.Offset {
			return false
		}
	}
	return true
}

// box returns an interface value of type rawMD whose data is *r.
func (o *outgoingMDInfo) box(r *rawMDLayout) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = o.typ, unsafe.Pointer(r)
	return v
}

// read returns the rawMD inside v (the value of the outgoing key), or nil
// if v is not one.
func (o *outgoingMDInfo) read(v any) *rawMDLayout {
	e := (*eface)(unsafe.Pointer(&v))
	if e.typ != o.typ || e.data == nil {
		return nil
	}
	return (*rawMDLayout)(e.data)
}

type mdProbe struct {
	context.Context
	key, val any
}

func (p *mdProbe) Value(k any) any {
	if k == p.key {
		return p.val
	}
	return p.Context.Value(k)
}

// setOutgoing makes st answer the outgoing metadata key with the metadata
// of st.Context (the caller's) plus the pairs kv, which must be lowercase
// keys with their values and stay unchanged for the life of the RPC. It
// reports false (nothing changed) if the layout probe failed.
func (st *rpcState) setOutgoing(kv []string) bool {
	o := outgoingMD
	if o == nil {
		return false
	}
	st.raw = rawMDLayout{}
	if parent := o.read(st.Context.Value(o.key)); parent != nil {
		st.raw.md = parent.md
		if len(parent.added) > 0 {
			st.raw.added = make([][]string, len(parent.added)+1)
			copy(st.raw.added, parent.added)
			st.raw.added[len(parent.added)] = kv
		}
	}
	if st.raw.added == nil {
		st.added[0] = kv
		st.raw.added = st.added[:]
	}
	st.mdVal = o.box(&st.raw)
	return true
}
