package drain

import (
	"flag"
	"testing"

	"github.com/drainhttp/drain/internal/apicheck"
)

var updateAPI = flag.Bool("update-api", false, "rewrite testdata/exported.txt")

// TestExportedNames keeps the exported surface a deliberate choice: every
// new exported name must be added to testdata/exported.txt.
func TestExportedNames(t *testing.T) {
	apicheck.Check(t, "testdata/exported.txt", *updateAPI)
}
