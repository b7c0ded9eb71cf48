//go:build linux && (amd64 || arm64)

package bpf

import (
	"reflect"
	"testing"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// The copy in layout_other.go (used where bpf2go's output does not build)
// has exactly the generated types' fields, so the table logic tested there
// is the table logic that runs here.
func TestLayoutMatchesGenerated(t *testing.T) {
	testutil.LayoutMatches(t, "layout_other.go", map[string]reflect.Type{
		"slot": reflect.TypeOf(schedSlot{}), "stats": reflect.TypeOf(schedStats{}),
	})
}
