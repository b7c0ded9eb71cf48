//go:build linux && (amd64 || arm64)

package sock

import (
	"reflect"
	"testing"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// The copy in layout_other.go has exactly the generated types' fields, so
// the table logic tested there is the table logic that runs here.
func TestLayoutMatchesGenerated(t *testing.T) {
	testutil.LayoutMatches(t, "layout_other.go", map[string]reflect.Type{
		"conn": reflect.TypeOf(sockConn{}), "gslot": reflect.TypeOf(sockGslot{}),
		"peer": reflect.TypeOf(sockPeer{}), "stats": reflect.TypeOf(sockStats{}),
	})
}
