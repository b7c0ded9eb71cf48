package testutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// LayoutMatches checks that the struct types declared in file (a
// layout_other.go: the copy of bpf2go's generated types used where they do
// not build) have exactly the fields, names and types, of the generated
// types given by name. So the table logic tested there is the table logic
// that runs against the kernel.
func LayoutMatches(tb testing.TB, file string, generated map[string]reflect.Type) {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	copies := map[string]*ast.StructType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if st, ok := ts.Type.(*ast.StructType); ok {
				copies[ts.Name.Name] = st
			}
		}
		return true
	})
	for name, gen := range generated {
		st := copies[name]
		if st == nil {
			tb.Errorf("%s has no struct %s", file, name)
			continue
		}
		var got, want []string
		for _, fl := range st.Fields.List {
			for _, n := range fl.Names {
				got = append(got, n.Name+" "+exprString(fl.Type))
			}
		}
		for i := range gen.NumField() {
			fd := gen.Field(i)
			want = append(want, fd.Name+" "+fd.Type.String())
		}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			tb.Errorf("%s:\ncopy      %s\ngenerated %s", name, strings.Join(got, "; "), strings.Join(want, "; "))
		}
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.ArrayType:
		return "[" + exprString(e.Len) + "]" + exprString(e.Elt)
	case *ast.BasicLit:
		return strings.TrimFunc(e.Value, func(r rune) bool { return !unicode.IsDigit(r) })
	}
	return "?"
}
